"""A real JupyterHub for end-to-end tests: the Hub, configurable-http-proxy, and a browser's side.

Rules:
- Everything runs on loopback, on free ports, in one temporary directory: the Hub's database,
  cookie secret, the proxy's pid file and every user's home. No system user is needed (the
  shared-password authenticator, the dummy one on JupyterHub 4, and SimpleLocalProcessSpawner).
- configurable-http-proxy comes from npm, where scripts/setup.sh installs it
  (``$JSP_CHP_PREFIX``, by default ``.cache/chp`` in the repository).
- Every process is stopped by its PID: ``Hub.stop`` notes the Hub's descendants (the proxy,
  single-user servers and the apps they started, each in a session of its own), stops the Hub,
  which stops its servers and proxy, and then ends whichever of the noted PIDs is still alive.
- Single-user servers get this test run's mark and TMPDIR (tests/conftest.py), so the
  session-end leak check sees what they start.
- Waits are bounded polls on a condition.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import jupyterhub

from tests.conftest import HERE, alive, free_port, wait_until

REPO = HERE.parent
BIN = Path(sys.executable).parent
ECHO = [sys.executable, str(HERE / "backends" / "echo.py"), "--port", "{port}"]
PASSWORD = "shared-" + secrets.token_hex(8)
#: The named server that runs jupyter-standaloneproxy instead of jupyterhub-singleuser.
STANDALONE_SERVER = "standalone"
#: Bounded wait for a spawn, a redirect chain or a report that happens in the background.
WAIT = 60.0
JUPYTERHUB_MAJOR = int(jupyterhub.__version__.split(".")[0])


def chp_command() -> Path:
    """configurable-http-proxy as scripts/setup.sh installs it."""
    prefix = REPO / os.environ.get("JSP_CHP_PREFIX", ".cache/chp")  # relative to the repository
    path = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if not path.exists():
        raise RuntimeError(
            f"{path} is missing: scripts/setup.sh installs configurable-http-proxy there "
            f"(npm install --prefix {prefix} configurable-http-proxy)"
        )
    return path.resolve()


def _config(root: Path, ports: dict[str, int], admin_token: str) -> str:
    """jupyterhub_config.py: values are written with json.dumps, which is valid Python for
    the strings, lists and dicts used here."""
    user_config = root / "user-jupyter-config"
    user_config.mkdir()
    (user_config / "jupyter_server_config.py").write_text(
        f"c.ServerProxy.servers = {{'echoapp': {{'command': {json.dumps(ECHO)}}}}}\n"
    )
    env = {
        # What this test run marks its processes and temporary directories with.
        "JSP_TEST_RUN": os.environ["JSP_TEST_RUN"],
        "TMPDIR": os.environ["TMPDIR"],
        "JUPYTER_CONFIG_DIR": str(user_config),
        "JUPYTER_PLATFORM_DIRS": "1",
        # Reports every second, so a test sees its traffic reach the Hub in a bounded poll.
        "JUPYTERHUB_ACTIVITY_INTERVAL": "1",
    }
    # Under coverage (scripts/test.sh), the servers the Hub spawns are measured too: the Hub
    # hands a spawned server only the variables it names (PYTHONPATH, which brings the test
    # run's sitecustomize, is among its defaults).
    if "COVERAGE_PROCESS_CONFIG" in os.environ:
        env["COVERAGE_PROCESS_CONFIG"] = os.environ["COVERAGE_PROCESS_CONFIG"]
    standalone = [str(BIN / "jupyter-standaloneproxy"), "--activity-interval", "1", "--", *ECHO]
    if JUPYTERHUB_MAJOR >= 5:
        auth = (
            'c.JupyterHub.authenticator_class = "shared-password"\n'
            f"c.SharedPasswordAuthenticator.user_password = {json.dumps(PASSWORD)}\n"
            "c.Authenticator.allow_all = True\n"
        )
    else:  # shared-password and allow_all came with JupyterHub 5; 4.x lets everyone in
        auth = (
            'c.JupyterHub.authenticator_class = "dummy"\n'
            f"c.DummyAuthenticator.password = {json.dumps(PASSWORD)}\n"
        )
    return f"""\
c.JupyterHub.bind_url = "http://127.0.0.1:{ports["public"]}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{ports["hub"]}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
c.ConfigurableHTTPProxy.command = [{json.dumps(str(chp_command()))}]
c.JupyterHub.db_url = "sqlite:///{root / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = "{root / "jupyterhub_cookie_secret"}"
c.ConfigurableHTTPProxy.pid_file = "{root / "proxy.pid"}"
{auth}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root / "home" / "{username}"}"
c.Spawner.cmd = [{json.dumps(str(BIN / "jupyterhub-singleuser"))}]
c.Spawner.args = ["--allow-root"]
c.Spawner.environment = {json.dumps(env)}
c.Spawner.start_timeout = {int(WAIT)}
c.Spawner.http_timeout = {int(WAIT)}
c.JupyterHub.allow_named_servers = True
# Only the single-user servers' own reports move last_activity, not the proxy's traffic records.
c.JupyterHub.last_activity_interval = 0
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {json.dumps(admin_token)}}}]
c.JupyterHub.load_roles = [
    {{
        "name": "test-admin",
        "scopes": ["admin:users", "admin:servers", "tokens"],
        "services": ["test-admin"],
    }}
]

def _pre_spawn(spawner):
    # Spawner.args would be appended after the wrapped command, so they are cleared here.
    if spawner.name == {json.dumps(STANDALONE_SERVER)}:
        spawner.cmd = {json.dumps(standalone)}
        spawner.args = []

c.Spawner.pre_spawn_hook = _pre_spawn
"""


def _children() -> dict[int, list[int]]:
    """Parent PID -> child PIDs, for every process."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def end_process(pid: int, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds, for a process that need not be our child."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        try:
            wait_until(lambda: not alive(pid), f"process {pid} to exit", timeout=grace)
            return
        except TimeoutError:
            continue


@dataclass
class Hub:
    root: Path
    ports: dict[str, int] = field(
        default_factory=lambda: {k: free_port() for k in ("public", "hub", "proxy_api")}
    )
    admin_token: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.ports['public']}"

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports['public']}/{path.lstrip('/')}"

    def log(self) -> str:
        return (self.root / "hub.log").read_text(errors="replace")

    def start(self) -> Hub:
        config = self.root / "jupyterhub_config.py"
        config.write_text(_config(self.root, self.ports, self.admin_token))
        with open(self.root / "hub.log", "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                start_new_session=True,
            )
        wait_until(self._ready, "JupyterHub behind its proxy", timeout=WAIT)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyterhub exited:\n{self.log()}")
        try:
            return self.api("GET", "") is not None
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def api(self, method: str, path: str, body: object = None) -> Any:
        """Call the Hub's REST API (through the proxy) with the admin service's token."""
        req = urllib.request.Request(
            self.url(f"hub/api/{path}"),
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.admin_token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
        return json.loads(data) if data else {}

    def server(self, user: str, name: str = "") -> dict[str, Any] | None:
        servers: dict[str, Any] = self.api("GET", f"users/{user}")["servers"]
        return servers.get(name)

    def spawn(self, user: str, name: str = "") -> None:
        """Start a user's server through the REST API and wait until the Hub says it is ready."""
        suffix = f"servers/{name}" if name else "server"
        self.api("POST", f"users/{user}/{suffix}")

        def ready() -> bool:
            server = self.server(user, name)
            return bool(server and server["ready"])

        wait_until(ready, f"{user}'s server {name!r}", timeout=WAIT, interval=0.2)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        noted = descendants(self.proc.pid)
        # The Hub stops its servers and its proxy on SIGTERM (cleanup_servers, cleanup_proxy).
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(WAIT)
        for pid in noted:
            end_process(pid)


_XSRF_INPUT = re.compile(r'name="_xsrf"\s+value="([^"]+)"')
_STARTING_PAGE = re.compile(r'<body data-start="([^"]+)" data-xsrf="([^"]*)">')


class Browser:
    """One user's browser: a cookie jar (IP hosts allowed), the headers Chrome sends, and the
    login form filled in as a person would."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self) -> None:
        await self.session.close()

    async def login(self, user: str) -> None:
        async with self.session.get(self.hub.url("hub/login")) as r:
            page = await r.text()
        match = _XSRF_INPUT.search(page)
        assert match, f"no _xsrf field in the login form:\n{page}"
        form = {"username": user, "password": PASSWORD, "_xsrf": html.unescape(match.group(1))}
        async with self.session.post(
            self.hub.url("hub/login"),
            data=form,
            headers={"Origin": self.hub.origin, "Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        ) as r:
            assert r.status == 302, f"login as {user}: {r.status}\n{await r.text()}"

    async def get(self, path: str) -> tuple[int, str, str]:
        """A page load: redirects followed (the OAuth round trip through the Hub); gives the
        final status, URL and body."""
        headers = {
            "Accept": "text/html,application/json",
            "Sec-Fetch-Site": "none",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
        }
        async with self.session.get(self.hub.url(path), headers=headers, max_redirects=20) as r:
            status, url, body = r.status, str(r.url), await r.text()
        starting = _STARTING_PAGE.search(body) if status == 202 else None
        if starting:  # the "Starting…" page: do what its script does, then reload
            await self._start_app(*map(html.unescape, starting.groups()))
            async with self.session.get(url, headers=headers, max_redirects=20) as r:
                status, url, body = r.status, str(r.url), await r.text()
        return status, url, body

    async def _start_app(self, start_url: str, xsrf: str) -> None:
        headers = {
            "X-XSRFToken": xsrf,
            "Accept": "application/json",
            "Origin": self.hub.origin,
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Dest": "empty",
        }
        async with self.session.post(self.hub.url(start_url), headers=headers) as r:
            assert r.status == 200, f"starting page's POST {start_url}: {r.status} {await r.text()}"

    def websocket(self, path: str) -> Any:
        """A websocket as a page of the Hub's origin opens it."""
        return self.session.ws_connect(
            self.hub.url(path, "ws"),
            headers={
                "Origin": self.hub.origin,
                "Sec-Fetch-Site": "same-origin",
                "Sec-Fetch-Mode": "websocket",
                "Sec-Fetch-Dest": "empty",
            },
        )


def hub_time(text: str) -> float:
    """A Hub timestamp (ISO 8601 in UTC, ending in ``Z``) as seconds since the epoch."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

"""``jupyter-standaloneproxy``: the console script as JupyterHub runs it, one app behind it.

Every test starts the real console script as a subprocess with a real backend app
(``tests/backends/echo.py``), talks to it over loopback with real HTTP and websocket clients, and
stops it. The JupyterHub side is either absent (``--skip-authentication``), a set of variables
pointing at a port nobody listens on, or a small fake Hub API (stdlib ``http.server``) that
answers "who owns this token" and takes activity reports. Waits are bounded polls for a
condition, never sleeps standing in for one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.conftest import (
    HERE,
    _connects,
    alive,
    free_port,
    live_processes,
    run,
    stop_process,
    wait_until,
)
from tests.integration.test_websocket_handshake import (
    browser_upgrade,
    browser_websocket,
    read_response,
)

SCRIPT = Path(sys.executable).parent / "jupyter-standaloneproxy"
ECHO = [sys.executable, str(HERE / "backends" / "echo.py"), "--port", "{port}"]
PREFIX = "/user/alice/"
#: Bounded wait for anything that happens in the background (activity reports, log lines).
WAIT = 30.0


@dataclass
class Standalone:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def url(self, path: str = "", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def hub_free_env(**extra: str) -> dict[str, str]:
    """This process's environment without any JupyterHub variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    env.update(extra)
    return env


def launch(log_path: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: pip install -e . installs the console script")
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [str(SCRIPT), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Callable[..., Standalone]]:
    started: list[Standalone] = []

    def start(
        *options: str,
        command: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        pass_port: bool = True,
    ) -> Standalone:
        port = port or free_port()
        log_path = tmp_path / f"standalone-{len(started)}.log"
        args = [*options, "--", *(command or ECHO)]
        if pass_port:
            args = ["--port", str(port), *args]
        proc = launch(log_path, args, env if env is not None else hub_free_env())
        s = Standalone(proc, port, log_path)
        started.append(s)
        wait_until(lambda: _connects(port) or proc.poll() is not None, "jupyter-standaloneproxy")
        assert proc.poll() is None, f"jupyter-standaloneproxy exited:\n{s.log()}"
        return s

    yield start
    for s in started:
        stop_process(s.proc)


async def get(
    url: str, headers: dict[str, str] | None = None, method: str = "GET", data: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.request(
            method, url, headers=headers, data=data or None, allow_redirects=False
        ) as r:
            return r.status, dict(r.headers), await r.read()


def sent_headers(body: bytes) -> dict[str, str]:
    """The headers the echo backend received, by lower-cased name."""
    return {k.lower(): v for k, v in json.loads(body)["headers"]}


# -- without authentication ---------------------------------------------------------------------


def test_proxies_http_and_websocket_under_the_service_prefix(
    standalone: Callable[..., Standalone],
) -> None:
    """Everything under $JUPYTERHUB_SERVICE_PREFIX reaches the app with the prefix stripped (and
    announced in X-Forwarded-Prefix); the bare prefix redirects (301, as 4.x) to itself with a
    slash, keeping the query; paths outside the prefix are 404; websockets are relayed with the
    subprotocol."""
    s = standalone("--skip-authentication", env=hub_free_env(JUPYTERHUB_SERVICE_PREFIX=PREFIX))

    async def go() -> None:
        status, _, body = await get(s.url("/user/alice/echo/x%2Fy?q=1"))
        assert status == 200, body
        doc = json.loads(body)
        assert doc["raw_path"] == "/echo/x%2Fy?q=1"
        assert sent_headers(body)["x-forwarded-prefix"] == "/user/alice"

        status, _, body = await get(s.url("/user/alice/sink"), method="POST", data=b"z" * 70000)
        assert status == 200 and json.loads(body)["received"] == 70000

        status, headers, _ = await get(s.url("/user/alice?a=b"))
        assert status == 301 and headers["Location"] == "/user/alice/?a=b"

        status, _, _ = await get(s.url("/user/bob/echo/x"))
        assert status == 404

        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                s.url("/user/alice/ws", "ws"), protocols=["chat", "other"]
            ) as ws:
                assert ws.protocol == "chat"
                await ws.send_str("hello")
                assert await ws.receive_str() == "hello"
                await ws.send_str("path")
                assert await ws.receive_str() == "/ws"

    run(go())
    assert "AUTHENTICATION IS OFF" in s.log()


@pytest.mark.parametrize(
    ("hub_url", "url"),
    [
        ("", ""),
        ("https://hub.example.org/user/alice/", "https://hub.example.org/user/alice/"),
    ],
    ids=["origin-unknown", "from-hub"],
)
def test_the_app_is_told_its_public_path_and_url(
    standalone: Callable[..., Standalone], hub_url: str, url: str
) -> None:
    """The app is served at the service prefix itself: that is its
    ``JUPYTER_SERVER_PROXY_PREFIX``; ``$JUPYTERHUB_PUBLIC_URL`` is its
    ``JUPYTER_SERVER_PROXY_URL``; ``{public_url}`` is the URL, else the path."""
    env = hub_free_env(JUPYTERHUB_SERVICE_PREFIX=PREFIX, JUPYTERHUB_PUBLIC_URL=hub_url)
    s = standalone(
        "--skip-authentication",
        command=["env", "JSP_COMMAND_URL={public_url}", *ECHO],
        env=env,
    )
    status, _, body = run(get(s.url("/user/alice/environ")))
    assert status == 200, body
    seen = json.loads(body)
    assert seen["JUPYTER_SERVER_PROXY_PREFIX"] == PREFIX
    assert seen.get("JUPYTER_SERVER_PROXY_URL") == (url or None)
    assert seen["JSP_COMMAND_URL"] == (url or PREFIX)


def test_browser_websockets_of_the_same_origin_open_and_others_are_refused(
    standalone: Callable[..., Standalone],
) -> None:
    """A page's own websocket (Origin equal to Host, with or without Chrome's
    ``Sec-Fetch-Site: same-origin``) opens, on every tornado; another origin's gets 403 with a
    plain page (this app has none of Jupyter's templates)."""
    s = standalone("--skip-authentication", env=hub_free_env(JUPYTERHUB_SERVICE_PREFIX=PREFIX))

    async def go() -> None:
        path = "/user/alice/ws"
        assert (await browser_websocket(s.port, path))[0] == 101
        assert (await browser_websocket(s.port, path, site=None))[0] == 101
        evil = "http://evil.example"
        for site in ("cross-site", None):
            status, body = await browser_websocket(s.port, path, evil, site)
            assert status == 403 and b"403: Forbidden" in body

    run(go())
    assert "Traceback" not in s.log(), s.log()


def test_listens_where_jupyterhub_service_url_says(
    standalone: Callable[..., Standalone],
) -> None:
    """Without --port and --address, the proxy listens on $JUPYTERHUB_SERVICE_URL's host and
    port: JupyterHub (>= 2) tells a single-user server where to listen only in its environment."""
    port = free_port()
    env = hub_free_env(JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}/")
    s = standalone("--skip-authentication", env=env, port=port, pass_port=False)
    status, _, _ = run(get(s.url("/echo/")))
    assert status == 200


def test_app_that_exits_gets_503_with_exit_code_and_log(
    standalone: Callable[..., Standalone],
) -> None:
    """An app that exits before it is ready gets the failure page: 503, the exit code and the
    last lines of its output. The proxy itself keeps running."""
    command = [sys.executable, "-c", "import sys; print('cannot start, sorry'); sys.exit(3)"]
    s = standalone("--skip-authentication", command=command)
    status, _, body = run(get(s.url("/"), headers={"Accept": "text/html"}))
    page = body.decode()
    assert status == 503, page
    assert "Exit code: <code>3</code>" in page
    assert "cannot start, sorry" in page
    assert s.proc.poll() is None


def test_absolute_url_over_a_private_unix_socket(standalone: Callable[..., Standalone]) -> None:
    """--unix-socket gives the app a private socket ({unix_socket}) instead of a port, and
    --absolute-url forwards the path with the prefix, for apps told their base URL, without
    the prefix headers (an app honouring X-Forwarded-Prefix would prefix twice)."""
    command = [sys.executable, str(HERE / "backends" / "echo.py"), "--unix-socket", "{unix_socket}"]
    env = hub_free_env(JUPYTERHUB_SERVICE_PREFIX=PREFIX)
    s = standalone(
        "--skip-authentication", "--absolute-url", "--unix-socket", command=command, env=env
    )
    status, _, body = run(get(s.url("/user/alice/echo/x")))
    assert status == 200, body
    assert json.loads(body)["path"] == "/user/alice/echo/x"
    prefix_headers = {"x-forwarded-context", "x-proxycontextpath", "x-forwarded-prefix"}
    assert not prefix_headers & sent_headers(body).keys()


def _pids_running(fragment: str) -> list[int]:
    return [pid for pid, cmd in live_processes() if fragment in cmd]


def test_sigterm_stops_the_app_and_exits_zero(standalone: Callable[..., Standalone]) -> None:
    """SIGTERM stops the app's process and the proxy exits with status 0."""
    app_port = free_port()
    s = standalone("--skip-authentication", "--server-port", str(app_port))
    status, _, _ = run(get(s.url("/echo/")))
    assert status == 200
    app = _pids_running(f"echo.py --port {app_port}")
    assert len(app) == 1, app

    os.kill(s.proc.pid, signal.SIGTERM)
    assert s.proc.wait(WAIT) == 0, s.log()
    wait_until(lambda: not alive(app[0]), "the app to be gone", timeout=WAIT)


def test_refuses_to_start_without_the_hub_environment(tmp_path: Path) -> None:
    """Authentication is on by default; without JupyterHub's variables the proxy exits non-zero
    with one line naming what is missing, and starts nothing."""
    log_path = tmp_path / "refused.log"
    app_port = free_port()
    proc = launch(
        log_path,
        ["--port", str(free_port()), "--server-port", str(app_port), "--", *ECHO],
        hub_free_env(),
    )
    try:
        code = proc.wait(WAIT)
    finally:
        stop_process(proc)
    out = log_path.read_text()
    assert code != 0, out
    lines = [line for line in out.splitlines() if "JUPYTERHUB_API_TOKEN" in line]
    assert len(lines) == 1, out
    assert "JUPYTERHUB_API_URL" in lines[0] and "--skip-authentication" in lines[0]
    assert not _pids_running(f"echo.py --port {app_port}")


def test_import_needs_no_jupyterhub_and_is_silent() -> None:
    """Importing the standalone package warns about nothing and does not import jupyterhub (it
    is optional: only authentication needs it)."""
    code = (
        "import sys, jupyter_server_proxy.standalone as s; "
        "assert 'jupyterhub' not in sys.modules, 'jupyterhub imported'; "
        "assert s.StandaloneProxyServer and s.main"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr, done.stderr.decode()


# -- with JupyterHub authentication ---------------------------------------------------------


def hub_env(api_url: str, **extra: str) -> dict[str, str]:
    """The variables JupyterHub's spawner sets for alice's default server."""
    return hub_free_env(
        JUPYTERHUB_API_URL=api_url,
        JUPYTERHUB_API_TOKEN="server-token",
        JUPYTERHUB_CLIENT_ID="jupyterhub-user-alice",
        JUPYTERHUB_SERVICE_PREFIX=PREFIX,
        JUPYTERHUB_OAUTH_CALLBACK_URL=PREFIX + "oauth_callback",
        JUPYTERHUB_OAUTH_ACCESS_SCOPES=json.dumps(["access:servers!server=alice/"]),
        JUPYTERHUB_BASE_URL="/",
        JUPYTERHUB_USER="alice",
        JUPYTERHUB_SERVER_NAME="",
        **extra,
    )


def test_unauthenticated_browser_is_sent_to_the_hubs_oauth(
    standalone: Callable[..., Standalone],
) -> None:
    """Without a login, a GET is redirected to the Hub's authorize URL for this server's OAuth
    client (with a state, and back to <prefix>oauth_callback); other methods and websockets get
    403; nothing reaches the app. A failing activity report is logged and changes nothing."""
    api = f"http://127.0.0.1:{free_port()}/hub/api"  # nobody listens there
    env = hub_env(api, JUPYTERHUB_ACTIVITY_URL=f"{api}/users/alice/activity")
    s = standalone("--activity-interval", "1", env=env)

    async def go() -> None:
        status, headers, _ = await get(s.url("/user/alice/tree?x=1"))
        assert status == 302
        where = urlsplit(headers["Location"])
        assert where.path == "/hub/api/oauth2/authorize"
        query = parse_qs(where.query)
        assert query["client_id"] == ["jupyterhub-user-alice"]
        assert query["redirect_uri"] == ["/user/alice/oauth_callback"]
        assert query["response_type"] == ["code"] and query["state"]
        assert "jupyterhub-user-alice-oauth-state" in headers.get("Set-Cookie", "")

        status, _, _ = await get(s.url("/user/alice/sink"), method="POST", data=b"x")
        assert status == 403

        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(s.url("/user/alice/ws", "ws"))
            assert refused.value.status == 403

    run(go())
    wait_until(lambda: "activity report" in s.log(), "a failed activity report", timeout=WAIT)
    status, _, _ = run(get(s.url("/user/alice/")))
    assert status == 302 and s.proc.poll() is None
    assert "echo: starting" not in s.log()


def test_refused_websocket_leaves_the_connection_usable(
    standalone: Callable[..., Standalone],
) -> None:
    """A websocket refused for want of a login gets its 403 on a connection that stays open: the
    next request on it (as configurable-http-proxy sends, reusing connections) is answered."""
    api = f"http://127.0.0.1:{free_port()}/hub/api"  # nobody listens there
    s = standalone(env=hub_env(api))

    async def go() -> None:
        host = f"127.0.0.1:{s.port}"
        reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
        writer.write(browser_upgrade("/user/alice/ws", host))
        status, fields, _ = await read_response(reader)
        assert status == 403 and fields.get("connection", "").lower() != "close"
        writer.write(f"GET /user/alice/tree HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, _, _ = await read_response(reader)
        assert status == 302  # to the Hub's login, on the same connection
        writer.close()

    run(go())


class FakeHub:
    """The Hub API calls a single-user server makes: ``GET /hub/api/user`` (who owns this token),
    ``POST /hub/api/oauth2/token`` (the OAuth code for a token) and ``POST
    /hub/api/users/alice/activity``."""

    USERS = {
        "alice-token": {"name": "alice", "scopes": ["access:servers!server=alice/"]},
        "bob-token": {"name": "bob", "scopes": ["access:servers!server=bob/"]},
    }

    def __init__(self) -> None:
        self.reports: list[tuple[str, Any]] = []
        self.reported = threading.Event()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                token = self.headers.get("Authorization", "").partition(" ")[2]
                user = hub.USERS.get(token)
                if self.path != "/hub/api/user" or user is None:
                    self._answer(403, {"status": 403, "message": "no such token"})
                    return
                self._answer(200, {"kind": "user", "groups": [], "admin": False, **user})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path == "/hub/api/oauth2/token":
                    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                    if (
                        form.get("code") != "the-code"
                        or form.get("client_secret") != "server-token"
                    ):
                        self._answer(400, {"error": "invalid_grant"})
                        return
                    self._answer(200, {"access_token": "alice-token", "token_type": "Bearer"})
                    return
                doc = json.loads(body)
                hub.reports.append((self.headers.get("Authorization", ""), doc))
                hub.reported.set()
                self._answer(200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/hub/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


def test_hub_token_lets_its_owner_in_and_never_reaches_the_app(
    standalone: Callable[..., Standalone],
) -> None:
    """A token the Hub says is alice's (with access to this server) is let in, over HTTP and
    websockets, and neither it nor the Hub's cookies reach the app; bob's token is refused (403)
    though the Hub knows him. Traffic is reported to the Hub's activity URL with the server's
    own token, in the form jupyterhub-singleuser uses."""
    with FakeHub() as hub:
        env = hub_env(
            hub.api_url,
            JUPYTERHUB_ACTIVITY_URL=f"{hub.api_url}/users/alice/activity",
            # Cookie names and token places the extension's own rules don't know about.
            JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED="1",
            JUPYTERHUB_ALLOW_TOKEN_IN_URL="1",
        )
        s = standalone("--activity-interval", "1", env=env)
        alice = {
            "Authorization": "Bearer alice-token",
            "Cookie": "__Host-jupyterhub-user-alice=stale; jupyterhub-session-id=a; app=kept",
        }

        async def go() -> None:
            status, _, body = await get(s.url("/user/alice/echo/x"), headers=alice)
            assert status == 200, body
            sent = sent_headers(body)
            assert "authorization" not in sent
            assert sent["cookie"] == "app=kept"

            status, _, body = await get(s.url("/user/alice/echo/x?token=alice-token&keep=1"))
            assert status == 200, body
            assert json.loads(body)["query"] == "keep=1"

            status, _, body = await get(
                s.url("/user/alice/sink"), headers=alice, method="POST", data=b"abc"
            )
            assert status == 200 and json.loads(body)["received"] == 3

            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(
                    s.url("/user/alice/ws", "ws"), headers={"Authorization": "token alice-token"}
                ) as ws:
                    await ws.send_str("headers")
                    names = {k.lower() for k, _ in json.loads(await ws.receive_str())}
                    assert "authorization" not in names

            bob = {"Authorization": "token bob-token"}
            status, _, _ = await get(s.url("/user/alice/echo/x"), headers=bob)
            assert status == 403

        run(go())
        assert hub.reported.wait(WAIT), s.log()
        auth, doc = hub.reports[-1]
        assert auth == "token server-token"
        assert set(doc) == {"servers", "last_activity"}
        assert doc["servers"] == {"": {"last_activity": doc["last_activity"]}}
        assert doc["last_activity"].endswith("Z")


def test_browser_login_through_the_oauth_callback(standalone: Callable[..., Standalone]) -> None:
    """A browser's whole login: redirected to the Hub with a state, back at
    <prefix>oauth_callback with a code, which is exchanged for a token kept in the OAuth cookie;
    then the page it first asked for works on the cookie alone, POSTs included (CSRF is the
    app's business), and the cookie is not forwarded to the app."""
    with FakeHub() as hub:
        s = standalone(env=hub_env(hub.api_url))

        async def go() -> None:
            jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1
            async with aiohttp.ClientSession(cookie_jar=jar) as browser:
                page = s.url("/user/alice/echo/x?q=1")
                async with browser.get(page, allow_redirects=False) as r:
                    assert r.status == 302
                    state = parse_qs(urlsplit(r.headers["Location"]).query)["state"][0]
                callback = s.url(f"/user/alice/oauth_callback?code=the-code&state={state}")
                async with browser.get(callback, allow_redirects=False) as r:
                    assert r.status == 302, await r.text()
                    assert r.headers["Location"] == "/user/alice/echo/x?q=1"
                async with browser.get(page, allow_redirects=False) as r:
                    assert r.status == 200, await r.text()
                    sent = sent_headers(await r.read())
                    assert "jupyterhub-user-alice" not in sent.get("cookie", "")
                async with browser.post(s.url("/user/alice/sink"), data=b"abcd") as r:
                    assert r.status == 200 and (await r.json())["received"] == 4

        run(go())


# -- the 4.x Python API ---------------------------------------------------------------------------


def make_embedded_proxy() -> Any:
    """A ``StandaloneProxyServer`` built as 4.x's Python API builds it: every 4.x trait as a
    keyword argument (those of a ``c.ServerProxy.servers`` entry among them)."""
    from jupyter_server_proxy.standalone import StandaloneProxyServer

    def tag(response: Any) -> None:
        response.headers["X-Rewritten"] = "yes"

    return StandaloneProxyServer(
        command=ECHO,
        base_url=PREFIX,
        no_authentication=True,
        address="127.0.0.1",
        server_port=0,
        timeout=30.0,
        absolute_url=False,
        environment={"ECHO_TEST": "1"},
        mappath={"/mapped": "/echo/mapped-to"},
        request_headers_override={"X-Embedded": "yes"},
        rewrite_response=[tag],
        update_last_activity=True,
        exclude_last_activity_patterns=["^/static/"],
        raw_socket_proxy=False,
        unix_socket=None,
        activity_interval=0,
        websocket_max_message_size=1 << 20,
        launcher_entry={"enabled": False},
        new_browser_tab=False,
    )


async def serve_embedded(proxy: Any, use: Callable[[str], Any]) -> None:
    """Serve ``proxy.create_app()`` on an ``HTTPServer`` of the test's own, as an embedder does;
    ``use(origin)`` runs against it; ``close_app`` then stops the app it started."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from tornado.web import Application

    before = set(_pids_running("backends/echo.py"))  # other tests' backends may be running
    app = proxy.create_app()
    assert isinstance(app, Application)
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    try:
        await use(f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
    finally:
        server.stop()
        await proxy.close_app(app)
        await asyncio.wait_for(server.close_all_connections(), WAIT)
    assert set(_pids_running("backends/echo.py")) <= before, "close_app left the app running"


def test_python_api_create_app_proxies_http() -> None:
    """4.x's Python API: ``StandaloneProxyServer(**traits).create_app()`` returns the tornado
    application; served by the caller, it proxies HTTP under base_url with the traits applied
    (request_headers_override, mappath, rewrite_response, the prefix headers)."""

    async def use(origin: str) -> None:
        status, headers, body = await get(f"{origin}{PREFIX}echo/x?q=1")
        assert status == 200, body
        assert json.loads(body)["raw_path"] == "/echo/x?q=1"
        sent = sent_headers(body)
        assert sent["x-embedded"] == "yes" and sent["x-forwarded-prefix"] == PREFIX[:-1]
        assert headers["X-Rewritten"] == "yes"
        status, _, body = await get(f"{origin}{PREFIX}mapped")
        assert status == 200 and json.loads(body)["path"] == "/echo/mapped-to"

    run(serve_embedded(make_embedded_proxy(), use))


def test_python_api_create_app_relays_a_browser_websocket() -> None:
    """The application from ``create_app()`` relays a websocket opened the way a browser opens
    it: Origin equal to Host, with Chrome's Sec-Fetch-* headers."""

    async def use(origin: str) -> None:
        browser = {
            "Origin": origin,
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "websocket",
            "Sec-Fetch-Dest": "empty",
        }
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{origin}{PREFIX}ws", headers=browser) as ws:
                await ws.send_str("hello")
                assert await ws.receive_str() == "hello"

    run(serve_embedded(make_embedded_proxy(), use))

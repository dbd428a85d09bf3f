"""Helpers for the compatibility suite, kept free of this repository's own test helpers.

The suite runs against whatever ``jupyter_server_proxy`` the Python running pytest imports: this
project's package (in CI) or jupyter-server-proxy 4.6.0 from PyPI in a venv of its own
(``scripts/compat-peer.sh``). So nothing here imports ``tests.conftest`` or anything else of ours,
every process is started with ``sys.executable``, and clients are the standard library's and
aiohttp's, which both environments have.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jupyter_server_proxy

HERE = Path(__file__).parent
BACKEND = HERE / "apps" / "backend.py"
TCPECHO = HERE / "apps" / "tcpecho.py"

#: The implementation under test is 4.x (the peer), not this project.
PEER = jupyter_server_proxy.__version__.startswith("4.")
#: The implementation under test is this project (for ``xfail(OURS, ...)`` on known defects).
OURS = not PEER

#: What Chrome sends with a same-origin websocket handshake, besides Origin.
SEC_FETCH = {
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "websocket",
    "Sec-Fetch-Dest": "empty",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` every 50 ms until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"gave up waiting for {what}")


def connects(port: int | None = None, path: str | None = None) -> bool:
    family = socket.AF_UNIX if path else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.connect(path if path else ("127.0.0.1", port))
        except OSError:
            return False
        return True


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)


def start_backend(
    port: int | None = None, unix_socket: str | None = None
) -> subprocess.Popen[bytes]:
    where = ["--unix-socket", unix_socket] if unix_socket else ["--port", str(port)]
    proc = subprocess.Popen([sys.executable, str(BACKEND), *where], start_new_session=True)
    wait_until(lambda: connects(port, unix_socket) or proc.poll() is not None, "backend")
    assert proc.poll() is None, "backend exited at start"
    return proc


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> object:
        import json

        return json.loads(self.body)

    def header_values(self, name: str) -> list[str]:
        """Values of a request header as the backend echoed it (``headers`` in its JSON)."""
        doc = self.json()
        assert isinstance(doc, dict)
        return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def request(
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60.0,
) -> Response:
    """One HTTP request, redirects not followed, any status returned."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.headers, r.read())
    finally:
        conn.close()


def raw_request(port: int, head: bytes, timeout: float = 30.0) -> bytes:
    """Send ``head`` as is (a request with no body) and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class JupyterServer:
    """A real Jupyter server, run by ``sys.executable``, with its own Jupyter directories."""

    root: Path
    config: str
    base_url: str = "/"
    pythonpath: list[str] = field(default_factory=list)
    #: More environment for the server (and so for the apps it starts).
    env: dict[str, str] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> JupyterServer:
        for d in ("config", "data", "runtime", "home"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "config" / "jupyter_server_config.py").write_text(self.config)
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.root / "config"),
            JUPYTER_DATA_DIR=str(self.root / "data"),
            JUPYTER_RUNTIME_DIR=str(self.root / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONWARNINGS="",
        )
        env.update(self.env)
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(
                [*self.pythonpath, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        args = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.base_url={self.base_url}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root / 'home'}",
            "--allow-root",
        ]
        with open(self.root / "server.log", "wb") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.root,
            )
        wait_until(self._ready, f"jupyter server on {self.port}", timeout=60)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited:\n{self.log()}")
        try:
            return request(self.url("api/status"), headers=self.auth, timeout=5).status == 200
        except OSError:
            return False

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}{path.lstrip('/')}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: object) -> Response:
        return request(self.url(path), headers={**self.auth, **(headers or {})}, **kw)  # type: ignore[arg-type]

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")

    def login_cookie(self) -> str:
        """A ``Cookie`` header value with Jupyter's login cookie, as a browser holds it after
        opening a URL with the token."""
        from http.cookies import SimpleCookie

        r = request(self.url(f"login?token={self.token}"))
        jar: SimpleCookie = SimpleCookie()
        for value in r.headers.get_all("Set-Cookie") or []:
            jar.load(value)
        names = [n for n in jar if n.startswith("username-")]
        assert names, f"no login cookie from {r.status} {r.headers}"
        return "; ".join(f"{n}={jar[n].value}" for n in names)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def browser_ws_headers(origin: str) -> dict[str, str]:
    """The headers a same-origin page's ``new WebSocket(...)`` sends in Chrome."""
    return {"Origin": origin, **SEC_FETCH}

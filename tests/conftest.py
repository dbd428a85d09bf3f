"""Shared fixtures: real Jupyter servers and real backends, on loopback and unix sockets.

Every process a fixture starts is stopped when the fixture ends, and waits are bounded polls for
a condition (a port that answers), never sleeps standing in for assertions.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

HERE = Path(__file__).parent
T = TypeVar("T")
ECHO = [sys.executable, str(HERE / "backends" / "echo.py")]

# This test run's own marks, so that its leak checks see only what it started itself: a demo
# left running, another user's socket directories or a second test run on the same machine
# never fail a test. Every process a test starts inherits the environment, daemons included,
# and every temporary directory (the servers' private socket directories among them) is made
# under a TMPDIR of this run's own (made by ``nothing_left_behind``, so that a run that only
# collects makes none).
RUN_MARK = "JSP_TEST_RUN=" + secrets.token_hex(8)
os.environ["JSP_TEST_RUN"] = RUN_MARK.split("=", 1)[1]

#: Every Python process a test starts loads this directory's sitecustomize first, which turns a
#: warning that jupyter_server_proxy raises into an exception (it says what counts as ours).
SUBPROCESS_SITE = HERE / "subprocess_site"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SUBPROCESS_SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
)
#: The last line of a traceback whose exception is a warning: what a warning raised as an
#: exception leaves in a server's log, whether a request, a task or start-up met it. A warning
#: that is only shown starts with its file name instead ("/path/file.py:12: UserWarning: ...").
_RAISED_WARNING = re.compile(r"^[ \t]*(?:\w+\.)*\w*Warning: .*$", re.MULTILINE)


def raised_warnings(log: str) -> list[str]:
    """The warnings a process raised as exceptions, from its log."""
    return [line.strip() for line in _RAISED_WARNING.findall(log)]


def _socket_dirs() -> set[str]:
    root = tempfile.gettempdir()
    return {d for d in os.listdir(root) if d.startswith("jupyter-server-proxy-")}


def _of_this_run(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return RUN_MARK.encode() in f.read().split(b"\0")
    except OSError:
        return False


def live_processes() -> list[tuple[int, str]]:
    """(pid, command line) of every live (not zombie) process this test run started."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if alive(int(entry)) and _of_this_run(int(entry)):
            found.append((int(entry), cmd))
    return found


def _test_app_processes() -> list[str]:
    """Command lines of live processes of this run running one of our test apps or backends."""
    return [
        f"{pid}: {cmd}"
        for pid, cmd in live_processes()
        if "tests/backends/" in cmd or "hello_demo_proxy.app" in cmd
    ]


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Set up first, so it is torn down last: after every server and backend of the session
    has stopped, no app process and no private socket directory may remain. The run's own
    TMPDIR goes with it, whatever the checks find (they name what was left)."""
    run_tmp = os.environ["TMPDIR"] = tempfile.mkdtemp(prefix="jsp-test-run-")
    tempfile.tempdir = None  # tempfile caches the directory it chose before
    try:
        before = _socket_dirs()
        yield
        leftovers = _socket_dirs() - before
        assert not leftovers, f"socket directories left behind: {sorted(leftovers)}"
        procs = _test_app_processes()
        assert not procs, "processes left running:\n" + "\n".join(procs)
    finally:
        shutil.rmtree(run_tmp, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, what: str, timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"gave up waiting for {what}")


async def poll_until(
    predicate: Callable[[], object | Awaitable[object]],
    what: str,
    timeout: float = 30.0,
    interval: float = 0.05,
) -> None:
    """``wait_until`` for a coroutine: poll ``predicate`` (a plain or an async function)
    every ``interval`` seconds, without blocking the event loop, until it is true; fail
    naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)
    raise TimeoutError(f"gave up waiting for {what}")


def _connects(port: int | None = None, path: str | None = None) -> bool:
    family = socket.AF_UNIX if path else socket.AF_INET
    with socket.socket(family) as s:
        try:
            s.connect(path if path else ("127.0.0.1", port))
        except OSError:
            return False
        return True


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
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


@dataclass
class Backend:
    proc: subprocess.Popen[bytes]
    port: int | None = None
    unix_socket: str | None = None


def start_backend(
    port: int | None = None, unix_socket: str | None = None, extra: Sequence[str] = ()
) -> Backend:
    """The echo backend; ``extra`` adds its options (``--tls-cert``, say)."""
    args = ECHO + (["--unix-socket", unix_socket] if unix_socket else ["--port", str(port)])
    args += extra
    proc = subprocess.Popen(args, start_new_session=True)
    wait_until(lambda: _connects(port, unix_socket) or proc.poll() is not None, "backend")
    assert proc.poll() is None, "test backend exited at start"
    return Backend(proc, port, unix_socket)


@pytest.fixture(scope="session")
def backend() -> Iterator[Backend]:
    b = start_backend(port=free_port())
    yield b
    stop_process(b.proc)


@pytest.fixture(scope="session")
def unix_backend() -> Iterator[Backend]:
    d = tempfile.mkdtemp(prefix="jsp-test-")
    b = start_backend(unix_socket=os.path.join(d, "echo.sock"))
    yield b
    stop_process(b.proc)
    os.rmdir(d) if not os.listdir(d) else None


@dataclass
class JupyterServer:
    """A real ``jupyter server`` in its own process group, with isolated Jupyter directories."""

    root: Path
    config: str
    base_url: str = "/"
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    module: str = "jupyter_server"
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    #: Serve TLS with this (certificate, key) pair of PEM files.
    tls: tuple[Path, Path] | None = None

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
            # Python's default actions, whatever this shell asks for; warnings of ours are
            # errors through SUBPROCESS_SITE.
            PYTHONWARNINGS="",
        )
        env.update(self.env)
        if "PYTHONPATH" in self.env:  # in front of this run's, which brings SUBPROCESS_SITE
            env["PYTHONPATH"] = os.pathsep.join([self.env["PYTHONPATH"], os.environ["PYTHONPATH"]])
        self.log_path = self.root / "server.log"
        args = [
            sys.executable,
            "-m",
            self.module,
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.base_url={self.base_url}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root / 'home'}",
            "--allow-root",
            *self.extra_args,
        ]
        if self.tls:
            args += [f"--ServerApp.certfile={self.tls[0]}", f"--ServerApp.keyfile={self.tls[1]}"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.root,
            )
        wait_until(self._ready, f"jupyter server on {self.port}")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited:\n{self.log()}")
        # http.client rather than urllib: when a TLS handshake fails (the server is still
        # starting), urllib drops the plain socket unclosed, a ResourceWarning that
        # ``filterwarnings = error`` turns into a failure of whichever test collects it.
        conn: http.client.HTTPConnection
        if self.tls:  # the test's own self-signed certificate
            context = ssl._create_unverified_context()
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", f"{self.base_url}api/status?token={self.token}")
            return conn.getresponse().status == 200
        except (http.client.HTTPException, OSError):
            return False
        finally:
            conn.close()

    def url(self, path: str = "", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{self.base_url}{path.lstrip('/')}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        """Stop the server; fail if it raised a warning of ours (see SUBPROCESS_SITE)."""
        if self.proc is None:
            return
        stop_process(self.proc)
        raised = raised_warnings(self.log())
        assert not raised, f"the server raised warnings ({self.log_path}):\n" + "\n".join(raised)


@pytest.fixture
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    started: list[JupyterServer] = []

    def make(
        config: str = "", base_url: str = "/", extra_args: list[str] | None = None
    ) -> JupyterServer:
        server = JupyterServer(
            tmp_path_factory.mktemp("jupyter"), config, base_url, extra_args or []
        )
        started.append(server)
        return server.start()

    yield make
    failures = []
    for server in started:  # every one stopped, whichever fails its check
        try:
            server.stop()
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n".join(failures)


#: The base URLs a module's server runs under when its tests should hold for both: a Jupyter
#: server of its own, and one behind JupyterHub's per-user prefix.
BASE_URLS = ("/", "/user/alice/")
_BASE_URL_IDS = {"/": "root", "/user/alice/": "hub-prefix"}


def module_server(
    config: str = "",
    base_urls: Sequence[str] = ("/",),
    after: Callable[[JupyterServer], None] | None = None,
) -> Any:
    """A module-scoped fixture: one Jupyter server started with ``config`` serves all of a
    module's tests (one server per base URL, each test run under each), stopped, and then
    checked by ``after``, when the module is done. Use it as ``server = module_server(CONFIG)``:
    pytest names a fixture after the module attribute that holds it."""

    if isinstance(base_urls, str):  # a str is a Sequence too, of one-letter base URLs
        raise TypeError("base_urls is a list of base URLs")
    several = len(base_urls) > 1  # a single base URL leaves the tests' names as they are

    @pytest.fixture(
        scope="module",
        params=list(base_urls) if several else None,
        ids=[_BASE_URL_IDS.get(u, u) for u in base_urls] if several else None,
    )
    def fixture(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[JupyterServer]:
        base_url = request.param if several else base_urls[0]
        s = JupyterServer(tmp_path_factory.mktemp("srv"), config, base_url).start()
        yield s
        s.stop()
        if after is not None:
            after(s)

    return fixture


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a test's coroutine on a loop of its own."""
    return asyncio.run(coro)


def download_with_peak_rss(server: JupyterServer, path: str, size: int) -> int:
    """GET ``path`` (``size`` bytes expected) through ``server``, reading it as it streams,
    and return how far the server's anonymous memory rose above where it began, in KiB, at
    the highest of the samples taken every 32 MiB and at the end."""
    assert server.proc is not None
    pid = server.proc.pid
    before = peak = anon_kib(pid)

    async def go() -> int:
        nonlocal peak
        got = 0
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url(path), headers=server.auth) as resp:
                assert resp.status == 200, resp.status
                async for chunk in resp.content.iter_chunked(1 << 20):
                    got += len(chunk)
                    if got % (32 << 20) < (1 << 20):
                        peak = max(peak, anon_kib(pid))
        return got

    assert run(go()) == size
    return max(peak, anon_kib(pid)) - before


def anon_kib(pid: int) -> int:
    """A process's resident anonymous memory now, in KiB: its heap, stacks and private
    mappings, without the file pages that VmRSS also counts (shared libraries and modules
    mapped in, which grow as code is first run and shrink when the kernel reclaims page
    cache, whatever the process holds). smaps_rollup walks the page tables, so the number is
    exact, where /proc/PID/status's per-thread counters may lag."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1])
    raise AssertionError("no Anonymous in smaps_rollup")


def load_json(data: bytes) -> object:
    return json.loads(data)


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def lifecycle(server: JupyterServer, path: str, method: str = "GET") -> object:
    """Call the lifecycle API (``server-proxy/api/servers/<path>``) and return its JSON."""
    req = urllib.request.Request(
        server.url(f"server-proxy/api/servers/{path}"), method=method, headers=server.auth
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())

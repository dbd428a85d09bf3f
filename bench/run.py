"""Benchmarks: this proxy against direct access, jupyter-server-proxy 4.6.0 and
configurable-http-proxy, on the same workloads in the same run.

    python bench/run.py [--quick] [--only WORKLOAD ...] [--targets T ...] [--reps N]
                        [--out bench/results.md]

Workloads: download upload small ws32 ws1m wsload coldstart appstart tlsdownload. Targets:
direct ours peer chp, and with ``--baseline REV`` this repo's package as it was at REV (base),
for before/after in one run.

Every target is measured the same way. Repetitions interleave the targets, and the order of the
targets rotates from one repetition to the next, so slow drifts of this noisy machine hit each
target alike. The table gives the median, the spread (min-max) and ratios of medians, with the
min-max of the per-repetition (paired) ratios beside them. All traffic is on 127.0.0.1; every
loop is bounded in count and in time and stops by itself. Every process started here is stopped
on exit, also on Ctrl-C, SIGTERM or a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import lean
import pycalls

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
BACKEND_PY = HERE / "backend.py"
DELAYED_APP_PY = HERE / "delayed_app.py"
PEER_VERSION = "4.6.0"
PEER = f"peer {PEER_VERSION}"
TARGET_NAMES = {"direct": "direct", "ours": "ours", "peer": PEER, "chp": "chp", "base": "base"}
#: With --baseline REV: where that revision's package was extracted (PYTHONPATH of target "base").
_BASELINE: list[Path] = []
WARM = "ours, warm server"
CLK_TCK = os.sysconf("SC_CLK_TCK")
WORKLOADS = (
    "download",
    "upload",
    "small",
    "ws32",
    "ws1m",
    "wsload",
    "coldstart",
    "appstart",
    "tlsdownload",
)
#: No single measurement may take longer than this (seconds); every loop also has a fixed count.
STEP_LIMIT = 120.0
#: A run never starts a new measurement after this many seconds (full / quick).
RUN_BUDGET = {False: 19 * 60.0, True: 5 * 60.0}
#: Small GETs: concurrent keep-alive connections.
CONCURRENCY = 16


# -- processes ---------------------------------------------------------------------------------

#: Everything we started, so that cleanup can stop it whatever happens.
_STARTED: list[subprocess.Popen[bytes]] = []
#: The run's temporary directory (servers' config/data/runtime/root dirs), removed at exit.
_TMP: list[str] = []


def spawn(args: list[str], **kw: object) -> subprocess.Popen[bytes]:
    """Start a process in its own session (process group), remembered for cleanup."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(args, start_new_session=True, **kw)  # type: ignore[call-overload]
    _STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the process group, SIGKILL after the grace period."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    # whatever else is left in its group (children that did not leave it)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc in _STARTED:
        _STARTED.remove(proc)


def stop_all() -> None:
    for proc in list(reversed(_STARTED)):
        with suppress(Exception):
            stop(proc, grace=5.0)


def tagged_pids(tag: str) -> list[int]:
    """Pids of processes whose command line carries ``tag`` (apps started by a Jupyter server)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if tag.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_tagged(tag: str) -> int:
    """Stop the apps with this tag that outlived their server; returns how many there were."""
    pids = tagged_pids(tag)
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> int:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def wait_http(
    url: str,
    headers: dict[str, str] | None = None,
    limit: float = 60.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            http_status(url, headers)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {limit}s")


def wait_until_listening(port: int, limit: float = 60.0) -> None:
    """Until 127.0.0.1:``port`` accepts a connection (a TLS backend, which urllib would not
    trust)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {limit}s")


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return -1


def wait_idle(pid: int, quiet: float = 0.3, limit: float = 5.0) -> None:
    """Wait (at most `limit` s) until the process has used no CPU for `quiet` seconds, so that
    a server's start-up work does not compete with what is measured next."""
    deadline = time.monotonic() + limit
    last, since = cpu_ticks(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = cpu_ticks(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


# -- memory --------------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def reset_hwm(pid: int) -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux: clear_refs 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@contextmanager
def rss_growth(pid: int | None) -> Iterator[list[float]]:
    """Peak RSS growth (MiB) of ``pid`` over the block: VmHWM after minus VmRSS before.

    With clear_refs the kernel's own peak is exact and nothing polls. Where clear_refs cannot be
    written, a thread polls VmRSS every 20 ms instead. Yields a one-item list filled in at exit.
    """
    result = [float("nan")]
    if pid is None:
        yield result
        return
    exact = reset_hwm(pid)
    base = proc_status(pid).get("VmRSS", 0)
    peak = base
    done = threading.Event()
    poller = None
    if not exact:

        def poll() -> None:
            nonlocal peak
            while not done.wait(0.02):
                peak = max(peak, proc_status(pid).get("VmRSS", 0))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
    try:
        yield result
    finally:
        done.set()
        if poller is not None:
            poller.join()
        st = proc_status(pid)
        peak = max(peak, st.get("VmHWM", 0) if exact else st.get("VmRSS", 0))
        result[0] = (peak - base) / 1024


# -- targets -------------------------------------------------------------------------------------


@dataclass
class Target:
    key: str  # direct ours peer chp
    base: str  # URL prefix that maps to the backend root
    headers: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the proxy process whose memory we watch
    proc: subprocess.Popen[bytes] | None = None
    root: Path | None = None
    unavailable: str = ""  # why this target cannot be measured at all

    @property
    def name(self) -> str:
        return TARGET_NAMES[self.key]

    def url(self, path: str, ws: bool = False) -> str:
        url = self.base + path
        return url.replace("http://", "ws://", 1) if ws else url

    def rss_mib(self) -> float:
        return proc_status(self.pid).get("VmRSS", 0) / 1024 if self.pid else float("nan")


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in list(env):  # nothing of this checkout or of the caller's Jupyter leaks into a server
        if k.startswith("JUPYTER") or k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            del env[k]
    return env


def jupyter_server_cmd(python: str) -> list[str]:
    script = Path(python).parent / "jupyter-server"
    return [str(script)] if script.exists() else [python, "-m", "jupyter_server"]


def start_jupyter(
    python: str, config: str = "", pythonpath: Path | None = None
) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    """A real jupyter server with isolated config/data/runtime dirs, token auth, a free port;
    with ``pythonpath``, its ``jupyter_server_proxy`` is imported from there."""
    root = Path(tempfile.mkdtemp(prefix="server-", dir=_TMP[0] if _TMP else None))
    env = clean_env()
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    for d in ("config", "data", "runtime"):
        (root / d).mkdir()
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_DATA_DIR=str(root / "data"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    (root / "config" / "jupyter_server_config.py").write_text(config)
    token = secrets.token_hex(16)
    port = free_port()
    args = [
        *jupyter_server_cmd(python),
        "--allow-root",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.log_level=WARN",
    ]
    with open(root / "server.log", "wb") as log:
        proc = spawn(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_http(base + "api/status", {"Authorization": f"token {token}"}, proc=proc)
    except Exception as e:
        tail = (root / "server.log").read_text(errors="replace")[-600:]
        stop(proc)
        raise RuntimeError(f"{e}; server log tail:\n{tail}") from e
    return proc, base, token, root


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_peer() -> str:
    """jupyter-server-proxy 4.6.0 and jupyter_server in bench/.work/peer-venv (made once)."""
    venv = WORK / "peer-venv"
    python = venv_python(venv)
    marker = venv / f".installed-{PEER_VERSION}"
    if not marker.exists():
        print(f"setting up jupyter-server-proxy {PEER_VERSION} in {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        import jupyter_server

        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"jupyter-server-proxy=={PEER_VERSION}",
                # the same jupyter_server as ours, so only the proxy differs
                f"jupyter_server=={jupyter_server.__version__}",
            ],
            check=True,
            env=clean_env(),
        )
        marker.touch()
    return str(python)


def ensure_baseline(rev: str) -> Path:
    """The package as it was at ``rev`` (``git archive`` of jupyter_server_proxy/), for a
    before/after comparison in one run: target ``base`` imports it through PYTHONPATH, with
    everything else (Python, jupyter_server, tornado) the same as ``ours``."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = WORK / f"baseline-{sha}"
    if not (out / "jupyter_server_proxy" / "__init__.py").exists():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "jupyter_server_proxy"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    TARGET_NAMES["base"] = f"ours at {sha}"
    return out


def target_python(key: str) -> tuple[str, Path | None]:
    """(python, PYTHONPATH) a Jupyter-server target runs with."""
    if key == "peer":
        return ensure_peer(), None
    if key == "base":
        return sys.executable, _BASELINE[0]
    # ours: this checkout's package, imported through PYTHONPATH like base's, so that a
    # before/after comparison loads both the same way (not one through an editable install's
    # import hook and the other from a plain directory).
    return sys.executable, REPO


def ensure_chp() -> str:
    """configurable-http-proxy from npm in bench/.work/chp (installed once)."""
    prefix = WORK / "chp"
    binary = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if not binary.exists():
        print("setting up configurable-http-proxy from npm ...", flush=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                "configurable-http-proxy",
            ],
            check=True,
        )
    return str(binary)


def start_target(key: str, backend_port: int, config: str = "", calls: bool = False) -> Target:
    """``config``: for ours, its jupyter_server_config.py. ``calls``: Jupyter servers can count
    their Python calls (``pycalls.py``)."""
    backend = f"http://127.0.0.1:{backend_port}/"
    if key == "direct":
        return Target("direct", backend)
    if key in ("ours", "peer", "base"):
        python, pythonpath = target_python(key)
        config = (config if key == "ours" else "") + (pycalls.HOOK if calls else "")
        proc, base, token, root = start_jupyter(python, config, pythonpath=pythonpath)
        t = Target(
            key,
            f"{base}proxy/{backend_port}/",
            {"Authorization": f"token {token}"},
            proc.pid,
            proc,
            root,
        )
        status = http_status(t.url("small"), t.headers)
        if status != 200:
            t.unavailable = f"GET /proxy/{backend_port}/small answered {status}" + (
                " (is this repo's jupyter_server_proxy installed?)" if key == "ours" else ""
            )
        # other extensions of the environment (jupyter-lsp scans for language servers) keep a
        # new server busy for a while; the first measurement must not share the core with that
        wait_idle(proc.pid)
        return t
    if key == "chp":
        return start_chp(backend)
    raise ValueError(key)


def start_chp(backend: str, *options: str) -> Target:
    port = free_port()
    proc = spawn(
        [
            ensure_chp(),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-ip",
            "127.0.0.1",
            "--api-port",
            str(free_port()),
            "--default-target",
            backend.rstrip("/"),
            "--log-level",
            "error",
            *options,
        ],
        env=clean_env(),
    )
    wait_http(f"http://127.0.0.1:{port}/small", proc=proc)
    return Target("chp", f"http://127.0.0.1:{port}/", {}, proc.pid, proc)


def tls_files() -> tuple[Path, Path] | None:
    """(CA, server key and certificate chain) for the TLS backend: a CA made for this run
    (``trustme``, from the test extras), or None without it."""
    try:
        import trustme
    except ImportError:
        return None
    tls_dir = Path(_TMP[0]) / "tls"
    tls_dir.mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tls_dir / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_and_cert_chain_pem.write_to_path(str(tls_dir / "server.pem"))
    return tls_dir / "ca.pem", tls_dir / "server.pem"


def upstream_tls_config(tls_port: int, ca: Path) -> str:
    """Ours reaches the TLS backend at /proxy/<tls_port>/ over TLS, verifying it against ``ca``."""
    return f"c.ServerProxy.upstream_tls = {{'localhost:{tls_port}': {{'ca_file': {str(ca)!r}}}}}\n"


def tls_targets(live: list[Target], backend_port: int, tls_port: int, ca: Path) -> list[Target]:
    """The targets of ``tlsdownload``: each of ``live`` that can reach the TLS backend, the
    proxies verifying its certificate against ``ca``: direct (HTTPS from the client), ours
    (the same server, ``/proxy/<tls_port>/``, by ``upstream_tls``), and a chp of its own with
    an ``https://`` default target and ``--client-ssl-ca`` (its option for the CA of targets).
    The peer cannot be configured for TLS to ``/proxy/`` targets."""
    found = []
    for t in live:
        if t.key == "direct":
            found.append(Target("direct", f"https://127.0.0.1:{tls_port}/"))
        elif t.key == "ours":
            base = t.base.replace(f"proxy/{backend_port}/", f"proxy/{tls_port}/")
            found.append(Target("ours", base, t.headers, t.pid))
        elif t.key == "chp":
            found.append(start_chp(f"https://127.0.0.1:{tls_port}/", "--client-ssl-ca", str(ca)))
    return found


# -- workloads: each is one measurement, bounded by a count and by `limit` seconds -------------


def session(limit: float, **kw: object) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=limit, sock_read=30),
        auto_decompress=False,
        read_bufsize=1 << 20,
        **kw,  # type: ignore[arg-type]
    )


async def download(t: Target, size: int, limit: float) -> tuple[float, float]:
    """MB/s of one GET of `size` bytes, read and dropped as it arrives (lean client)."""
    start = time.perf_counter()
    lean.download(t.url(f"bytes/{size}"), t.headers, size, time.monotonic() + limit)
    return size / (time.perf_counter() - start) / 1e6, size / 1e6


async def upload(t: Target, size: int, limit: float) -> tuple[float, float]:
    """MB/s of one chunked POST of `size` bytes, counted by the backend (lean client)."""
    start = time.perf_counter()
    received = lean.upload(t.url("sink"), t.headers, size, time.monotonic() + limit)
    elapsed = time.perf_counter() - start
    if received != size:
        raise RuntimeError(f"backend got {received} of {size} bytes")
    return size / elapsed / 1e6, size / 1e6


async def small_gets(
    url: str, headers: dict[str, str], count: int, limit: float
) -> tuple[float, float]:
    """req/s of `count` GETs over CONCURRENCY keep-alive connections (or what `limit` allows)."""
    conn = aiohttp.TCPConnector(limit=CONCURRENCY, force_close=False)
    async with session(limit, connector=conn) as s:
        done = 0
        deadline = 0.0

        async def worker(n: int, timed: bool) -> None:
            nonlocal done
            for _ in range(n):
                if timed and time.monotonic() > deadline:
                    return
                async with s.get(url, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{url} answered {r.status}")
                if timed:
                    done += 1

        # open and warm every connection first (not timed)
        await asyncio.gather(*(worker(4, False) for _ in range(CONCURRENCY)))
        deadline = time.monotonic() + limit * 0.8
        start = time.perf_counter()
        await asyncio.gather(*(worker(count // CONCURRENCY, True) for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - start), done + 4 * CONCURRENCY


async def ws_echo(t: Target, size: int, count: int, limit: float) -> tuple[float, float]:
    """Sequential echo round trips of `size`-byte binary messages on one websocket (lean client).

    Returns round trips/s for small messages and MB/s (one direction) for large ones."""
    # one repeated byte, as before this client: the peer negotiates permessage-deflate with the
    # backend, so this payload is its best case (random bytes: ~5x slower, 14 against 69 MB/s)
    payload = b"w" * size
    frame = lean.WebSocket.frame(payload)
    deadline = time.monotonic() + limit * 0.8
    ws = lean.WebSocket(t.url("ws", ws=True), t.headers)
    try:
        # warm-up round trips; the first echo is checked byte for byte
        for i in range(3):
            ws.sock.sendall(frame)
            n, echoed = ws.receive(deadline, keep=i == 0)
            if n != size or (i == 0 and echoed != payload):
                raise RuntimeError(f"echo of {n} bytes differs from the {size} sent")
        n = 0
        start = time.perf_counter()
        while n < count and time.monotonic() < deadline:
            ws.sock.sendall(frame)
            got, _ = ws.receive(deadline)
            if got != size:
                raise RuntimeError(f"echo of {got} bytes, sent {size}")
            n += 1
        elapsed = time.perf_counter() - start
    finally:
        ws.close()
    if size <= 1024:
        return n / elapsed, n + 3
    return size * n / elapsed / 1e6, size * (n + 3) / 1e6


#: Run in its own process beside ``ws_echo_under_download``'s echo: downloads of 64 MiB one after
#: another until its deadline; "go" once the first is done, so the echo starts under load.
_LOADER = """
import sys, time, json
sys.path.insert(0, sys.argv[1])
import lean
url, headers, deadline = sys.argv[2], json.loads(sys.argv[3]), time.monotonic() + float(sys.argv[4])
size = 64 << 20
lean.download(url, headers, size, deadline)
print("go", flush=True)
while time.monotonic() < deadline:
    lean.download(url, headers, size, deadline)
"""


ECHO_SPAN = 5.0


async def ws_echo_under_download(t: Target, count: int, limit: float) -> tuple[float, float]:
    """32-byte echo round trips/s on one websocket while another process downloads through
    the same target without pause: what a chatty app's websocket gets while the proxy is
    busy with a big transfer."""
    loader = spawn(
        [
            sys.executable,
            "-c",
            _LOADER,
            str(HERE),
            t.url(f"bytes/{64 << 20}"),
            json.dumps(t.headers),
            str(limit),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert loader.stdout is not None and loader.stderr is not None
        if loader.stdout.readline().strip() != b"go":  # (bounded: the loader's own deadline)
            err = loader.stderr.read().decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"the download beside the echo failed: {err[-1:] or '?'}")
        # at most ECHO_SPAN of echoing (ws_echo stops at 0.8 of its limit): a busy relay
        # can be slow here (chp made ~50 round trips/s), and the rate is what is measured
        return await ws_echo(t, 32, count, min(limit, ECHO_SPAN / 0.8))
    finally:
        stop(loader)
        if loader.stdout is not None:
            loader.stdout.close()
        if loader.stderr is not None:
            loader.stderr.close()


def cold_start_direct(poll_s: float, limit: float) -> float:
    """ms from starting the app by hand to its first 200, polling it every `poll_s`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/small"
    start = time.perf_counter()
    proc = spawn([sys.executable, str(BACKEND_PY), "--port", str(port)])
    try:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if http_status(url, timeout=5) == 200:
                    return (time.perf_counter() - start) * 1000
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"backend exited with {proc.returncode}")
            time.sleep(poll_s)
        raise TimeoutError(f"not ready within {limit}s")
    finally:
        stop(proc)


class Skip(Exception):
    """This target cannot do this workload (for a reason that is not a failure of the bench)."""


def timed_get(url: str, headers: dict[str, str], limit: float) -> float:
    """ms for one GET that must answer 200 "ok"; Skip on 404 (no such route)."""
    req = urllib.request.Request(url, headers=headers)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=limit) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise Skip(f"{url.split('/', 3)[-1]} answered 404 (named apps not available)") from e
        raise RuntimeError(f"{url} answered {e.code}: {e.read()[:200]!r}") from e
    ms = (time.perf_counter() - start) * 1000
    if status != 200 or body != b"ok":
        raise RuntimeError(f"{url} answered {status} {body[:40]!r}")
    return ms


def stop_app_server(
    proc: subprocess.Popen[bytes], root: Path, tag: str, apps: str, notes: list[str]
) -> None:
    """Stop a Jupyter server that ran named apps (their command lines carry ``tag``), kill any
    app that outlived it, with a note naming ``apps``, and remove its directory."""
    stop(proc)
    time.sleep(0.2)  # a supervisor that stops its apps on shutdown has had time to do it
    left = kill_tagged(tag)
    if left:
        notes.append(
            f"{apps} outlived the Jupyter server "
            f"({left} process(es) left running; the bench killed them)"
        )
    shutil.rmtree(root, ignore_errors=True)


def cold_start_server(
    key: str, limit: float, notes: list[str], warm: list[float] | None = None
) -> float:
    """ms from the first request for a named app to its first 200, on a fresh Jupyter server.

    With `warm` (ours only), the app is then stopped through the lifecycle API and timed once
    more on the same, now warm, server; that time is appended to `warm`. The difference between
    the two shows one-time costs of the server's first proxied request (imports, pools)."""
    python, pythonpath = target_python(key)
    tag = f"jsp-bench-{secrets.token_hex(6)}"
    config = (
        "c.ServerProxy.servers = {'benchapp': {'command': "
        f"[{sys.executable!r}, {str(BACKEND_PY)!r}, '--port', '{{port}}', '--tag', {tag!r}], "
        "'timeout': 30}}\n"
    )
    proc, base, token, root = start_jupyter(python, config, pythonpath)
    headers = {"Authorization": f"token {token}"}
    try:
        wait_idle(proc.pid)
        ms = timed_get(base + "benchapp/small", headers, limit)
        if warm is not None:
            api = base + "server-proxy/api/servers/benchapp"
            req = urllib.request.Request(api, headers=headers, method="DELETE")
            try:
                with urllib.request.urlopen(req, timeout=limit) as r:
                    r.read()
            except urllib.error.HTTPError as e:
                notes.append(
                    f"ours: DELETE {api.split('/', 3)[-1]} answered {e.code}; "
                    "no warm-server cold start"
                )
            else:
                wait_idle(proc.pid)
                warm.append(timed_get(base + "benchapp/small", headers, limit))
        return ms
    finally:
        stop_app_server(proc, root, tag, f"{TARGET_NAMES[key]}: the named app", notes)


#: App start-up workload: (row title, app name, delay before it listens (s), on a unix socket).
#: The app is bench/delayed_app.py, the standard library only, so its own start is the
#: interpreter's plus the delay.
APP_STARTS = (
    ("app listening 50 ms after exec, TCP", "fast", 0.05, False),
    ("app listening 2 s after exec, TCP", "slow", 2.0, False),
    ("app listening 50 ms after exec, unix socket", "fastunix", 0.05, True),
    ("app listening 2 s after exec, unix socket", "slowunix", 2.0, True),
)
#: How long the direct client waits between two attempts: short beside anything measured,
#: long enough that the client does not take a core from the starting app.
DIRECT_TIGHT_POLL = 0.0005


def app_ok(address: str | tuple[str, int]) -> bool:
    """One ``GET /`` on a fresh connection: whether it answered 200 (False if refused)."""
    with socket.socket(socket.AF_UNIX if isinstance(address, str) else socket.AF_INET) as s:
        s.settimeout(5)
        try:
            s.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while data := s.recv(65536):
            answer += data
        return answer.startswith(b"HTTP/1.1 200 ")


def since_mark(mark: Path, now: float) -> float:
    """ms from the moment delayed_app.py wrote ``mark`` (it was listening) to ``now``."""
    return (now - float(mark.read_text())) * 1000


def app_start_direct(delay: float, unix: bool, limit: float) -> tuple[float, float]:
    """ms from exec of bench/delayed_app.py to its first 200, by a client that tries again
    every ``DIRECT_TIGHT_POLL`` seconds: the app's own start-up time; and ms from its listening
    to that 200."""
    sock_dir = Path(tempfile.mkdtemp(prefix="app-", dir=_TMP[0] if _TMP else None))
    mark = sock_dir / "mark"
    address: str | tuple[str, int] = (
        str(sock_dir / "socket") if unix else ("127.0.0.1", free_port())
    )
    where = ["--unix-socket", address] if isinstance(address, str) else ["--port", str(address[1])]
    args = [sys.executable, str(DELAYED_APP_PY), "--delay", str(delay), "--mark", str(mark), *where]
    start = time.monotonic()
    proc = spawn(args)
    try:
        deadline = start + limit
        while time.monotonic() < deadline:
            if app_ok(address):
                now = time.monotonic()
                return (now - start) * 1000, since_mark(mark, now)
            if proc.poll() is not None:
                raise RuntimeError(f"delayed_app.py exited with {proc.returncode}")
            time.sleep(DIRECT_TIGHT_POLL)
        raise TimeoutError(f"not ready within {limit}s")
    finally:
        stop(proc)
        shutil.rmtree(sock_dir, ignore_errors=True)


def app_starts_server(key: str, limit: float, notes: list[str]) -> dict[str, tuple[float, float]]:
    """ms from the first request to ``/<app>/`` to its 200, and from the app's listening to that
    200, for each app of ``APP_STARTS``, on one Jupyter server started for this call (the peer
    cannot stop an app, so each app starts once per server). A first app with no delay is
    requested first and not timed: what is timed is an app's start on a server that has
    proxied before, as a user meets it."""
    python, pythonpath = target_python(key)
    tag = f"jsp-bench-{secrets.token_hex(6)}"
    marks = Path(tempfile.mkdtemp(prefix="marks-", dir=_TMP[0] if _TMP else None))
    app = [sys.executable, str(DELAYED_APP_PY), "--tag", tag]
    servers = {"warmup": {"command": [*app, "--port", "{port}"], "timeout": 30}}
    for _, name, delay, unix in APP_STARTS:
        where = ["--unix-socket", "{unix_socket}"] if unix else ["--port", "{port}"]
        servers[name] = {
            "command": [*app, "--delay", str(delay), "--mark", str(marks / name), *where],
            "timeout": 30,
            **({"unix_socket": True} if unix else {}),
        }
    proc, base, token, root = start_jupyter(
        python, f"c.ServerProxy.servers = {servers!r}\n", pythonpath
    )
    headers = {"Authorization": f"token {token}"}
    out = {}
    try:
        wait_idle(proc.pid)
        timed_get(base + "warmup/", headers, limit)
        for _, name, _, _ in APP_STARTS:
            wait_idle(proc.pid)
            ms = timed_get(base + f"{name}/", headers, limit)
            out[name] = (ms, since_mark(marks / name, time.monotonic()))
        return out
    finally:
        stop_app_server(proc, root, tag, f"{TARGET_NAMES[key]}: apps", notes)
        shutil.rmtree(marks, ignore_errors=True)


@contextmanager
def py_spy(pid: int | None, out: Path) -> Iterator[None]:
    """Sample `pid` with py-spy (250 Hz, collapsed stacks to `out`) while the block runs."""
    if pid is None:
        yield
        return
    prof = spawn(
        ["py-spy", "record", "--pid", str(pid), "--rate", "250", "--nonblocking"]
        + ["--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # attached
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            prof.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            prof.wait(30)
        except subprocess.TimeoutExpired:
            pass
        stop(prof)


def summarize_profile(path: Path, top: int = 20) -> str:
    """Self and inclusive sample shares per function, from py-spy's collapsed stacks."""
    if not path.exists():
        return f"(no profile written to {path})"
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        if not n_text.isdigit():
            continue
        n = int(n_text)
        total += n
        frames = [f.split(":")[0] for f in stack.split(";")]  # "func (file" without the line
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    if not total:
        return "(no samples)"

    def short(f: str) -> str:
        name, _, file = f.partition(" (")
        return f"{name} ({'/'.join(file.split('/')[-2:])})" if file else name

    lines = [f"{total} samples. Self time, top {top}:"]
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f}%  {short(f)}")
    lines.append(f"Inclusive, jupyter_server_proxy frames, top {top}:")
    ours = [(f, n) for f, n in incl.items() if "jupyter_server_proxy" in f]
    for f, n in sorted(ours, key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * n / total:5.1f}%  {short(f)}")
    return "\n".join(lines)


# -- results -------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    title: str
    unit: str
    higher_is_better: bool = True
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # target -> rep -> value
    #: the proxy process's CPU time per unit of work (per MB moved, or per request)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: with --calls: Python calls on the server's main thread per MB, request or round trip
    calls: dict[str, float] = field(default_factory=dict)

    def add(self, target: str, rep: int, value: float, rss: float | None = None) -> None:
        self.values.setdefault(target, {})[rep] = value
        if rss is not None and rss == rss:
            self.rss.setdefault(target, []).append(rss)

    @property
    def cpu_unit(self) -> str:
        if self.unit == "MB/s":
            return "ms/MB"
        return "µs/round trip" if self.unit.startswith("round trip") else "µs/req"

    def add_cpu(self, target: str, cpu_s: float, units: float) -> float:
        per = cpu_s * (1e3 if self.unit == "MB/s" else 1e6) / max(units, 1e-9)
        self.cpu.setdefault(target, []).append(per)
        return per

    def has(self, target: str) -> bool:
        return bool(self.values.get(target))

    def median(self, target: str) -> float:
        return statistics.median(self.values[target].values())

    def ratio(self, a: str, b: str) -> tuple[float, float, float] | None:
        """median(a)/median(b), and the min and max of the per-repetition ratios."""
        if not (self.has(a) and self.has(b)) or not self.median(b):
            return None
        paired = [
            v / self.values[b][rep] for rep, v in self.values[a].items() if self.values[b].get(rep)
        ]
        r = self.median(a) / self.median(b)
        return (r, min(paired, default=r), max(paired, default=r))

    def peak_rss(self, target: str) -> float | None:
        vals = self.rss.get(target)
        return max(vals) if vals else None


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def check(row: Row) -> tuple[str, str]:
    """(verdict, what was checked with the measured values) against the issue's targets."""
    if not row.has("ours"):
        why = row.skipped.get("ours") or row.failures.get("ours") or "not measured"
        return ("SKIP" if "ours" in row.skipped or "ours" not in row.failures else "FAIL"), why
    parts: list[tuple[bool | None, str]] = []

    def vs(other: str, need: float) -> None:
        r = row.ratio("ours", other)
        if r is None:
            failed = other in row.failures
            # a comparator that cannot do the workload at all is beaten by one that can
            parts.append(
                (
                    True if failed else None,
                    f"≥ {need:g}× {other}: {other} " + ("failed" if failed else "not measured"),
                )
            )
        else:
            parts.append((r[0] >= need, f"{r[0]:.2f}× {other} (need ≥ {need:g}×)"))

    def rss_cap(cap: float) -> None:
        peak = row.peak_rss("ours")
        if peak is None:
            parts.append((None, "RSS not measured"))
        else:
            parts.append((peak <= cap, f"RSS +{peak:.1f} MiB (need ≤ {cap:g})"))

    if row.key == "download":
        rss_cap(32)
        vs("chp", 2)
    elif row.key == "tlsdownload":
        rss_cap(32)
        parts.append((None, "for information against chp"))
    elif row.key == "upload":
        rss_cap(32)
        vs("chp", 1)
    elif row.key == "small":
        vs(PEER, 2)
        vs("/api/status", 0.8)
    elif row.key == "ws32":
        vs("chp", 1)
    elif row.key == "ws1m":
        vs("chp", 1.5)
    elif row.key == "wsload":
        parts.append((None, "no target: for information"))
    elif row.key in ("coldstart", "appstart"):
        if row.has("direct"):
            over = row.median("ours") - row.median("direct")
            diffs = [
                v - row.values["direct"][rep]
                for rep, v in row.values["ours"].items()
                if rep in row.values["direct"]
            ]
            paired = (
                f"; per repetition {statistics.median(diffs):+.0f} [{min(diffs):+.0f} to "
                f"{max(diffs):+.0f}]"
                if diffs
                else ""
            )
            peer = (
                f"; {PEER} − direct = {row.median(PEER) - row.median('direct'):+.0f} ms"
                if row.has(PEER)
                else ""
            )
            parts.append((over <= 10, f"ours − direct = {over:+.0f} ms (need ≤ +10){paired}{peer}"))
        else:
            parts.append((None, "direct not measured"))
    oks = [ok for ok, _ in parts]
    verdict = "FAIL" if False in oks else ("PASS" if all(o is True for o in oks) else "n/a")
    return verdict, "; ".join(text for _, text in parts)


def versions() -> list[str]:
    import jupyter_server
    import tornado

    def run(args: list[str]) -> str:
        try:
            return subprocess.run(
                args, capture_output=True, text=True, timeout=30, env=clean_env()
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    cpu, mem = "unknown CPU", "?"
    with suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        from importlib.metadata import version

        ours = version("jupyter-server-proxy")
    except Exception:
        ours = "not installed"
    commit = run(["git", "-C", str(REPO), "describe", "--always", "--dirty"])
    lines = [
        f"- Machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu}, "
        f"{mem} RAM, Linux {platform.release()}",
        f"- Python {platform.python_version()}, jupyter_server {jupyter_server.__version__}, "
        f"tornado {tornado.version}, aiohttp {aiohttp.__version__} (backend; small GETs' client)",
        f"- ours: jupyter-server-proxy {ours} from {REPO} at {commit}",
    ]
    peer_py = venv_python(WORK / "peer-venv")
    if peer_py.exists():
        peer = run(
            [
                str(peer_py),
                "-c",
                "from importlib.metadata import version as v; "
                "print(v('jupyter-server-proxy'), v('jupyter_server'), v('tornado'))",
            ]
        ).split()
        if len(peer) == 3:
            lines.append(
                f"- peer: jupyter-server-proxy {peer[0]}, jupyter_server {peer[1]}, "
                f"tornado {peer[2]} (bench/.work/peer-venv)"
            )
    chp_pkg = WORK / "chp" / "node_modules" / "configurable-http-proxy" / "package.json"
    if chp_pkg.exists():
        chp = json.loads(chp_pkg.read_text()).get("version", "?")
        lines.append(f"- chp: configurable-http-proxy {chp}, node {run(['node', '--version'])}")
    return lines


def render(
    rows: list[Row], columns: list[str], reps: int, header: list[str], notes: list[str]
) -> str:
    base = TARGET_NAMES["base"]  # the --baseline revision's name, when it was measured
    out = [
        "# Benchmark results",
        "",
        *header,
        "",
        f"Repetitions per cell: {reps}, targets interleaved in a rotating order. Cells: median "
        "[min-max] over the repetitions, and the proxy process's peak RSS growth during the "
        "workload (the largest over the repetitions), and its CPU time (user + system, all "
        "threads; 10 ms ticks) per MB moved or per request, median: less sensitive to a busy "
        "machine than rates. Ratios: ours over the other target's "
        "median, with [min-max] of the per-repetition ratios.",
        "",
        "| workload | "
        + " | ".join(columns)
        + " | ours/direct | ours/peer | ours/chp"
        + (" | ours/base" if base in columns else "")
        + " | vs targets | result |",
        "|---" * (len(columns) + 6 + (base in columns)) + "|",
    ]
    for row in rows:
        cells = []
        for t in columns:
            if row.has(t):
                vals = row.values[t].values()
                cell = f"{fmt(row.median(t))} [{fmt(min(vals))}-{fmt(max(vals))}]"
            elif t in row.failures:
                cell = "failed (see notes)"
            elif t in row.skipped:
                cell = "skipped (see notes)"
            else:
                cell = "-"
            peak = row.peak_rss(t)
            if peak is not None and t != "direct":
                cell += f"<br>RSS +{peak:.1f} MiB"
            if row.cpu.get(t):
                cell += f"<br>CPU {fmt(statistics.median(row.cpu[t]))} {row.cpu_unit}"
            if t in row.calls:
                cell += f"<br>{fmt(row.calls[t])} calls/{row.cpu_unit.split('/', 1)[1]}"
            cells.append(cell)

        def ratio(other: str, row: Row = row) -> str:
            r = row.ratio("ours", other)
            return f"{r[0]:.2f}× [{r[1]:.2f}-{r[2]:.2f}]" if r else "-"

        verdict, text = check(row)
        out.append(
            f"| {row.title} ({row.unit}) | "
            + " | ".join(cells)
            + f" | {ratio('direct')} | {ratio(PEER)} | {ratio('chp')}"
            + (f" | {ratio(base)}" if base in columns else "")
            + f" | {text} | **{verdict}** |"
        )
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


# -- the run -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes and counts")
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="WORKLOAD",
        help="a subset of: " + " ".join(WORKLOADS) + " (space or comma separated)",
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["direct", "ours", "peer", "chp"],
        help="a subset of: direct ours peer chp (base is added by --baseline)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="REV",
        help="also run this repo's package as it was at git revision REV (target 'base'), for "
        "a before/after comparison in one run; the table gains an ours/base column",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 5, quick 3)")
    parser.add_argument(
        "--direct-poll-ms",
        type=float,
        default=5.0,
        help="cold start: how often the hand-started app is polled (default 5 ms)",
    )
    parser.add_argument(
        "--cpus",
        default=None,
        metavar="LIST",
        help="run everything (load generator, backend, every target) on these CPUs only, e.g. 0: "
        "each target's own cost without cross-CPU wake-ups; for diagnosis, not for the targets",
    )
    parser.add_argument(
        "--calls",
        action="store_true",
        help="after each workload, run it once more (untimed) on every Jupyter server target, "
        "counting the server's Python calls per unit (pycalls.py): a measure of the work done "
        "that this noisy machine does not move",
    )
    parser.add_argument("--out", default=str(HERE / "results.md"))
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each workload, run ours once more under py-spy (untimed); collapsed stacks "
        "go to bench/.work/profile-<workload>.txt and a summary to bench/.work/profile.md",
    )
    args = parser.parse_args()
    only = [w for item in (args.only or WORKLOADS) for w in item.split(",") if w]
    bad = [w for w in only if w not in WORKLOADS] + [
        t for t in args.targets if t not in TARGET_NAMES
    ]
    if bad:
        parser.error(f"unknown workload or target: {' '.join(bad)}")
    if "base" in args.targets and not args.baseline:
        parser.error("target base needs --baseline REV")
    if args.baseline:
        try:
            _BASELINE.append(ensure_baseline(args.baseline))
        except subprocess.CalledProcessError as e:
            parser.error(f"--baseline {args.baseline}: not a git revision here ({e.stderr})")
        if "base" not in args.targets:
            args.targets.append("base")
    if args.cpus:
        usable = os.sched_getaffinity(0)
        names = ",".join(map(str, sorted(usable)))
        try:
            cpus = {int(c) for c in args.cpus.split(",")}
        except ValueError:
            parser.error(f"--cpus {args.cpus}: a comma-separated list of CPU numbers ({names})")
        if not cpus <= usable:
            parser.error(f"--cpus {args.cpus}: this process may use CPUs {names} only")
        os.sched_setaffinity(0, cpus)  # inherited by every process and thread started from here on

    # SIGTERM (a timeout, a CI stop) unwinds like Ctrl-C, so `finally` stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in background
    quick = args.quick
    reps = args.reps or (3 if quick else 5)
    dl = (128 if quick else 1024) << 20
    ul = (128 if quick else 2048) << 20
    small_n = 2000 if quick else 6000
    ws_n = 2000 if quick else 6000
    wsbig_n = 48 if quick else 160
    began = time.monotonic()
    budget = RUN_BUDGET[quick]
    WORK.mkdir(exist_ok=True)
    _TMP.append(tempfile.mkdtemp(prefix="jsp-bench-"))
    notes: list[str] = []
    profiles: list[str] = []
    if args.profile and not shutil.which("py-spy"):
        parser.error("--profile needs py-spy on PATH (pip install py-spy)")
    load_before = os.getloadavg()

    backend_port = free_port()
    tls_port = free_port()
    tls_live: list[Target] = []
    targets: list[Target] = []
    rows: list[Row] = []
    raw: dict[str, object] = {}
    try:
        # setup first (idempotent, cached in bench/.work/), so no install lands inside a timing
        if "peer" in args.targets:
            ensure_peer()
        if "chp" in args.targets:
            ensure_chp()
        backend = spawn([sys.executable, str(BACKEND_PY), "--port", str(backend_port)])
        wait_http(f"http://127.0.0.1:{backend_port}/small", proc=backend)
        ours_config = ""
        tls = tls_files() if "tlsdownload" in only else None
        if "tlsdownload" in only and tls is None:
            notes.append("HTTPS download: not measured: trustme is not installed (test extras)")
        if tls is not None:
            tls_ca, tls_cert = tls
            tls_backend = [sys.executable, str(BACKEND_PY), "--port", str(tls_port)]
            spawn([*tls_backend, "--tls-cert", str(tls_cert)])
            wait_until_listening(tls_port)
            ours_config = upstream_tls_config(tls_port, tls_ca)
        needs_proxy_targets = any(w not in ("coldstart", "appstart") for w in only)
        for key in args.targets if needs_proxy_targets else []:
            try:
                t = start_target(key, backend_port, ours_config, args.calls)
            except Exception as e:
                notes.append(f"{TARGET_NAMES[key]}: could not start: {e}")
                continue
            if t.unavailable:
                notes.append(f"{t.name}: not measured: {t.unavailable}")
            targets.append(t)
        live = [t for t in targets if not t.unavailable]
        ours = next((t for t in live if t.key == "ours"), None)
        if tls is not None:
            tls_live = tls_targets(live, backend_port, tls_port, tls[0])

        plan: list[tuple[Row, Callable[[Target, float], Awaitable[tuple[float, float]]], bool]] = []
        if "download" in only:
            plan.append(
                (
                    Row("download", f"download {dl >> 20} MiB", "MB/s"),
                    lambda t, lim: download(t, dl, lim),
                    True,
                )
            )
        if "upload" in only:
            plan.append(
                (
                    Row("upload", f"upload {ul >> 20} MiB", "MB/s"),
                    lambda t, lim: upload(t, ul, lim),
                    True,
                )
            )
        if "small" in only:
            plan.append(
                (
                    Row("small", f"small GET, {CONCURRENCY} connections", "req/s"),
                    lambda t, lim: small_gets(t.url("small"), t.headers, small_n, lim),
                    True,
                )
            )
        if "ws32" in only:
            plan.append(
                (
                    Row("ws32", "websocket echo 32 B", "round trips/s"),
                    lambda t, lim: ws_echo(t, 32, ws_n, lim),
                    True,
                )
            )
        if "ws1m" in only:
            plan.append(
                (
                    Row("ws1m", "websocket echo 1 MiB", "MB/s"),
                    lambda t, lim: ws_echo(t, 1 << 20, wsbig_n, lim),
                    True,
                )
            )

        if "tlsdownload" in only and tls is not None:
            plan.append(
                (
                    Row("tlsdownload", f"HTTPS backend: download {dl >> 20} MiB", "MB/s"),
                    lambda t, lim: download(t, dl, lim),
                    True,
                )
            )

        if "wsload" in only:
            plan.append(
                (
                    Row("wsload", "websocket echo 32 B during a download", "round trips/s"),
                    lambda t, lim: ws_echo_under_download(t, ws_n, lim),
                    True,
                )
            )

        for row, fn, _ in plan:
            print(f"== {row.title}", flush=True)
            row_live = tls_live if row.key == "tlsdownload" else live
            for rep in range(reps):
                n = len(row_live)
                order = row_live[rep % n :] + row_live[: rep % n] if row_live else []
                for t in order:
                    if t.name in row.failures:
                        continue  # it failed once on this workload; don't wait on it again
                    if time.monotonic() - began > budget:
                        row.skipped.setdefault(t.name, "run time budget spent")
                        continue
                    rss: list[float] = [float("nan")]
                    t0 = time.monotonic()
                    cpu0 = cpu_ticks(t.pid) if t.pid else -1
                    try:
                        with rss_growth(t.pid) as rss:
                            value, units = asyncio.run(
                                asyncio.wait_for(fn(t, STEP_LIMIT), STEP_LIMIT)
                            )
                    except Exception as e:  # a target that cannot do the workload at all
                        reason = f"{type(e).__name__}: {str(e)[:160]}"
                        if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
                            reason = f"timed out after {STEP_LIMIT:.0f}s"
                        row.failures[t.name] = (
                            f"{reason} (after {time.monotonic() - t0:.1f}s, RSS +{rss[0]:.1f} MiB)"
                        )
                        if rss[0] == rss[0]:
                            row.rss.setdefault(t.name, []).append(rss[0])
                        print(f"   rep {rep + 1} {t.name:>11}: FAILED {reason}", flush=True)
                        continue
                    row.add(t.name, rep, value, rss[0])
                    cpu = ""
                    if t.pid and cpu0 >= 0 and row.key != "wsload":  # (that CPU is the download's)
                        per = row.add_cpu(t.name, (cpu_ticks(t.pid) - cpu0) / CLK_TCK, units)
                        cpu = f", CPU {fmt(per)} {row.cpu_unit}"
                    print(
                        f"   rep {rep + 1} {t.name:>11}: {fmt(value)} {row.unit}"
                        + (f", RSS +{rss[0]:.1f} MiB" if rss[0] == rss[0] else "")
                        + cpu,
                        flush=True,
                    )
                    if row.key == "small" and t is ours:
                        # the reference: jupyter_server's own authenticated handler, same server
                        ref_url = ours.base.split("proxy/")[0] + "api/status"
                        assert ours.pid is not None
                        cpu0 = cpu_ticks(ours.pid)
                        v, units = asyncio.run(
                            asyncio.wait_for(
                                small_gets(ref_url, ours.headers, small_n, STEP_LIMIT),
                                STEP_LIMIT,
                            )
                        )
                        row.add("/api/status", rep, v)
                        per = row.add_cpu(
                            "/api/status", (cpu_ticks(ours.pid) - cpu0) / CLK_TCK, units
                        )
                        print(
                            f"   rep {rep + 1} /api/status: {fmt(v)} req/s, "
                            f"CPU {fmt(per)} {row.cpu_unit}",
                            flush=True,
                        )
            for t in row_live:
                if t.pid:
                    print(f"   {t.name} RSS now {t.rss_mib():.0f} MiB", flush=True)
            if args.calls and row_live is live and row.key != "wsload":
                # one extra, untimed pass per Jupyter server: timings above are unperturbed
                for t in row_live:
                    if t.key not in ("ours", "base", "peer") or not row.has(t.name):
                        continue
                    assert t.pid is not None and t.root is not None

                    def work(
                        t: Target = t, fn: Callable[..., Awaitable[tuple[float, float]]] = fn
                    ) -> float:
                        return asyncio.run(asyncio.wait_for(fn(t, STEP_LIMIT), STEP_LIMIT))[1]

                    try:
                        row.calls[t.name] = pycalls.count_calls(t.pid, t.root, work)
                    except Exception as e:
                        notes.append(f"{row.title}: no call count for {t.name}: {e}")
                        continue
                    print(f"   {t.name:>11}: {fmt(row.calls[t.name])} calls per unit", flush=True)
            if args.profile and ours is not None and row.has("ours") and row_live is live:
                # one extra, untimed pass of ours under py-spy: timings above are unperturbed
                out = WORK / f"profile-{row.key}.txt"
                with py_spy(ours.pid, out):
                    with suppress(Exception):
                        asyncio.run(asyncio.wait_for(fn(ours, STEP_LIMIT), STEP_LIMIT))
                summary = summarize_profile(out)
                print(summary, flush=True)
                profiles.append(f"### {row.title}\n\n```\n{summary}\n```\n")
            rows.append(row)

        if "coldstart" in only:
            print("== named app cold start", flush=True)
            row = Row("coldstart", "named app: first request to first 200", "ms", False)
            keys = [k for k in ("direct", "ours", "peer", "base") if k in args.targets]
            # one start is noisier than a stream of requests: more repetitions (each ~4-8 s)
            cold_reps = args.reps or (5 if quick else 9)
            for rep in range(cold_reps):
                key_order = keys[rep % len(keys) :] + keys[: rep % len(keys)]
                for key in key_order:
                    name = TARGET_NAMES[key]
                    if name in row.failures or name in row.skipped:
                        continue
                    if time.monotonic() - began > budget:
                        row.skipped.setdefault(name, "run time budget spent")
                        continue
                    try:
                        if key == "direct":
                            ms = cold_start_direct(args.direct_poll_ms / 1000, 60)
                        elif key == "ours":
                            warm: list[float] = []
                            ms = cold_start_server(key, 60, notes, warm)
                            if warm:
                                row.add(WARM, rep, warm[0])
                        else:
                            ms = cold_start_server(key, 60, notes)
                    except Skip as e:
                        row.skipped[name] = str(e)
                        print(f"   rep {rep + 1} {name:>11}: SKIPPED {e}", flush=True)
                        continue
                    except Exception as e:
                        row.failures[name] = f"{type(e).__name__}: {str(e)[:300]}"
                        print(f"   rep {rep + 1} {name:>11}: FAILED {e}", flush=True)
                        continue
                    row.add(name, rep, ms)
                    print(f"   rep {rep + 1} {name:>11}: {ms:.0f} ms", flush=True)
                    if key == "ours" and rep in row.values.get(WARM, {}):
                        print(
                            f"   rep {rep + 1} {WARM}: {row.values[WARM][rep]:.0f} ms", flush=True
                        )
            notes.append(
                f"Cold start ({cold_reps} repetitions): direct = spawn the same backend by "
                f"hand and poll it every "
                f"{args.direct_poll_ms:g} ms; ours/peer = one GET /benchapp/small on a freshly "
                "started Jupyter server (each repetition starts a new server, because the peer "
                "cannot stop an app). Lower is better; the ratio is ours/direct in time. "
                f"'{WARM}': ours again on the same server after stopping the app through "
                "DELETE /server-proxy/api/servers/benchapp (one-time costs of the server's "
                "first proxied request excluded); for information, not checked."
            )
            rows.append(row)

        if "appstart" in only:
            print(
                "== app start-up: the app's own start against its first request through", flush=True
            )
            # Two rows per app: from exec (direct) or the request (through a server) to the
            # first 200, and from the app's listening to that 200: the same difference, without
            # the noise of the interpreter's start.
            app_rows = {
                name: Row("appstart", f"{title}: to first 200", "ms", False)
                for title, name, _, _ in APP_STARTS
            }
            after_listen = {
                name: Row("appstart", f"{title}: listening to first 200", "ms", False)
                for title, name, _, _ in APP_STARTS
            }
            keys = [k for k in ("direct", "ours", "peer", "base") if k in args.targets]
            app_reps = args.reps or (3 if quick else 5)
            for rep in range(app_reps):
                for key in keys[rep % len(keys) :] + keys[: rep % len(keys)]:
                    name = TARGET_NAMES[key]
                    first = next(iter(app_rows.values()))
                    if name in first.failures or name in first.skipped:
                        continue
                    if time.monotonic() - began > budget:
                        for r in [*app_rows.values(), *after_listen.values()]:
                            r.skipped.setdefault(name, "run time budget spent")
                        continue
                    try:
                        if key == "direct":
                            got = {
                                app: app_start_direct(delay, unix, 60)
                                for _, app, delay, unix in APP_STARTS
                            }
                        else:
                            got = app_starts_server(key, 60, notes)
                    except Skip as e:
                        for r in [*app_rows.values(), *after_listen.values()]:
                            r.skipped[name] = str(e)
                        print(f"   rep {rep + 1} {name:>11}: SKIPPED {e}", flush=True)
                        continue
                    except Exception as e:
                        for r in [*app_rows.values(), *after_listen.values()]:
                            r.failures[name] = f"{type(e).__name__}: {str(e)[:300]}"
                        print(f"   rep {rep + 1} {name:>11}: FAILED {e}", flush=True)
                        continue
                    for app, (ms, listened) in got.items():
                        app_rows[app].add(name, rep, ms)
                        after_listen[app].add(name, rep, listened)
                    print(
                        f"   rep {rep + 1} {name:>11}: "
                        + ", ".join(
                            f"{app} {ms:.1f} ms ({listened:.1f} after listening)"
                            for app, (ms, listened) in got.items()
                        ),
                        flush=True,
                    )
            notes.append(
                f"App start-up ({app_reps} repetitions): bench/delayed_app.py, which listens "
                "after a set delay and imports nothing but socket, sys and time. direct = ms "
                "from its exec to its first 200, tried again every "
                f"{DIRECT_TIGHT_POLL * 1000:g} ms by a raw-socket client; ours/peer = ms from "
                "the first GET /<app>/ to its 200, on a Jupyter server started for the "
                "repetition whose first proxied request (to another app) is done and untimed. "
                "'listening to first 200': ms from the moment the app listened (it writes "
                "time.monotonic() then) to that 200, without the interpreter's start-up. "
                "Lower is better; the check is ours − direct."
            )
            rows.extend(app_rows.values())
            rows.extend(after_listen.values())

        for row in rows:
            for name, why in row.failures.items():
                notes.append(f"{row.title}: {name} failed: {why}")
            for name, why in row.skipped.items():
                notes.append(f"{row.title}: {name} skipped: {why}")
            raw[row.key] = {
                "values": {t: list(v.values()) for t, v in row.values.items()},
                "cpu_per_unit": {"unit": row.cpu_unit, **row.cpu},
                "rss_mib": row.rss,
                "failures": row.failures,
                "skipped": row.skipped,
            }
        columns = [TARGET_NAMES[k] for k in args.targets]
        for extra in ("/api/status", WARM):
            if any(r.has(extra) for r in rows):
                columns.append(extra)
        if args.cpus:
            notes.insert(
                0,
                f"Pinned with --cpus {args.cpus}: the load generator, the backend and every target "
                "share these CPUs, so no message waits for a wake-up on another CPU and each "
                "target's own cost decides. A diagnostic: the targets are judged on a run "
                "without --cpus.",
            )
        if args.calls:
            notes.append(
                "calls/…: Python function calls on a Jupyter server's main thread (its event "
                "loop) per unit, counted by cProfile in one more, untimed pass after the timed "
                "ones (bench/pycalls.py). Unlike the rates, the count does not move with the "
                "machine's load; it misses time spent outside Python calls and on other "
                "threads (our websocket relay thread)."
            )
        load_after = os.getloadavg()
        notes.append(
            f"Load average (1/5/15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; "
            f"after: {' '.join(f'{x:.2f}' for x in load_after)}. Wall time "
            f"{(time.monotonic() - began) / 60:.1f} min. "
            "The load generators run in this process, on the same cores as the servers: lean "
            "blocking-socket clients (bench/lean.py) for downloads, uploads and websockets, "
            "aiohttp for small GETs. Absolute numbers understate every target; compare ratios "
            "measured in the same run."
        )
        header = [
            f"Run: `python bench/run.py {' '.join(sys.argv[1:])}`, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            *versions(),
        ]
        table = render(rows, columns, reps, header, notes)
        print()
        print(table)
        Path(args.out).write_text(table)
        (WORK / "last-run.json").write_text(json.dumps(raw, indent=1))
        print(f"written to {args.out} (raw values: {WORK / 'last-run.json'})")
        if profiles:
            (WORK / "profile.md").write_text("# py-spy profiles of ours\n\n" + "\n".join(profiles))
            print(f"profiles: {WORK / 'profile.md'}")
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        stop_all()
        for tmp in _TMP:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks: this proxy against direct access, jupyter-server-proxy 4.6.0 and
configurable-http-proxy, on the same workloads in the same run.

    python bench/run.py [--quick] [--only WORKLOAD ...] [--out bench/results.md]

Every target is measured the same way, repetitions interleave the targets, and the table gives the
median, the spread (min-max) and ratios, because this machine is noisy: compare ratios, not
absolute numbers. All traffic is on 127.0.0.1; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
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
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
BACKEND = [sys.executable, str(HERE / "backend.py")]
PEER_VERSION = "4.6.0"
#: No single measurement may run longer than this (seconds); the loops also have fixed counts.
STEP_LIMIT = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, headers: dict[str, str] | None = None, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {limit}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def rss_peak(pid: int | None) -> Iterator[list[int]]:
    """Poll the process's RSS every 20 ms; yields [growth KiB] filled in at exit."""
    result = [0]
    if pid is None:
        yield result
        return
    base = rss_kib(pid)
    peak = base
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss_kib(pid))

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        yield result
    finally:
        done.set()
        t.join()
        peak = max(peak, rss_kib(pid))
        result[0] = peak - base


# -- targets --------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    base: str  # URL prefix that maps to the backend root
    headers: dict[str, str] = field(default_factory=dict)
    pid: int | None = None  # the proxy process whose memory we watch
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, path: str, ws: bool = False) -> str:
        url = self.base + path
        return url.replace("http://", "ws://", 1) if ws else url

    def close(self) -> None:
        for p in self.procs:
            stop(p)


def jupyter_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for d in ("config", "data", "runtime"):
        (root / d).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_DATA_DIR=str(root / "data"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    return env


def start_jupyter(python: str, config: str = "") -> tuple[subprocess.Popen[bytes], str, str]:
    root = Path(tempfile.mkdtemp(prefix="jsp-bench-"))
    env = jupyter_env(root)
    (root / "config" / "jupyter_server_config.py").write_text(config)
    token = secrets.token_hex(16)
    port = free_port()
    args = [
        python,
        "-m",
        "jupyter_server",
        "--allow-root",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.log_level=WARN",
    ]
    log = open(root / "server.log", "wb")  # noqa: SIM115 (kept open for the child's life)
    proc = subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=root
    )
    base = f"http://127.0.0.1:{port}/"
    wait_http(base + "api/status", {"Authorization": f"token {token}"})
    return proc, base, token


def ensure_peer() -> str:
    venv = WORK / "peer-venv"
    python = venv / "bin" / "python"
    marker = venv / f".installed-{PEER_VERSION}"
    if not marker.exists():
        print(f"setting up jupyter-server-proxy {PEER_VERSION} in {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                f"jupyter-server-proxy=={PEER_VERSION}",
                "jupyter_server",
            ],
            check=True,
        )
        marker.touch()
    return str(python)


def ensure_chp() -> str:
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


def make_targets(backend_port: int, which: set[str]) -> list[Target]:
    backend = f"http://127.0.0.1:{backend_port}/"
    targets = []
    if "direct" in which:
        targets.append(Target("direct", backend))
    if "ours" in which:
        proc, base, token = start_jupyter(sys.executable)
        targets.append(
            Target(
                "ours",
                f"{base}proxy/{backend_port}/",
                {"Authorization": f"token {token}"},
                proc.pid,
                [proc],
            )
        )
    if "peer" in which:
        proc, base, token = start_jupyter(ensure_peer())
        targets.append(
            Target(
                "peer 4.6.0",
                f"{base}proxy/{backend_port}/",
                {"Authorization": f"token {token}"},
                proc.pid,
                [proc],
            )
        )
    if "chp" in which:
        port = free_port()
        proc = subprocess.Popen(
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
            ],
            start_new_session=True,
        )
        wait_http(f"http://127.0.0.1:{port}/small")
        targets.append(Target("chp", f"http://127.0.0.1:{port}/", {}, proc.pid, [proc]))
    return targets


# -- workloads (each returns (value, rss growth KiB)) -----------------------------------------


async def download(t: Target, size: int) -> tuple[float, int]:
    with rss_peak(t.pid) as rss:
        start = time.perf_counter()
        got = 0
        timeout = aiohttp.ClientTimeout(total=STEP_LIMIT)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as s:
            async with s.get(t.url(f"bytes/{size}"), headers=t.headers) as r:
                r.raise_for_status()
                async for chunk in r.content.iter_chunked(1 << 20):
                    got += len(chunk)
        elapsed = time.perf_counter() - start
    assert got == size, f"{t.name}: got {got} of {size} bytes"
    return size / elapsed / 1e6, rss[0]


async def upload(t: Target, size: int) -> tuple[float, int]:
    chunk = b"u" * (1 << 20)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(chunk)):
            yield chunk

    with rss_peak(t.pid) as rss:
        start = time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=STEP_LIMIT)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            async with s.post(t.url("sink"), headers=t.headers, data=body()) as r:
                r.raise_for_status()
                received = (await r.json())["received"]
        elapsed = time.perf_counter() - start
    assert received == size, f"{t.name}: backend got {received} of {size}"
    return size / elapsed / 1e6, rss[0]


async def small_gets(url: str, headers: dict[str, str], count: int, conc: int = 16) -> float:
    conn = aiohttp.TCPConnector(limit=conc)
    timeout = aiohttp.ClientTimeout(total=STEP_LIMIT)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:

        async def worker(n: int) -> None:
            for _ in range(n):
                async with s.get(url, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status

        # warm the pools first (not timed)
        await asyncio.gather(*(worker(2) for _ in range(conc)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(count // conc) for _ in range(conc)))
        return (count // conc * conc) / (time.perf_counter() - start)


async def ws_echo(t: Target, size: int, count: int) -> tuple[float, int]:
    payload = b"w" * size
    with rss_peak(t.pid) as rss:
        timeout = aiohttp.ClientTimeout(total=STEP_LIMIT)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            async with s.ws_connect(t.url("ws", ws=True), headers=t.headers, max_msg_size=0) as ws:
                await ws.send_bytes(payload)  # warm-up round trip
                await ws.receive_bytes()
                start = time.perf_counter()
                for _ in range(count):
                    await ws.send_bytes(payload)
                    echoed = await ws.receive_bytes()
                    assert len(echoed) == size
                elapsed = time.perf_counter() - start
    rate = count / elapsed if size <= 1024 else size * count / elapsed / 1e6
    return rate, rss[0]


def cold_start_ours_or_peer(python: str) -> float:
    """Milliseconds from the first request for a named app to its first 200."""
    config = (
        "import sys\n"
        "c.ServerProxy.servers = {'benchapp': {'command': "
        f"[{sys.executable!r}, {str(HERE / 'backend.py')!r}, '--port', '{{port}}'], "
        "'timeout': 30}}\n"
    )
    proc, base, token = start_jupyter(python, config)
    try:
        req = urllib.request.Request(
            base + "benchapp/small", headers={"Authorization": f"token {token}"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 200
        return (time.perf_counter() - start) * 1000
    finally:
        stop(proc)


def cold_start_direct() -> float:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([*BACKEND, "--port", str(port)], start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/small")
        return (time.perf_counter() - start) * 1000
    finally:
        stop(proc)


# -- the run ----------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    unit: str
    higher_is_better: bool
    values: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    rss: dict[str, list[int]] = field(default_factory=dict)
    check: Callable[[Row], tuple[bool, str]] | None = None

    def add(self, target: str, value: float, rss: int | None = None) -> None:
        self.values.setdefault(target, []).append(value)
        if rss is not None:
            self.rss.setdefault(target, []).append(rss)

    def median(self, target: str) -> float:
        return statistics.median(self.values[target])

    def ratio(self, a: str, b: str) -> float:
        """a over b; a target that could not do the workload at all counts as 0."""
        if b not in self.values:
            return float("inf")
        if a not in self.values:
            return 0.0
        return self.median(a) / self.median(b) if self.median(b) else float("nan")

    def peak_rss_mib(self, target: str) -> float:
        return max(self.rss.get(target, [0])) / 1024


def fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:,.2f}"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import jupyter_server
    import tornado

    return (
        f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, "
        f"tornado {tornado.version}, jupyter_server {jupyter_server.__version__}, "
        f"aiohttp {aiohttp.__version__}"
    )


def render(rows: list[Row], targets: list[str], reps: int) -> str:
    out = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}. Repetitions per cell: {reps} (targets interleaved).",
        "Cells: median [min-max]; RSS: the proxy process's peak growth during the workload.",
        "",
        "| workload | "
        + " | ".join(targets)
        + " | ours/peer | ours/chp | ours/direct | target | ok |",
        "|---" * (len(targets) + 6) + "|",
    ]
    for row in rows:
        cells = []
        for t in targets:
            if t in row.failures and t not in row.values:
                cells.append(f"failed: {row.failures[t]}")
                continue
            if t not in row.values:
                cells.append("-")
                continue
            vals = row.values[t]
            cell = f"{fmt(row.median(t))} [{fmt(min(vals))}-{fmt(max(vals))}]"
            if t in row.rss and t != "direct":
                cell += f"<br>RSS +{row.peak_rss_mib(t):.1f} MiB"
            cells.append(cell)

        def ratio(other: str, row: Row = row) -> str:
            if "ours" in row.values and other in row.values:
                r = row.ratio("ours", other)
                return f"{r:.2f}×"
            return "-"

        ok, goal = row.check(row) if row.check else (True, "")
        out.append(
            f"| {row.workload} ({row.unit}) | "
            + " | ".join(cells)
            + f" | {ratio('peer 4.6.0')} | {ratio('chp')} | {ratio('direct')} | {goal} | "
            + ("PASS" if ok else "FAIL")
            + " |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes and counts")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="workloads: download upload small ws32 ws1m coldstart",
    )
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument(
        "--targets",
        nargs="*",
        default=["direct", "ours", "peer", "chp"],
        help="a subset of: direct ours peer chp",
    )
    parser.add_argument("--out", default=str(HERE / "results.md"))
    args = parser.parse_args()
    # SIGTERM (a timeout, a CI stop) unwinds like Ctrl-C, so `finally` stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    quick = args.quick
    reps = args.reps or (3 if quick else 5)
    only = set(args.only or ["download", "upload", "small", "ws32", "ws1m", "coldstart"])
    dl = (128 if quick else 1024) << 20
    ul = (128 if quick else 2048) << 20
    small_n = 1600 if quick else 4800
    ws_n = 2000 if quick else 5000
    wsbig_n = 32 if quick else 128
    WORK.mkdir(exist_ok=True)

    backend_port = free_port()
    backend = subprocess.Popen([*BACKEND, "--port", str(backend_port)], start_new_session=True)
    targets: list[Target] = []
    rows: list[Row] = []
    try:
        wait_http(f"http://127.0.0.1:{backend_port}/small")
        targets = make_targets(backend_port, set(args.targets))
        names = [t.name for t in targets]
        ours = next(t for t in targets if t.name == "ours")

        def check_download(r: Row) -> tuple[bool, str]:
            return (
                r.peak_rss_mib("ours") <= 32 and r.ratio("ours", "chp") >= 2,
                "RSS ≤ 32 MiB, ≥ 2× chp",
            )

        def check_upload(r: Row) -> tuple[bool, str]:
            return (
                r.peak_rss_mib("ours") <= 32 and r.ratio("ours", "chp") >= 1,
                "RSS ≤ 32 MiB, ≥ 1× chp",
            )

        def check_small(r: Row) -> tuple[bool, str]:
            return (
                r.ratio("ours", "peer 4.6.0") >= 2
                and r.median("ours") >= 0.8 * statistics.median(r.values["/api/status"]),
                "≥ 2× peer, ≥ 0.8× /api/status",
            )

        def check_ws32(r: Row) -> tuple[bool, str]:
            return r.ratio("ours", "chp") >= 1, "≥ 1× chp"

        def check_ws1m(r: Row) -> tuple[bool, str]:
            return r.ratio("ours", "chp") >= 1.5, "≥ 1.5× chp"

        def check_cold(r: Row) -> tuple[bool, str]:
            return r.median("ours") <= r.median("direct") + 10, "≤ direct + 10 ms"

        plan: list[tuple[str, Row, Callable[[Target], tuple[float, int | None]]]] = []
        if "download" in only:
            plan.append(
                (
                    "download",
                    Row(f"download {dl >> 20} MiB", "MB/s", True, check=check_download),
                    lambda t: asyncio.run(download(t, dl)),
                )
            )
        if "upload" in only:
            plan.append(
                (
                    "upload",
                    Row(f"upload {ul >> 20} MiB", "MB/s", True, check=check_upload),
                    lambda t: asyncio.run(upload(t, ul)),
                )
            )
        if "small" in only:
            plan.append(
                (
                    "small",
                    Row("small GET, 16 connections", "req/s", True, check=check_small),
                    lambda t: (asyncio.run(small_gets(t.url("small"), t.headers, small_n)), None),
                )
            )
        if "ws32" in only:
            plan.append(
                (
                    "ws32",
                    Row("websocket echo 32 B", "round trips/s", True, check=check_ws32),
                    lambda t: asyncio.run(ws_echo(t, 32, ws_n)),
                )
            )
        if "ws1m" in only:
            plan.append(
                (
                    "ws1m",
                    Row("websocket echo 1 MiB", "MB/s", True, check=check_ws1m),
                    lambda t: asyncio.run(ws_echo(t, 1 << 20, wsbig_n)),
                )
            )

        for _key, row, fn in plan:
            print(f"== {row.workload}", flush=True)
            for rep in range(reps):
                for t in targets:
                    if t.name in row.failures:
                        continue  # it failed once on this workload; don't wait on it again
                    try:
                        value, rss = fn(t)
                    except Exception as e:  # a target that cannot do the workload at all
                        row.failures[t.name] = f"{type(e).__name__} {str(e)[:60]}"
                        print(f"   rep {rep + 1} {t.name:>11}: FAILED {e}", flush=True)
                        continue
                    row.add(t.name, value, rss)
                    print(
                        f"   rep {rep + 1} {t.name:>11}: {fmt(value)} {row.unit}"
                        + (f", RSS +{rss / 1024:.1f} MiB" if rss is not None else ""),
                        flush=True,
                    )
                if row.check is check_small:
                    base = ours.base.split("proxy/")[0]
                    v = asyncio.run(small_gets(base + "api/status", ours.headers, small_n))
                    row.add("/api/status", v)
                    print(f"   rep {rep + 1} /api/status: {fmt(v)} req/s", flush=True)
            rows.append(row)

        if "coldstart" in only:
            print("== named app cold start", flush=True)
            row = Row("named app: first request to first 200", "ms", False, check=check_cold)
            peer_python = ensure_peer()
            for _ in range(reps):
                row.add("direct", cold_start_direct())
                row.add("ours", cold_start_ours_or_peer(sys.executable))
                row.add("peer 4.6.0", cold_start_ours_or_peer(peer_python))
            rows.append(row)
        columns = names + (["/api/status"] if any("/api/status" in r.values for r in rows) else [])
        table = render(rows, columns, reps)
        print()
        print(table)
        Path(args.out).write_text(table)
        print(f"written to {args.out}")
    finally:
        for t in targets:
            t.close()
        stop(backend)


if __name__ == "__main__":
    main()

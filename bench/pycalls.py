"""Python function calls per unit of work in a Jupyter server target (``run.py --calls``).

Rates and CPU time on a shared 2-core machine move by tens of percent between identical runs;
the number of Python calls a server makes for the same work does not. It shows a change in
how much the code does, which noise cannot hide, and stays blind to what costs time outside
Python calls (C code, the kernel, the network stack), which the rates show.

The server's config gets ``HOOK``: one signal starts ``cProfile`` on the server's main thread
(where the asyncio loop runs), another stops it and writes the stats. Work on other threads (our
websocket relay thread) is not counted, so a websocket row compares the loop's share only.
"""

from __future__ import annotations

import os
import pstats
import signal
import time
from collections.abc import Callable
from pathlib import Path

START = signal.SIGRTMIN + 1
STOP = signal.SIGRTMIN + 2
#: The file name the server writes its stats to, in its own directory (its working directory).
STATS = "calls.pstats"

#: Appended to a target's jupyter_server_config.py (config files are Python, run at start-up on
#: the main thread, where signal handlers must be set).
HOOK = f"""
import cProfile as _cp, os as _os, signal as _sg
_bench_prof = []
def _bench_start(*_):
    _bench_prof[:] = [_cp.Profile()]
    _bench_prof[0].enable()
def _bench_stop(*_):
    if _bench_prof:
        _bench_prof[0].disable()
        _bench_prof[0].dump_stats(_os.path.join(_os.getcwd(), {STATS!r} + ".tmp"))
        _os.replace({STATS!r} + ".tmp", {STATS!r})
_sg.signal({int(START)}, _bench_start)
_sg.signal({int(STOP)}, _bench_stop)
"""


def count_calls(pid: int, cwd: Path, work: Callable[[], float], limit: float = 30.0) -> float:
    """Calls per unit while ``work()`` runs (it returns how many units it did)."""
    stats = cwd / STATS
    stats.unlink(missing_ok=True)
    os.kill(pid, START)
    time.sleep(0.2)  # the handler runs at the loop's next turn
    try:
        units = work()
    finally:
        os.kill(pid, STOP)
    deadline = time.monotonic() + limit
    while not stats.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no call counts from pid {pid} within {limit:.0f}s")
        time.sleep(0.1)
    calls = sum(entry[1] for entry in pstats.Stats(str(stats)).stats.values())  # type: ignore[attr-defined]
    return calls / max(units, 1e-9)

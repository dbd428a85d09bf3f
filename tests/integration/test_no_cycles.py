"""A proxied request leaves no reference cycle behind: its handler, request and connection are
freed when it ends, not later by the cyclic garbage collector.

Why it matters: a cycle through the handler keeps each request's whole object graph (request,
connection, headers, cookies, futures) until a collection, and those collections then cost a
busy server more CPU than the proxying itself (a handler that kept an adapter pointing back to
it once made small requests about a tenth slower). The server under test saves what the
collector finds (``gc.DEBUG_SAVEALL``) and reports the types on a signal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Backend, JupyterServer, wait_until

REPORT_SIGNAL = signal.SIGRTMIN + 3

CONFIG = """
import collections, gc, json, os, signal
gc.set_debug(gc.DEBUG_SAVEALL)

def _report(*_):
    gc.collect()
    found = collections.Counter(type(o).__name__ for o in gc.garbage)
    gc.garbage.clear()
    path = os.environ["JSP_GC_REPORT"]
    with open(path + ".tmp", "w") as f:
        json.dump(found, f)
    os.replace(path + ".tmp", path)

signal.signal(signal.SIGRTMIN + 3, _report)
"""

#: Types of one request's graph; none may be found by the collector.
PER_REQUEST = {"LocalProxyHandler", "HTTPServerRequest", "HTTP1Connection", "HTTPHeaders"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("srv")
    s = JupyterServer(root, CONFIG, env={"JSP_GC_REPORT": str(root / "gc.json")}).start()
    yield s
    s.stop()


def _collected(server: JupyterServer) -> dict[str, int]:
    report = Path(server.root / "gc.json")
    report.unlink(missing_ok=True)
    assert server.proc is not None
    os.kill(server.proc.pid, REPORT_SIGNAL)
    wait_until(report.exists, "the server's garbage report", 30)
    found: dict[str, int] = json.loads(report.read_text())
    return found


async def _traffic(server: JupyterServer, backend: Backend) -> None:
    async with aiohttp.ClientSession(headers=server.auth) as s:
        for i in range(20):
            async with s.get(server.url(f"proxy/{backend.port}/echo/{i}")) as r:
                assert r.status == 200
                await r.read()
            async with s.post(server.url(f"proxy/{backend.port}/sink"), data=b"x" * 70000) as r:
                assert r.status == 200
                await r.read()
            async with s.get(server.url(f"proxy/{backend.port}/bytes/300000")) as r:
                assert len(await r.read()) == 300000


def test_proxied_requests_leave_no_cycles(server: JupyterServer, backend: Backend) -> None:
    asyncio.run(_traffic(server, backend))  # a first round: whatever start-up leaves
    _collected(server)
    asyncio.run(_traffic(server, backend))
    found = _collected(server)
    assert not {name: n for name, n in found.items() if name in PER_REQUEST}, found

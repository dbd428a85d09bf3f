"""``ProxyHandler`` subclassed the way dask uses it.

dask's ``distributed`` mounts a subclass in the scheduler's plain tornado application (no Jupyter
settings at all): it replaces ``initialize``, ``get_current_user`` and ``prepare`` without calling
super, appends the worker's host to ``self.host_allowlist`` per request, and calls
``proxy(port, path)`` with the port as the route's string. dask-labextension mounts one inside the
Jupyter server (the ``compat_embed`` extension of conftest.py) with an int port.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from compat_support import (
    JupyterServer,
    browser_ws_headers,
    connects,
    free_port,
    request,
    stop_process,
    wait_until,
)

SCHEDULER_LIKE = textwrap.dedent(
    """
    import asyncio, sys
    from tornado import web
    from jupyter_server_proxy.handlers import ProxyHandler

    class GlobalProxyHandler(ProxyHandler):
        def initialize(self, dask_server=None, extra=None):
            self.scheduler = dask_server
            self.extra = extra or {}

        def get_current_user(self):
            return "dask"

        async def prepare(self):
            web.authenticated(lambda rq: None)(self)

        async def http_get(self, port, host, proxied_path):
            self.host = host
            self.request.uri = f"/proxy/{port}/{proxied_path}"
            if self.host not in self.host_allowlist:
                self.host_allowlist.append(self.host)
            return await self.proxy(port, f"/{proxied_path}")

        async def open(self, port, host, proxied_path):
            if host not in self.host_allowlist:
                self.host_allowlist.append(host)
            return await self.proxy_open(host, port, proxied_path)

        def post(self, port, proxied_path):
            return self.proxy(port, proxied_path)

        def proxy(self, port, proxied_path):
            return super().proxy(self.host, port, proxied_path)

    async def main():
        routes = [(r"/proxy/(\\d+)/(.*?)/(.*)", GlobalProxyHandler, {"dask_server": object()})]
        web.Application(routes).listen(int(sys.argv[1]), "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The scheduler-like app, running; yields its port and its log file."""
    d = tmp_path_factory.mktemp("scheduler")
    (d / "app.py").write_text(SCHEDULER_LIKE)
    port, log = free_port(), d / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(d / "app.py"), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: connects(port) or proc.poll() is not None, "scheduler-like app")
        assert proc.poll() is None, log.read_text()
        yield port, log
    finally:
        stop_process(proc)


def test_scheduler_like_http(scheduler: tuple[int, Path], backend_port: int) -> None:
    port, _ = scheduler
    r = request(f"http://127.0.0.1:{port}/proxy/{backend_port}/127.0.0.1/status/x?q=1")
    assert r.status == 200, r.body[:500]
    doc = r.json()
    assert doc["path"] == "/status/x" and doc["query"] == "q=1"  # type: ignore[index]


async def _ws_status(url: str, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        try:
            async with s.ws_connect(url, headers=headers) as ws:
                hello = json.loads(await asyncio.wait_for(ws.receive_str(), 30))
                await ws.send_str("ping-text")
                assert await asyncio.wait_for(ws.receive_str(), 30) == "ping-text"
                return 101, hello["path"]
        except aiohttp.WSServerHandshakeError as e:
            return e.status, ""


def test_scheduler_like_same_origin_websocket(
    scheduler: tuple[int, Path], backend_port: int
) -> None:
    """A browser's same-origin websocket through the scheduler's proxy is accepted."""
    port, _ = scheduler
    url = f"ws://127.0.0.1:{port}/proxy/{backend_port}/127.0.0.1/ws/bk"
    headers = browser_ws_headers(f"http://127.0.0.1:{port}")
    assert asyncio.run(_ws_status(url, headers)) == (101, "/ws/bk")


def test_scheduler_like_foreign_origin_websocket(
    scheduler: tuple[int, Path], backend_port: int
) -> None:
    """A foreign Origin stays refused, with 403, and the app logs no traceback for it."""
    port, log = scheduler
    url = f"ws://127.0.0.1:{port}/proxy/{backend_port}/127.0.0.1/ws"
    headers = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert asyncio.run(_ws_status(url, headers))[0] == 403
    assert "Traceback" not in log.read_text(errors="replace")


def test_labextension_like_handler(server: JupyterServer, backend_port: int) -> None:
    """A ProxyHandler subclass inside Jupyter, calling ``proxy(host, int_port, path)``."""
    r = server.get(f"dashboard-like/{backend_port}/individual-plots.json")
    assert r.status == 200, r.body[:500]
    assert r.json()["path"] == "/individual-plots.json"  # type: ignore[index]
    r = server.get(f"dashboard-like/{backend_port}/post", method="POST", body=b"abc")
    assert r.json()["body_length"] == 3  # type: ignore[index]


def test_trame_like_named_handler(server: JupyterServer, backend_port: int) -> None:
    """A NamedLocalProxyHandler subclass with port, mappath (adding a query) and proxy_base set
    in ``__init__``: the app gets the mapped path and query, and the context of proxy_base."""
    r = server.get("trame-like/abc/")
    assert r.status == 200, r.body[:500]
    doc = r.json()
    assert doc["path"] == "/"  # type: ignore[index]
    assert doc["query"] == "secret=k3y&disableSharedArrayBuffer=1"  # type: ignore[index]
    assert r.header_values("X-Forwarded-Prefix") == ["/base/trame-like/abc"]
    assert server.get("trame-like/abc/x.js").json()["path"] == "/x.js"  # type: ignore[index]


def test_subclass_get_request_headers_override(server: JupyterServer, backend_port: int) -> None:
    """A subclass's ``get_request_headers_override()`` adds headers to the proxied request."""
    r = server.get(f"subclass-headers/{backend_port}/h")
    assert r.status == 200, r.body[:500]
    assert r.header_values("X-From-Subclass") == ["yes"]


def test_labextension_like_websocket(server: JupyterServer, backend_port: int) -> None:
    url = server.url(f"dashboard-like/{backend_port}/ws/x").replace("http://", "ws://")
    headers = {
        "Cookie": server.login_cookie(),
        **browser_ws_headers(f"http://127.0.0.1:{server.port}"),
    }
    assert asyncio.run(_ws_status(url, headers)) == (101, "/ws/x")

"""ProxyHandler subclasses in a plain tornado app, the way dask's scheduler mounts them.

dask's ``GlobalProxyHandler`` replaces ``initialize`` and ``get_current_user`` without calling
super, maps its own route arguments in ``http_get``/``open``, and calls ``proxy`` with two
arguments. None of Jupyter's settings exist in that app.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import urlopen

import aiohttp
import pytest
import tornado

from tests.conftest import Backend, _connects, free_port, stop_process, wait_until
from tests.integration.test_websocket_handshake import browser_websocket

APP = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from tornado import web
    from jupyter_server_proxy.handlers import ProxyHandler

    class GlobalProxyHandler(ProxyHandler):
        def initialize(self, dask_server=None, extra=None):
            self.scheduler = dask_server
            self.extra = extra or {}

        def get_current_user(self):
            return "dask"

        async def prepare(self):
            pass

        async def http_get(self, port, host, proxied_path):
            self.host = host
            self.request.uri = "/rewritten/by/subclass"
            return await self.proxy(port, "/" + proxied_path)

        async def open(self, port, host, proxied_path):
            return await self.proxy_open(host, port, "/" + proxied_path)

        def post(self, port, host, proxied_path):
            self.host = host
            return self.proxy(port, "/" + proxied_path)

        def proxy(self, port, proxied_path):
            return super().proxy(self.host, port, proxied_path)

    class BlockHandler(web.RequestHandler):
        # Blocks the server's event loop until a file appears (for at most 30 s).

        def get(self):
            open(self.get_argument("blocked"), "w").close()
            release = self.get_argument("release")
            deadline = time.monotonic() + 30
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.01)
            self.write("released")

    async def main():
        route = (r"/proxy/(\\d+)/(.*?)/(.*)", GlobalProxyHandler, {"dask_server": object()})
        app = web.Application(
            [route, (r"/block", BlockHandler)], trusted_origins=["http://trusted.example"]
        )
        app.listen(int(sys.argv[1]), "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@contextmanager
def plain_tornado_app(tmp_path: Path, source: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Run ``source`` (a script that serves a plain tornado app on the port in ``argv[1]``)
    under ``-W error``, so importing our handlers must be silent; stopped on exit."""
    script = tmp_path / "app.py"
    script.write_text(source)
    port = free_port()
    with open(tmp_path / "app.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-W", "error", str(script), str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: _connects(port) or proc.poll() is not None, "plain tornado app")
        assert proc.poll() is None, (tmp_path / "app.log").read_text()
        yield port, proc
    finally:
        stop_process(proc)


@pytest.fixture
def app_port(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The plain tornado app above, running; importing the handlers under -W error is silent."""
    with plain_tornado_app(tmp_path, APP) as (port, proc):
        yield port, proc
        assert proc.poll() is None


def test_dask_style_subclass_in_plain_tornado(
    app_port: tuple[int, subprocess.Popen[bytes]], backend: Backend
) -> None:
    """GET, POST and a websocket work through a dask-style subclass, with no Jupyter settings."""
    port, _ = app_port

    async def go() -> None:
        base = f"http://127.0.0.1:{port}/proxy/{backend.port}/127.0.0.1"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/echo/x?q=1") as r:
                assert r.status == 200, await r.text()
                doc = json.loads(await r.read())
                assert doc["path"] == "/echo/x" and doc["query"] == "q=1"
            async with s.post(f"{base}/sink", data=b"abc") as r:
                assert (await r.json())["received"] == 3
            async with s.ws_connect(
                f"ws://127.0.0.1:{port}/proxy/{backend.port}/127.0.0.1/ws"
            ) as ws:
                await ws.send_str("hi")
                assert await ws.receive_str() == "hi"

    asyncio.run(go())


def test_websocket_messages_pass_while_the_server_loop_is_blocked(
    app_port: tuple[int, subprocess.Popen[bytes]], backend: Backend, tmp_path: Path
) -> None:
    """Between two plain sockets the relay runs on its own thread: messages keep passing while
    a handler blocks the server's event loop (before, they waited for it)."""
    port, _ = app_port
    blocked, release = tmp_path / "blocked", tmp_path / "release"
    block_url = f"http://127.0.0.1:{port}/block?blocked={blocked}&release={release}"

    async def go() -> None:
        url = f"ws://127.0.0.1:{port}/proxy/{backend.port}/127.0.0.1/ws"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_str("before")
            assert await ws.receive_str() == "before"
            blocker = asyncio.ensure_future(asyncio.to_thread(urlopen, block_url, timeout=60))
            await asyncio.to_thread(wait_until, blocked.exists, "the server loop to block")
            try:
                for i in range(50):
                    await ws.send_str(f"m{i}")
                    assert await asyncio.wait_for(ws.receive_str(), 20) == f"m{i}"
                assert not blocker.done()  # so all of that passed while the loop was blocked
            finally:
                release.touch()
            assert (await blocker).read() == b"released"

    asyncio.run(go())


@pytest.mark.parametrize("site", ["same-origin", None], ids=["fetch-metadata", "origin-only"])
def test_same_origin_browser_websocket_opens_in_a_plain_tornado_app(
    app_port: tuple[int, subprocess.Popen[bytes]], backend: Backend, site: str | None
) -> None:
    """A page's own websocket (Origin equal to Host) opens through a dask-style subclass, on
    every tornado: 6.6 compares them before ``check_origin``, which then says no to all else."""
    port, _ = app_port
    path = f"/proxy/{backend.port}/127.0.0.1/ws"
    status, body = asyncio.run(browser_websocket(port, path, site=site))
    assert status == 101, body


@pytest.mark.parametrize("site", ["cross-site", None], ids=["fetch-metadata", "origin-only"])
def test_foreign_origin_gets_a_plain_403_page_in_a_plain_tornado_app(
    app_port: tuple[int, subprocess.Popen[bytes]],
    backend: Backend,
    tmp_path: Path,
    site: str | None,
) -> None:
    """Another origin's websocket is refused with tornado's own 403 page: the error page needs
    none of Jupyter's template settings (no ``KeyError: 'jinja2_env'``)."""
    port, _ = app_port
    path = f"/proxy/{backend.port}/127.0.0.1/ws"
    status, body = asyncio.run(browser_websocket(port, path, "http://evil.example", site))
    assert status == 403 and b"403: Forbidden" in body
    log = (tmp_path / "app.log").read_text(errors="replace")
    assert "Traceback" not in log and "jinja2_env" not in log, log


@pytest.mark.skipif(
    tornado.version_info < (6, 6), reason="the trusted_origins setting is new in tornado 6.6"
)
def test_trusted_origins_setting_lets_that_origin_in(
    app_port: tuple[int, subprocess.Popen[bytes]], backend: Backend
) -> None:
    """In a plain tornado app, tornado's own rule decides about other origins: an origin in the
    ``trusted_origins`` setting may open a websocket."""
    port, _ = app_port
    path = f"/proxy/{backend.port}/127.0.0.1/ws"
    status, body = asyncio.run(
        browser_websocket(port, path, "http://trusted.example", "cross-site")
    )
    assert status == 101, body

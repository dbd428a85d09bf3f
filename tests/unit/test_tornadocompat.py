"""Each tornado or jupyter_server internal that ``tornadocompat`` relies on, checked against the
installed release: a release that changes one fails here, not at a user's upload.

The handlers run in a real tornado ``HTTPServer`` on loopback, fed by a plain socket client, so
what is checked is what a real request meets."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import jupyter_server
import pytest
from jupyter_server.base.handlers import JupyterHandler
from tornado import httpserver, netutil, web
from tornado.iostream import IOStream

from jupyter_server_proxy.web import tornadocompat

#: What each test handler saw, by name.
Seen = dict[str, Any]
GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


async def exchange(
    handler: type[web.RequestHandler],
    request: bytes,
    seen: Seen,
    *,
    settings: dict[str, Any] | None = None,
    server_options: dict[str, Any] | None = None,
) -> bytes:
    """Serve ``handler`` at ``/``, send ``request`` on a fresh connection, and return every byte
    the server sends until it closes the connection (requests say ``Connection: close``); the
    handler sets ``seen["done"]`` when it has seen what it records."""
    app = web.Application([(r"/", handler, {"seen": seen})], **(settings or {}))
    server = httpserver.HTTPServer(app, **(server_options or {}))
    [sock] = netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    server.add_sockets([sock])
    port = sock.getsockname()[1]
    done = seen["done"] = asyncio.Event()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        got = bytearray()

        async def read_all() -> None:
            while chunk := await reader.read(1 << 16):
                got.extend(chunk)

        await asyncio.wait_for(read_all(), 10)
        await asyncio.wait_for(done.wait(), 10)
        writer.close()
        return bytes(got)
    finally:
        server.stop()
        await server.close_all_connections()


class Recording(web.RequestHandler):
    def initialize(self, seen: Seen) -> None:
        self.seen = seen


def test_headers_written_and_finished_follow_flush_and_finish() -> None:
    """``_headers_written`` turns true with the first flush, ``_finished`` with ``finish()``."""

    class Handler(Recording):
        async def get(self) -> None:
            self.seen["before"] = tornadocompat.headers_written(self)
            self.write(b"x")
            self.seen["written, not flushed"] = tornadocompat.headers_written(self)
            await self.flush()
            self.seen["flushed"] = tornadocompat.headers_written(self)
            self.seen["unfinished"] = tornadocompat.is_finished(self)
            self.finish()
            self.seen["finished"] = tornadocompat.is_finished(self)
            self.seen["done"].set()

    seen: Seen = {}
    asyncio.run(exchange(Handler, GET, seen))
    assert seen["before"] is False and seen["written, not flushed"] is False
    assert seen["flushed"] is True
    assert seen["unfinished"] is False and seen["finished"] is True


def test_abort_client_cuts_the_response_and_marks_it_finished() -> None:
    """``request.connection.stream`` is the client's stream: closing it ends the connection in
    the middle of a body, and a finished mark keeps tornado from completing the response."""

    class Handler(Recording):
        async def get(self) -> None:
            self.set_header("Content-Length", "10")
            self.write(b"12345")
            await self.flush()
            tornadocompat.abort_client(self)
            self.seen["finished"] = tornadocompat.is_finished(self)
            self.seen["done"].set()

    seen: Seen = {}
    got = asyncio.run(exchange(Handler, GET, seen))
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"12345"
    assert seen["finished"] is True


def test_early_bytes_are_what_follows_the_request_head() -> None:
    """After ``detach()``, ``_read_buffer`` holds what the client sent behind its request head,
    unread (a websocket client's first frame)."""

    class Handler(Recording):
        def get(self) -> None:
            stream = self.detach()
            self.seen["early"] = tornadocompat.early_bytes(stream)
            stream.close()
            self.seen["done"].set()

    seen: Seen = {}
    request = GET + b"\x81\x85frame"
    asyncio.run(exchange(Handler, request, seen))
    assert seen["early"] == b"\x81\x85frame"


def test_early_bytes_of_a_fresh_stream_are_none() -> None:
    async def go() -> bytes:
        a, b = socket.socketpair()
        stream = IOStream(a)
        try:
            return tornadocompat.early_bytes(stream)
        finally:
            stream.close()
            b.close()

    assert asyncio.run(go()) == b""


def streaming_handler(seen: Seen) -> type[web.RequestHandler]:
    @web.stream_request_body
    class Handler(Recording):
        def prepare(self) -> None:
            connection = self.request.connection
            self.seen["server params"] = connection.params  # type: ignore[union-attr]
            changed = tornadocompat.stream_bodies_of_any_size(self.request, 1 << 20, 1 << 62)
            self.seen["changed"] = changed
            self.seen["chunk_size"] = connection.params.chunk_size  # type: ignore[union-attr]
            self.seen["received"] = 0

        def data_received(self, chunk: bytes) -> None:
            self.seen["received"] += len(chunk)

        def put(self) -> None:
            self.finish(b"%d" % self.seen["received"])

        def on_finish(self) -> None:
            changed = self.seen["changed"]
            if changed is not None:
                tornadocompat.restore_read_size(changed)
                self.seen["read size after"] = changed[0].read_chunk_size
            self.seen["done"].set()

    return Handler


def test_streamed_bodies_lift_max_body_size_and_read_in_large_chunks() -> None:
    """``set_max_body_size`` lifts the server's limit for this request; ``params.chunk_size``
    (on this connection's own copy) and ``stream.read_chunk_size`` set how much is read at once;
    the read size goes back when the request ends."""
    seen: Seen = {}
    body = b"x" * 200_000
    request = (
        b"PUT / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    got = asyncio.run(
        exchange(
            streaming_handler(seen),
            request,
            seen,
            server_options={"max_body_size": 1000, "chunk_size": 65536},
        )
    )
    assert got.startswith(b"HTTP/1.1 200") and got.endswith(b"\r\n\r\n200000")
    stream, before = seen["changed"]
    assert before == 65536 and seen["read size after"] == 65536
    assert seen["chunk_size"] == 1 << 20
    assert seen["server params"].chunk_size == 65536  # the server's own parameters untouched


def test_a_request_without_a_body_changes_no_read_size() -> None:
    seen: Seen = {}
    request = b"PUT / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    got = asyncio.run(exchange(streaming_handler(seen), request, seen))
    assert got.startswith(b"HTTP/1.1 200") and seen["changed"] is None
    assert seen["chunk_size"] == 65536


def test_prepare_takes_the_redirect_flag_from_jupyter_server_2_13() -> None:
    """``JupyterHandler.prepare(_redirect_to_login=False)`` came with jupyter_server 2.13."""
    version = tuple(int(p) for p in jupyter_server.__version__.split(".")[:2])
    assert tornadocompat.prepare_takes_redirect_flag() is (version >= (2, 13))


def test_the_authenticating_mark_is_the_one_jupyter_server_reads() -> None:
    """jupyter_server recognises an authenticating method by ``__allow_unauthenticated``."""
    import inspect

    from jupyter_server.base import handlers

    def method() -> None: ...

    tornadocompat.mark_authenticating(method)
    assert getattr(method, "__allow_unauthenticated") is False  # noqa: B009
    version = tuple(int(p) for p in jupyter_server.__version__.split(".")[:2])
    if version >= (2, 13):
        assert "__allow_unauthenticated" in inspect.getsource(handlers.JupyterHandler.prepare)


def origin_handler(origins: list[str]) -> type[web.RequestHandler]:
    class Handler(Recording):
        def get(self) -> None:
            self.seen["trusted"] = [tornadocompat.trusted_origin(self, o) for o in origins]
            self.finish()
            self.seen["done"].set()

    return Handler


def test_trusted_origins_are_tornados_setting_from_6_6() -> None:
    """Tornado 6.6's ``trusted_origins`` setting, read through ``check_trusted_origin``; before
    6.6 no origin is trusted."""
    import tornado

    seen: Seen = {}
    handler = origin_handler(["http://trusted.test", "http://other.test"])
    settings = {"trusted_origins": ["http://trusted.test"]}
    asyncio.run(
        exchange(
            handler,
            GET,
            seen,
            settings=settings,
        )
    )
    expected = [True, False] if tornado.version_info >= (6, 6) else [False, False]
    assert seen["trusted"] == expected


def test_jupyter_prepare_without_the_flag_redirects_as_before(monkeypatch: Any) -> None:
    """A jupyter_server before 2.13 (its ``prepare`` without the flag) is called without it."""
    calls: list[dict[str, Any]] = []

    def prepare(self: Any) -> None:
        calls.append({})

    monkeypatch.setattr(JupyterHandler, "prepare", prepare)
    tornadocompat.prepare_takes_redirect_flag.cache_clear()
    try:
        tornadocompat.jupyter_prepare(object.__new__(JupyterHandler), redirect_to_login=False)
    finally:
        monkeypatch.undo()
        tornadocompat.prepare_takes_redirect_flag.cache_clear()
    assert calls == [{}]


@pytest.mark.parametrize("redirect", [True, False])
def test_jupyter_prepare_passes_the_flag_where_it_exists(redirect: bool, monkeypatch: Any) -> None:
    """Where ``prepare`` takes the flag, it is told not to redirect (and otherwise left as it
    is, redirecting)."""
    calls: list[dict[str, Any]] = []

    def prepare(self: Any, *, _redirect_to_login: bool = True) -> None:
        calls.append({"_redirect_to_login": _redirect_to_login})

    monkeypatch.setattr(JupyterHandler, "prepare", prepare)
    tornadocompat.prepare_takes_redirect_flag.cache_clear()
    try:
        tornadocompat.jupyter_prepare(object.__new__(JupyterHandler), redirect_to_login=redirect)
    finally:
        monkeypatch.undo()
        tornadocompat.prepare_takes_redirect_flag.cache_clear()
    assert calls == [{"_redirect_to_login": redirect}]

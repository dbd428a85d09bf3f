"""The upstream HTTP client against backends that misbehave in exact, scripted ways.

Each backend here is a raw asyncio server on loopback that writes the bytes a test dictates, so
the client meets what real servers sometimes send: bodies ended by the connection's close,
interim 1xx answers, answers to HEAD, an early answer to an upload, garbage, silence, and
connections closed while idle in the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from jupyter_server_proxy.core.errors import UpstreamTimeout, UpstreamUnavailable
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.errors import BodyBroken
from jupyter_server_proxy.transport.pool import Upstream, UpstreamSettings
from tests.conftest import poll_until, run

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, Target, list[int]]:
    """A raw backend; the list collects one entry per accepted connection."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, Target(host="127.0.0.1", port=port), accepted


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def collect(upstream: Upstream, target: Target, method: str = "GET", **kw: Any) -> Any:
    response = await upstream.request(method, target, kw.pop("uri", "/"), [], kw.pop("body", None))
    parts: list[bytes] = []
    try:
        await response.stream_to(parts.append)
    finally:
        response.release()
    return response.status, response.headers, b"".join(parts)


def test_connections_are_reused_and_bodies_arrive_whole() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            await writer.drain()

    async def go() -> None:
        server, target, accepted = await serve(handler)
        upstream = Upstream()
        for _ in range(5):
            assert await collect(upstream, target) == (200, [("Content-Length", "5")], b"hello")
        assert len(accepted) == 1  # five requests, one connection
        await upstream.close()
        server.close()

    run(go())


def test_chunked_body_and_a_body_ended_by_close() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        if head.startswith(b"GET /chunked"):
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            )
        else:  # neither length nor chunked: the body is what comes before the close
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()

    async def go() -> None:
        server, target, _ = await serve(handler)
        upstream = Upstream()
        status, headers, body = await collect(upstream, target, uri="/chunked")
        assert (status, body) == (200, b"abc")
        assert ("Transfer-Encoding", "chunked") in headers  # the handler drops it, not us
        assert (await collect(upstream, target, uri="/eof"))[2] == b"until the end"
        await upstream.close()
        server.close()

    run(go())


def test_interim_answers_are_skipped_and_head_answers_never_wait_for_a_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_head(reader)
            if head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            else:
                writer.write(
                    b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                )
            await writer.drain()

    async def go() -> None:
        server, target, accepted = await serve(handler)
        upstream = Upstream()
        status, headers, body = await collect(upstream, target)
        assert (status, headers, body) == (200, [("Content-Length", "2")], b"ok")
        status, headers, body = await collect(upstream, target, method="HEAD")
        assert (status, body) == (200, b"") and ("Content-Length", "100") in headers
        # After HEAD the connection is not trusted again: the next request opens another.
        assert (await collect(upstream, target))[2] == b"ok"
        assert len(accepted) == 2
        await upstream.close()
        server.close()

    run(go())


def test_idle_connection_closed_by_the_backend_is_not_used_again() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # ... and then close the kept-alive connection while it idles in the pool

    async def go() -> None:
        server, target, accepted = await serve(handler)
        upstream = Upstream()
        assert (await collect(upstream, target))[2] == b"ok"
        await poll_until(lambda: not upstream._idle, "the close to reach the pool", 5, 0.01)
        assert (await collect(upstream, target))[2] == b"ok"
        assert len(accepted) == 2
        await upstream.close()
        server.close()

    run(go())


def test_a_request_that_says_close_is_its_connections_last() -> None:
    """A request sent with ``Connection: close`` ends its connection, even when the answer
    says nothing of closing (RFC 9112 §9.6): the pool keeps nothing, the next request opens
    another connection."""
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_head(reader))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async def go() -> None:
        server, target, accepted = await serve(handler)
        upstream = Upstream()
        response = await upstream.request("GET", target, "/", [("Connection", "close")], None)
        assert await response.read_all(100, "too big") == b"ok"
        response.release()
        assert not upstream._idle
        assert (await collect(upstream, target))[2] == b"ok"
        assert len(accepted) == 2 and b"Connection: close" in seen[0]
        await upstream.close()
        server.close()

    run(go())


def test_early_answer_to_an_upload_ends_the_exchange_and_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig")
        await writer.drain()
        await reader.read(1 << 16)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b"u" * 65536
            await asyncio.sleep(0)  # a producer that lets the exchange run between chunks

    async def go() -> None:
        server, target, accepted = await serve(handler)
        upstream = Upstream()
        status, _, answer = await collect(upstream, target, method="POST", body=body())
        assert (status, answer) == (413, b"big")
        assert not upstream._idle  # the upload was cut short: never reused
        await upstream.close()
        server.close()

    run(go())


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (b"", UpstreamUnavailable, "closed the connection before it answered"),
        (b"SPDY/9 nonsense\r\n\r\n", UpstreamUnavailable, "invalid response"),
        (None, UpstreamTimeout, "did not answer"),
        # Framing a proxy must not guess at (RFC 9112 §6.3: response smuggling and splitting):
        # both Transfer-Encoding and Content-Length, and two different Content-Lengths.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n",
            UpstreamUnavailable,
            "Content-Length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            UpstreamUnavailable,
            "Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\nX-Bad Name: 1\r\n\r\n", UpstreamUnavailable, "invalid response"),
    ],
)
def test_backends_that_never_answer_properly(
    reply: bytes | None, error: type[Exception], words: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        if reply is None:
            await reader.read()  # silence until the client gives up
            return
        writer.write(reply)
        await writer.drain()

    async def go() -> None:
        server, target, _ = await serve(handler)
        upstream = Upstream(UpstreamSettings(read_timeout=0.5))
        with pytest.raises(error) as e:
            await upstream.request("GET", target, "/", [], None)
        assert words in str(e.value) and str(target.port) in str(e.value)
        await upstream.close()
        server.close()

    run(go())


def test_trailer_fields_are_not_passed_on() -> None:
    """A chunked body's trailer section ends the body; its fields are the backend's to us, not
    headers to invent for the client (our response head is already gone by then)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
            b"2\r\nok\r\n0\r\nX-T: 1\r\n\r\n"
        )
        await writer.drain()
        await reader.read()

    async def go() -> None:
        server, target, accepted = await serve(handler)
        upstream = Upstream()
        status, headers, body = await collect(upstream, target)
        assert (status, body) == (200, b"ok")
        assert not any(name.lower() == "x-t" for name, _ in headers)
        await upstream.close()
        server.close()

    run(go())


def test_backend_silent_mid_body_breaks_the_body_but_a_paused_read_is_not_silence() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        if b"/rest" in head:
            writer.write(b"y" * 990)
            await writer.drain()
        await reader.read()

    async def go() -> None:
        server, target, _ = await serve(handler)
        upstream = Upstream(UpstreamSettings(read_timeout=0.3))
        response = await upstream.request("GET", target, "/", [], None)
        with pytest.raises(BodyBroken):
            await response.stream_to(lambda chunk: None)
        response.release()
        # A consumer that takes longer than read_timeout for a chunk is not the backend's
        # silence: the read resumes and the body completes.
        response = await upstream.request("GET", target, "/rest", [], None)
        got: list[bytes] = []

        def slow(chunk: bytes) -> Awaitable[None]:
            got.append(chunk)
            return asyncio.sleep(0.5)  # the behaviour under test: slower than read_timeout

        await response.stream_to(slow)
        response.release()
        assert sum(map(len, got)) == 1000
        await upstream.close()
        server.close()

    run(go())


def test_an_upload_longer_than_read_timeout_is_not_silence() -> None:
    """The backend answers only once it has the whole body; sending it takes longer than
    read_timeout, which counts the backend's silence only after that."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        await reader.readuntil(b"0\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ngot it")
        await writer.drain()

    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(8):
            await asyncio.sleep(0.1)  # the behaviour under test: a slow upload
            yield b"part"

    async def go() -> None:
        server, target, _ = await serve(handler)
        upstream = Upstream(UpstreamSettings(read_timeout=0.3))
        status, _, body = await collect(upstream, target, method="POST", body=slow_body())
        assert (status, body) == (200, b"got it")
        await upstream.close()
        server.close()

    run(go())


def test_request_bodies_keep_their_length_or_are_chunked() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await read_head(reader)
            if b"Content-Length: 4" in head:
                seen.append(head + await reader.readexactly(4))
            else:
                seen.append(head + await reader.readuntil(b"0\r\n\r\n"))
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    async def two() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b"cd"

    async def go() -> None:
        server, target, _ = await serve(handler)
        upstream = Upstream()
        for headers in ([("Content-Length", "4")], []):
            response = await upstream.request("PUT", target, "/x%2Fy", headers, two())
            await response.stream_to(lambda chunk: None)
            response.release()
        assert seen[0].startswith(b"PUT /x%2Fy HTTP/1.1\r\nHost: 127.0.0.1:")
        assert seen[0].endswith(b"\r\n\r\nabcd")
        assert b"Transfer-Encoding: chunked" in seen[1]
        assert seen[1].endswith(b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
        await upstream.close()
        server.close()

    run(go())

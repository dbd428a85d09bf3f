"""When the HTTP client reuses a backend connection, how it slows down for a slow consumer, and
the guard on its states, fed with no server.

A connection serves the next request only after an answer that ended exactly where its framing
says, with nothing after it, on a connection both sides keep alive; a byte where no answer is
due closes it, so no byte of one answer is ever read as part of another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from jupyter_server_proxy.core.errors import UpstreamUnavailable
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.connection import Connection
from jupyter_server_proxy.transport.pool import Upstream, UpstreamSettings
from jupyter_server_proxy.transport.reading import READ_BUFFER, State
from tests.unit.transport_harness import TARGET, FakeTransport, open_connection, run, settle, start

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def fake_connections(pool: Upstream) -> list[FakeTransport]:
    """Make ``pool`` open fake connections; the list gets each one's transport."""
    made: list[FakeTransport] = []

    async def connect(target: Target, key: str, timeout: float) -> Connection:
        conn, transport = open_connection(pool, target)
        made.append(transport)
        return conn

    pool._connect = connect  # type: ignore[method-assign]
    return made


async def get(pool: Upstream, made: list[FakeTransport], answer: bytes, **kw: Any) -> bytes:
    """A request through the pool, answered with ``answer`` on the connection it wrote to."""
    before = {id(t): len(t.written) for t in made}
    requesting = asyncio.ensure_future(pool.request("GET", TARGET, "/", [], kw.get("body")))
    await settle()
    (transport,) = [t for t in made if len(t.written) > before.get(id(t), 0)]
    transport.feed(answer)
    response = await requesting
    body = await response.read_all(1 << 20, "too big")
    response.release()
    return body


def test_a_complete_exchange_returns_the_connection_to_the_pool() -> None:
    async def test(pool: Upstream) -> None:
        made = fake_connections(pool)
        for _ in range(3):
            assert await get(pool, made, OK) == b"ok"
        assert len(made) == 1
        assert made[0].written.count(b"GET / HTTP/1.1\r\n") == 3
        (conn,) = pool._idle[TARGET.authority]
        assert conn.state is State.IDLE

    run(test)


def test_a_connection_the_backend_closes_while_idle_leaves_the_pool() -> None:
    async def test(pool: Upstream) -> None:
        made = fake_connections(pool)
        await get(pool, made, OK)
        made[0].end()
        await settle()
        assert not pool._idle
        assert await get(pool, made, OK) == b"ok"
        assert len(made) == 2  # the next request went to a fresh connection

    run(test)


def test_bytes_on_an_idle_connection_close_it() -> None:
    """An answer nobody asked for: the connection can no longer be trusted."""

    async def test(pool: Upstream) -> None:
        made = fake_connections(pool)
        await get(pool, made, OK)
        made[0].feed(b"HTTP/1.1 200 OK\r\n")
        await settle()
        assert made[0].closed
        assert not pool._idle

    run(test)


def test_unread_bytes_keep_an_idle_connection_from_being_taken() -> None:
    """Bytes the event loop has not read yet (``quiet()`` sees them on the socket) would be
    taken for the next request's answer: the pool closes that connection and opens another."""

    async def test(pool: Upstream) -> None:
        made = fake_connections(pool)
        await get(pool, made, OK)
        made[0].peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
        assert await get(pool, made, OK) == b"ok"
        assert len(made) == 2
        assert made[0].closed
        assert made[0].written.count(b"GET ") == 1

    run(test)


def test_bytes_after_a_complete_answer_spoil_the_connection() -> None:
    async def test(pool: Upstream) -> tuple[bytes, bool, bool]:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(OK + b"HTTP/1.1 200 OK\r\n")
        response = await head
        body = await response.read_all(100, "too big")
        reusable = conn.is_reusable()
        response.release()
        return body, reusable, conn.closed

    assert run(test) == (b"ok", False, True)


def test_a_response_released_before_its_body_ended_closes_the_connection() -> None:
    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart")
        response = await head
        assert conn.state is State.BODY and not conn.is_reusable()
        response.release()
        assert conn.closed and transport.closed

    run(test)


def test_a_request_without_body_is_retried_once_when_a_reused_connection_closes_unanswered() -> (
    None
):
    """The backend closed a kept-alive connection just as we sent on it (RFC 9112 §9.3.1)."""

    async def test(pool: Upstream) -> None:
        made = fake_connections(pool)
        await get(pool, made, OK)
        requesting = asyncio.ensure_future(pool.request("GET", TARGET, "/", [], None))
        await settle()
        made[0].end()  # the request went out; the answer never comes
        await settle()
        assert len(made) == 2
        made[1].feed(OK)
        response = await requesting
        assert await response.read_all(100, "too big") == b"ok"
        response.release()

    run(test)


def test_a_request_with_a_body_is_not_retried() -> None:
    async def test(pool: Upstream) -> str:
        made = fake_connections(pool)
        await get(pool, made, OK)
        requesting = asyncio.ensure_future(pool.request("POST", TARGET, "/", [], b"data"))
        await settle()
        made[0].end()
        with pytest.raises(UpstreamUnavailable) as caught:
            await requesting
        assert len(made) == 1
        return caught.value.message

    assert run(test) == "127.0.0.1:8888 closed the connection before it answered"


def test_a_busy_sink_pauses_reading_until_it_is_done() -> None:
    """Backpressure: while the sink's awaitable is pending, nothing more is read; the bytes
    wait (in the kernel, here in the fake) and come once it is done."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
        response = await head
        parts: list[bytes] = []
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def sink(chunk: bytes) -> Awaitable[None] | None:
            parts.append(chunk)
            return gate if len(parts) == 1 else None

        streaming = asyncio.ensure_future(response.stream_to(sink))
        await settle()
        transport.feed(b"abc")
        transport.feed(b"def")
        await settle()
        assert parts == [b"abc"] and not transport.reading and transport.pending
        gate.set_result(None)
        await streaming
        assert parts == [b"abc", b"def"] and transport.reading
        assert conn.is_reusable()
        response.release()

    run(test)


def test_a_body_nobody_reads_yet_pauses_reading_past_the_buffer() -> None:
    """Before a sink is attached, at most ``READ_BUFFER`` bytes of body wait in memory."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        size = 3 * READ_BUFFER
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        response = await head
        transport.feed(b"x" * size, piece=READ_BUFFER // 2)
        await settle()
        assert not transport.reading and transport.pending
        body = await response.read_all(size, "too big")
        assert len(body) == size and conn.state is State.DONE
        response.release()

    run(test)


def test_the_answer_ending_while_the_sink_is_busy_ends_the_body_when_it_is_done() -> None:
    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
        response = await head
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        streaming = asyncio.ensure_future(response.stream_to(lambda chunk: gate))
        await settle()
        transport.feed(b"ok")
        await settle()
        assert conn.state is State.DONE and not streaming.done()
        gate.set_result(None)
        await streaming
        response.release()
        assert pool._idle[TARGET.authority] == [conn]  # back in the pool, idle

    run(test)


def test_a_connection_refuses_a_second_exchange_while_one_runs() -> None:
    """An impossible move is a bug: it is raised, naming both states."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        first = await start(conn)
        with pytest.raises(AssertionError, match="no move from AWAITING_HEAD to AWAITING_HEAD"):
            await (await start(conn))
        conn.close()
        assert conn.state is State.CLOSED
        with pytest.raises(UpstreamUnavailable, match="closed the connection before it answered"):
            await first
        with pytest.raises(AssertionError, match="no move from CLOSED to AWAITING_HEAD"):
            await (await start(conn))

    run(test)


def test_idle_connections_past_the_limit_are_closed() -> None:
    async def test(pool: Upstream) -> None:
        made = fake_connections(pool)
        requests = [asyncio.ensure_future(pool.request("GET", TARGET, "/", [], None)) for _ in "ab"]
        await settle()
        for transport in made:
            transport.feed(OK)
        for requesting in requests:
            response = await requesting
            await response.read_all(100, "too big")
            response.release()
        assert len(pool._idle[TARGET.authority]) == 1
        assert sum(t.closed for t in made) == 1

    run(test, UpstreamSettings(limit_per_host=1))

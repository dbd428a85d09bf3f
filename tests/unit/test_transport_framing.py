"""How the HTTP client reads a backend's answer, byte by byte, with no server: one case per
framing rule of RFC 9112 §6 (a length, chunks, the connection's end, no body at all), and the
1xx answers that come before the final one (RFC 9110 §15.2).

Every answer is fed whole, one byte per read, and in reads of 7 bytes: where the reads split
an answer must not change what the client makes of it.
"""

from __future__ import annotations

import asyncio

import pytest

from jupyter_server_proxy.transport.pool import Upstream
from jupyter_server_proxy.transport.reading import State
from tests.unit.transport_harness import open_connection, run, settle, start

SPLITS = [0, 1, 7]


async def exchange(
    pool: Upstream, answer: bytes, piece: int, method: str = "GET"
) -> tuple[int, list[tuple[str, str]], bytes, State, bool]:
    """Feed ``answer``; the status, fields and body the client read, the connection's state
    when the body ended and whether it would be reused."""
    conn, transport = open_connection(pool)
    head = await start(conn, method)
    transport.feed(answer, piece=piece)
    response = await head
    parts: list[bytes] = []
    await response.stream_to(parts.append)
    state, reusable = conn.state, conn.is_reusable()
    response.release()
    return response.status, response.headers, b"".join(parts), state, reusable


@pytest.mark.parametrize("piece", SPLITS)
def test_a_body_framed_by_content_length(piece: int) -> None:
    """The body is exactly Content-Length bytes; the exchange is done and the connection kept."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\n\r\nhello world"
    result = run(lambda pool: exchange(pool, answer, piece))
    assert result == (
        200,
        [("Content-Length", "11"), ("X-A", "1")],
        b"hello world",
        State.DONE,
        True,
    )


@pytest.mark.parametrize("piece", SPLITS)
def test_a_chunked_body_with_extensions_and_trailers(piece: int) -> None:
    """Chunks are decoded, chunk extensions ignored (RFC 9112 §7.1.1), and trailer fields are
    read but not added to the head that was already passed on (RFC 9110 §6.5)."""
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b'6;a=1;b="q"\r\n world\r\n'
        b"0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
    )
    status, headers, body, state, reusable = run(lambda pool: exchange(pool, answer, piece))
    assert (status, body, state, reusable) == (200, b"hello world", State.DONE, True)
    assert headers == [("Transfer-Encoding", "chunked")]


@pytest.mark.parametrize("piece", SPLITS)
def test_a_body_ended_by_the_connection_close(piece: int) -> None:
    """Without a length or chunks, the body runs until the backend closes (RFC 9112 §6.3 item
    8); the end is the body's end, not an error, and such a connection is never reused."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nall of ", piece=piece)
        response = await head
        assert conn.state is State.BODY_UNTIL_CLOSE
        parts: list[bytes] = []
        streaming = asyncio.ensure_future(response.stream_to(parts.append))
        await settle()
        transport.feed(b"it, until the end", piece=piece)
        await settle()
        assert not streaming.done()
        transport.end()
        await streaming
        assert b"".join(parts) == b"all of it, until the end"
        assert conn.closed
        assert not conn.is_reusable()
        response.release()

    run(test)


@pytest.mark.parametrize("piece", SPLITS)
def test_interim_answers_are_skipped_for_the_final_one(piece: int) -> None:
    """100 Continue and 103 Early Hints come before the final answer, which is the exchange's
    answer with its own fields only (RFC 9110 §15.2)."""
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    result = run(lambda pool: exchange(pool, answer, piece))
    assert result == (201, [("Content-Length", "2")], b"ok", State.DONE, True)


def test_the_client_waits_in_interim_state_between_a_1xx_and_the_final_answer() -> None:
    """After a whole 1xx answer the exchange still waits for its head."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        await settle()
        assert conn.state is State.AWAITING_HEAD
        assert not head.done()
        transport.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
        assert (await head).status == 204

    run(test)


def test_a_101_to_a_plain_request_is_an_error_naming_the_backend() -> None:
    """We never asked to switch protocols (RFC 9110 §15.2.2)."""

    async def test(pool: Upstream) -> str:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
        with pytest.raises(Exception) as caught:
            await head
        assert conn.closed
        return str(caught.value)

    assert run(test) == "127.0.0.1:8888 switched protocols (101) in answer to a plain request"


@pytest.mark.parametrize("piece", SPLITS)
def test_an_answer_to_head_has_no_body_whatever_its_length_says(piece: int) -> None:
    """A HEAD answer's Content-Length is the GET answer's (RFC 9110 §9.3.2); no body follows,
    and such a connection is not reused (a body some backend sends anyway would be misread)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    result = run(lambda pool: exchange(pool, answer, piece, method="HEAD"))
    assert result == (200, [("Content-Length", "1000")], b"", State.DONE, False)


@pytest.mark.parametrize("piece", SPLITS)
@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
        b'HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\nETag: "x"\r\n\r\n',
    ],
)
def test_204_and_304_have_no_body(answer: bytes, piece: int) -> None:
    """204 and 304 end at their head (RFC 9112 §6.3 item 1), even with a Content-Length, and
    the connection may serve the next request."""
    status, _, body, state, reusable = run(lambda pool: exchange(pool, answer, piece))
    assert (body, state, reusable) == (b"", State.DONE, True)
    assert status in (204, 304)


def test_an_answer_that_closes_the_connection_is_not_reused() -> None:
    """``Connection: close`` from the backend, or from our request, ends the connection after
    the exchange (RFC 9112 §9.6)."""

    async def test(pool: Upstream) -> tuple[bool, bool]:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await head
        theirs = conn.is_reusable()
        conn2, transport2 = open_connection(pool)
        head2 = await start(conn2, headers=[("Connection", "close")])
        transport2.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await head2
        return theirs, conn2.is_reusable()

    assert run(test) == (False, False)

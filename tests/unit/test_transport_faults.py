"""What the HTTP client does when a backend's bytes are wrong, too many, or cut short, fed with
no server. Framing a proxy must not guess at is refused (RFC 9112 §6.1, §6.3: response
smuggling), a head past the configured limits fails the exchange naming the setting, and a
backend that closes mid-answer fails it naming the backend: ``UpstreamUnavailable`` before the
head was passed on, ``BodyBroken`` after.
"""

from __future__ import annotations

import asyncio

import pytest

from jupyter_server_proxy.core.errors import UpstreamTimeout, UpstreamUnavailable
from jupyter_server_proxy.transport.errors import BodyBroken, ClosedUnanswered
from jupyter_server_proxy.transport.pool import Upstream, UpstreamSettings
from tests.unit.transport_harness import open_connection, run, settle, start

SPLITS = [0, 1, 7]
WHERE = "127.0.0.1:8888"


def head_error(answer: bytes, piece: int, settings: UpstreamSettings | None = None) -> str:
    """The error of an exchange whose answer fails before its head is passed on; the
    connection is closed."""

    async def test(pool: Upstream) -> str:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(answer, piece=piece)
        with pytest.raises(UpstreamUnavailable) as caught:
            await head
        assert conn.closed and transport.closed
        return caught.value.message

    return str(run(test, settings))


def body_error(answer: bytes, piece: int, end: bool = False) -> str:
    """The error the body's consumer gets for an answer that fails after its head (``end``:
    the backend then closes the connection)."""

    async def test(pool: Upstream) -> str:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(answer, piece=piece)
        response = await head
        if end:
            transport.end()
        with pytest.raises(BodyBroken) as caught:
            await response.stream_to(lambda chunk: None)
        assert conn.closed and not conn.is_reusable()
        response.release()
        assert isinstance(caught.value.error, UpstreamUnavailable)
        return caught.value.error.message

    return str(run(test))


@pytest.mark.parametrize("piece", SPLITS)
def test_content_length_with_transfer_encoding_is_refused(piece: int) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    assert head_error(answer, piece).startswith(f"{WHERE} sent an invalid response")


@pytest.mark.parametrize("piece", SPLITS)
def test_two_differing_content_lengths_are_refused(piece: int) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    assert head_error(answer, piece).startswith(f"{WHERE} sent an invalid response")


@pytest.mark.parametrize("piece", SPLITS)
def test_a_transfer_coding_other_than_chunked_is_refused(piece: int) -> None:
    """We would pass "gzip" on undecoded, in a coding nobody announces to the client."""
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
    message = head_error(answer, piece)
    assert message == f"{WHERE} sent a Transfer-Encoding we cannot pass on: ['gzip', 'chunked']"


@pytest.mark.parametrize("piece", SPLITS)
def test_an_invalid_chunk_size_breaks_the_body(piece: int) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
    assert body_error(answer, piece).startswith(f"{WHERE} sent an invalid response")


@pytest.mark.parametrize("piece", SPLITS)
def test_a_head_larger_than_the_limit_fails_naming_the_setting(piece: int) -> None:
    settings = UpstreamSettings(max_response_header_size=200)
    answer = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300 + b"\r\nContent-Length: 0\r\n\r\n"
    message = head_error(answer, piece, settings)
    assert message == (
        f"{WHERE} sent a response head larger than 200 bytes, the limit set by "
        "c.ServerProxy.max_response_header_size"
    )


def test_a_head_that_never_ends_fails_without_being_held_whole() -> None:
    """A field that goes on and on is refused once the bytes read exceed the limit, though no
    field of it was complete."""
    settings = UpstreamSettings(max_response_header_size=1000)

    async def test(pool: Upstream) -> str:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        for _ in range(20):
            transport.feed(b"a" * 100)
            if conn.closed:
                break
        with pytest.raises(UpstreamUnavailable) as caught:
            await head
        return caught.value.message

    assert "larger than 1000 bytes" in run(test, settings)


@pytest.mark.parametrize("piece", SPLITS)
def test_too_many_header_fields_fail_naming_the_setting(piece: int) -> None:
    settings = UpstreamSettings(max_response_header_count=10)
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(11))
    answer = b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 0\r\n\r\n"
    message = head_error(answer, piece, settings)
    assert message == (
        f"{WHERE} sent more than 10 header fields, the limit set by "
        "c.ServerProxy.max_response_header_count"
    )


@pytest.mark.parametrize("piece", SPLITS)
def test_trailers_past_the_size_limit_break_the_body(piece: int) -> None:
    """After the head, what a chunked body sends between data bytes has the same bound."""
    settings = UpstreamSettings(max_response_header_size=200)

    async def test(pool: Upstream) -> str:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", piece=piece)
        response = await head
        transport.feed(b"2\r\nok\r\n0\r\nX-Trailer: " + b"t" * 300 + b"\r\n\r\n", piece=piece)
        with pytest.raises(BodyBroken) as caught:
            await response.stream_to(lambda chunk: None)
        response.release()
        return str(caught.value)

    assert "chunk-size lines or trailer section larger than 200 bytes" in run(test, settings)


def test_a_close_before_any_byte_of_an_answer_may_be_retried() -> None:
    """Nothing of an answer came: the pool may retry a request without a body on a fresh
    connection (RFC 9112 §9.3.1); the connection says so with ``ClosedUnanswered``."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.end()
        with pytest.raises(ClosedUnanswered):
            await head
        assert conn.closed

    run(test)


@pytest.mark.parametrize("piece", SPLITS)
def test_a_close_in_the_head_fails_the_exchange(piece: int) -> None:
    async def test(pool: Upstream) -> str:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Le", piece=piece)
        transport.end()
        with pytest.raises(UpstreamUnavailable) as caught:
            await head
        return caught.value.message

    assert run(test) == f"{WHERE} closed the connection in its response head"


@pytest.mark.parametrize("piece", SPLITS)
@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\nonly part",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n",
    ],
)
def test_a_close_in_the_body_breaks_it(answer: bytes, piece: int) -> None:
    """A body cut before its length or its last chunk is broken off, not complete."""
    assert body_error(answer, piece, end=True) == f"{WHERE} broke off the response"


def test_a_reset_in_a_body_ended_by_close_breaks_it() -> None:
    """Only an orderly end (EOF) ends such a body; a reset breaks it."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\n\r\npart")
        response = await head
        transport.reset()
        with pytest.raises(BodyBroken):
            await response.stream_to(lambda chunk: None)
        response.release()

    run(test)


def test_a_sink_that_raises_ends_the_exchange_with_its_error() -> None:
    """The consumer went away (a client that left): reading stops, the error is the sink's."""

    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn)
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        response = await head

        def sink(chunk: bytes) -> None:
            raise ConnectionResetError("client gone")

        streaming = asyncio.ensure_future(response.stream_to(sink))
        await settle()
        transport.feed(b"0123456789")
        with pytest.raises(ConnectionResetError):
            await streaming
        assert conn.closed
        response.release()

    run(test)


def test_a_backend_silent_past_the_read_timeout_fails_the_exchange() -> None:
    """Silence before the head: ``UpstreamTimeout`` (504), naming the backend."""

    async def test(pool: Upstream) -> str:
        conn, transport = open_connection(pool)
        head = await start(conn, read_timeout=0.01)
        transport.feed(b"HTTP/1.1 200 OK\r\n")
        with pytest.raises(UpstreamTimeout) as caught:
            await head
        assert conn.closed
        return caught.value.message

    assert run(test) == f"{WHERE} did not answer within the configured timeout"


def test_a_backend_silent_mid_body_breaks_it_with_a_timeout() -> None:
    async def test(pool: Upstream) -> None:
        conn, transport = open_connection(pool)
        head = await start(conn, read_timeout=0.01)
        transport.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart")
        response = await head
        with pytest.raises(BodyBroken) as caught:
            await response.stream_to(lambda chunk: None)
        assert isinstance(caught.value.error, UpstreamTimeout)
        assert conn.closed
        response.release()

    run(test)

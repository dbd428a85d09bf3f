"""One keep-alive HTTP/1.1 connection to a backend: an exchange on it, and whether it may serve
the next (``reading.py`` reads the answers and holds the states).

Rules:
- One exchange at a time. The request (head, and a body that is not streamed) is written as
  the exchange begins; a streamed request body goes out beside reading the answer (a backend
  may answer before it has all of it), so sending is a task of the exchange, not a state.
  Writing waits while the socket's buffer is full.
- A connection is reusable only after a complete exchange that both sides keep alive, where the
  answer ended exactly where its framing says and nothing followed it (``State.DONE``); anything
  else (an error, a cancelled exchange, an answer to HEAD, an upload cut short) closes it. A
  request that says ``Connection: close`` is its connection's last, whatever the answer says
  (RFC 9112 §9.6). ``quiet()`` checks an idle connection for unread bytes as the pool hands it
  out.
- The backend's silence while we wait for or read its answer is bounded by ``read_timeout``
  (not while *we* paused reading, nor while the request body is still being sent).
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator
from typing import Protocol

import httptools

from ..core.errors import UpstreamUnavailable
from ..core.routing import Target
from .reading import ResponseReader, State
from .response import Response, Sink

#: The socket's write buffer above which a request body waits (asyncio's high-water mark).
_WRITE_HIGH = 1 << 20


class Keeper(Protocol):
    """What a connection needs of the pool that keeps it (``pool.Upstream``)."""

    def give_back(self, conn: Connection) -> None: ...

    def forget(self, conn: Connection) -> None: ...


class Connection(ResponseReader):
    """One keep-alive connection to ``target``; its pool keeps it under ``key``. Reads land in
    ``buffer``; heads are bounded by ``max_head`` bytes and ``max_fields`` fields."""

    def __init__(
        self,
        pool: Keeper,
        key: str,
        target: Target,
        *,
        buffer: memoryview,
        max_head: int,
        max_fields: int,
    ) -> None:
        super().__init__(target, buffer, max_head, max_fields)
        self._pool = pool
        self.key = key
        self._drained: asyncio.Future[None] | None = None  # set while the write buffer is full
        self._sending: asyncio.Task[None] | None = None
        self._last = False  # the request said ``Connection: close``
        self._poller: select.poll | None = None  # the socket's, for ``quiet``

    @property
    def state(self) -> State:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED

    def is_reusable(self) -> bool:
        """Whether the exchange ended so that the next may follow on this connection."""
        return (
            self._state is State.DONE
            and self._keep_alive
            and not self._no_body
            and not self._last
            and (self._sending is None or self._sending.done())
        )

    def quiet(self) -> bool:
        """Whether nothing waits unread on this idle connection. Bytes (or the end) that came
        in after its last exchange but that the event loop has not read yet would otherwise be
        taken for the next request's answer; httpcore makes the same check before it reuses a
        connection. ``poll`` rather than ``select``: descriptors may be past FD_SETSIZE."""
        assert self._poller is not None
        return not self._poller.poll(0)

    def close(self) -> None:
        """Close the connection; an exchange on it fails as if the backend had closed it."""
        if self._in_head() or self._in_body():
            self._fail(None)
        else:
            self._abort()

    # -- asyncio callbacks of the writing side -------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_WRITE_HIGH)
        # Made once: ``quiet`` runs before every reuse. It holds no descriptor of its own.
        self._poller = select.poll()
        self._poller.register(transport.get_extra_info("socket").fileno(), select.POLLIN)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pool.forget(self)
        self.resume_writing()  # an upload waiting for the buffer to drain sees the end instead
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    # -- one exchange --------------------------------------------------------------------

    async def exchange(
        self,
        head: bytes,
        body: AsyncIterator[bytes] | bytes | None,
        *,
        chunked: bool,
        no_body_answer: bool,
        last: bool,
        read_timeout: float,
        url: str,
    ) -> Response:
        """Send the request and return the final answer (its head; the body follows through
        ``deliver``). Raises our errors, or ``ClosedUnanswered`` if the connection closed
        before any byte of an answer."""
        assert self.transport is not None
        self._move(State.AWAITING_HEAD)
        self._parser = httptools.HttpResponseParser(self)
        self._head = self._loop.create_future()
        self._no_body = no_body_answer
        self._last = last
        self._heard_at = self._loop.time()
        if read_timeout:
            self._silence = self._loop.call_later(read_timeout, self._check_silence, read_timeout)
        if isinstance(body, bytes):
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            if body is not None:
                self._sending = asyncio.ensure_future(self._send(body, chunked))
                self._sending.add_done_callback(self._sent)
        status, reason, headers, length = await self._head
        return Response(self, status, reason, headers, length, url)

    async def _send(self, body: AsyncIterator[bytes], chunked: bool) -> None:
        assert self.transport is not None
        async for chunk in body:
            if self._state is State.CLOSED:
                return
            if chunked:
                if chunk:  # three writes rather than one joined copy of a large chunk
                    self.transport.write(b"%x\r\n" % len(chunk))
                    self.transport.write(chunk)
                    self.transport.write(b"\r\n")
            else:
                self.transport.write(chunk)
            if self._drained is not None:
                await self._drained
        if chunked and self._state is not State.CLOSED:
            self.transport.write(b"0\r\n\r\n")

    def _sent(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # the client's upload broke off: so does this exchange
            self._fail(UpstreamUnavailable(f"the request body could not be sent: {error}"))

    async def deliver(self, sink: Sink) -> None:
        """Pass the body to ``sink`` until it ends (see ``Response.stream_to``)."""
        self._done = self._loop.create_future()
        early, self._body = self._body, []
        self._sink = sink
        if self._error is not None:
            raise self._error
        for chunk in early:
            busy = sink(chunk)
            if busy is not None:
                await busy
        self._body_size = 0
        # Not yet at the body's end, or the sink is busy with its last part, or it broke off
        # while the early parts went out: ``_done`` tells which way it ends.
        if self._in_body() or self._busy is not None or self._error is not None:
            self._resume()
            await self._done

    def finish_exchange(self) -> None:
        """End the exchange: the connection goes back to the pool if reusable, else closes."""
        reusable = self.is_reusable()
        if self._sending is not None and not self._sending.done():
            self._sending.cancel()
        self._sending = None
        self._stop_timer()
        self._reset()
        if not reusable:
            self._abort()
            return
        self._resume()  # the body was left unread in memory: the next answer needs reading
        self._move(State.IDLE)
        self._pool.give_back(self)

    def _check_silence(self, limit: float) -> None:
        if not (self._in_head() or self._in_body()):
            return
        quiet = self._loop.time() - self._heard_at
        # Not silence: we paused reading, or the request body is still going out (a backend
        # owes no answer before it has the whole upload).
        busy = self._paused or (self._sending is not None and not self._sending.done())
        if busy or quiet < limit:
            delay = limit if busy else limit - quiet
            self._silence = self._loop.call_later(delay, self._check_silence, limit)
            return
        self._fail(asyncio.TimeoutError())

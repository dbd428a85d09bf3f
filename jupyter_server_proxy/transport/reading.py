"""Reading a backend's answers on one connection: the states of an exchange, the parser's and
asyncio's callbacks, and backpressure. ``connection.py`` adds the exchange around it.

Rules:
- Where an exchange is lives in ``State`` and changes only through ``_move``, which refuses a
  change the ``_NEXT`` table does not allow, naming both states. A check on the hot path is an
  identity comparison of two enum members.
- Interim answers (1xx but 101: 100 Continue, 102 Processing, 103 Early Hints...) are read and
  skipped (``INTERIM``); the exchange's answer is the final one that follows (RFC 9110 §15.2). A
  101 to a plain request is an error: we never asked to switch protocols.
- An answer is ``DONE`` when it ended exactly where its framing says (``framing.py``). A byte
  after it, or a byte while no exchange runs, closes the connection, so no byte of one answer
  is ever read as part of another.
- What a backend sends outside of body data is bounded: the head (interim heads included) by
  ``max_response_header_size`` bytes and ``max_response_header_count`` fields, a chunked body's
  trailers and chunk-size lines by the same size; past them the exchange fails, naming the
  setting. Bytes are counted as they arrive, so a huge head never sits in memory whole.
- Body bytes go to the consumer's sink from the socket callback itself, with no task switch per
  read; when the sink returns an awaitable (it is busy), reading pauses until that is done, and
  a body read before any sink is attached pauses reading past ``READ_BUFFER`` bytes.
- Reads go into one buffer shared by all connections (``get_buffer``/``buffer_updated``): large
  reads mean fewer callbacks per MB, and sharing is safe because the parser has consumed
  (copied) a read before the event loop makes the next one.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from collections.abc import Awaitable

import httptools

from ..core.errors import UpstreamUnavailable
from ..core.headers import Headers
from ..core.routing import Target
from .errors import (
    ClosedUnanswered,
    body_error,
    head_error,
    head_too_big,
    refusal,
    too_many_fields,
)
from .framing import FramingRefused, content_length, delimited_by_close
from .response import Sink
from .tls import tls_failure

#: A final head: status, reason, fields, ``Content-Length`` (None: the body is not so framed).
Head = tuple[int, str, Headers, "int | None"]

#: The largest single read from a backend, and how much of a response body may wait in memory
#: for a consumer before reading stops.
READ_BUFFER = 1 << 20


class State(enum.Enum):
    """Where a connection's exchange is."""

    # Members are singletons: hash them by identity, in C, rather than by Enum's own
    # ``__hash__`` (a Python call on every transition check).
    __hash__ = object.__hash__

    IDLE = "idle"  # no exchange: new, or back in the pool
    AWAITING_HEAD = "awaiting head"  # the request went out; the final head is not complete
    INTERIM = "interim"  # in a 1xx answer, which a final one follows
    BODY = "body"  # the final head is passed on; its body has a length or chunks
    BODY_UNTIL_CLOSE = "body until close"  # the body ends with the connection (RFC 9112 §6.3)
    DONE = "done"  # the final answer ended where its framing says
    CLOSED = "closed"  # the end, from any state: a failure, a close by either side


_NEXT: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.AWAITING_HEAD, State.CLOSED}),
    State.AWAITING_HEAD: frozenset(
        {State.INTERIM, State.BODY, State.BODY_UNTIL_CLOSE, State.CLOSED}
    ),
    State.INTERIM: frozenset({State.AWAITING_HEAD, State.CLOSED}),
    State.BODY: frozenset({State.DONE, State.CLOSED}),
    State.BODY_UNTIL_CLOSE: frozenset({State.DONE, State.CLOSED}),
    State.DONE: frozenset({State.IDLE, State.CLOSED}),
    State.CLOSED: frozenset(),
}


class _Stop(Exception):
    """Raised in a parser callback to stop parsing. ``error`` ends the exchange; ``None`` means
    the exchange is complete and a byte after its answer only spoils the connection."""

    def __init__(self, error: UpstreamUnavailable | None) -> None:
        super().__init__(error)
        self.error = error


class ResponseReader(asyncio.BufferedProtocol):
    """The reading half of a connection to ``target`` (``Connection`` adds the writing half and
    the exchange). ``_head`` is the exchange's future for the final head; ``_done`` the body
    consumer's for the body's end; the state says which one waits."""

    def __init__(self, target: Target, buffer: memoryview, max_head: int, max_fields: int) -> None:
        self.target = target
        self.transport: asyncio.Transport | None = None
        self._state = State.IDLE
        self._loop = asyncio.get_running_loop()
        self._buffer = buffer
        self._max_head = max_head
        self._max_fields = max_fields
        self._paused = False  # we paused reading
        self._reset()

    def _reset(self) -> None:
        """Forget the last exchange's answer (and ready the first)."""
        self._parser: httptools.HttpResponseParser | None = None
        self._head: asyncio.Future[Head] | None = None
        self._headers: Headers = []
        self._reason = ""
        self._keep_alive = False
        self._no_body = False  # an answer to HEAD
        self._body: list[bytes] = []  # read before a sink was attached
        self._body_size = 0
        self._sink: Sink | None = None
        self._busy: Awaitable[None] | None = None
        self._done: asyncio.Future[None] | None = None
        self._error: BaseException | None = None  # why the exchange ended after its head
        self._silence: asyncio.TimerHandle | None = None
        self._heard_at = 0.0
        #: Bytes read since the last body byte (or since the exchange began): the head, then
        #: chunk-size lines and trailers. Counting per read keeps a never-ending head bounded.
        self._since_body = 0
        self._head_size = 0  # bytes of the heads parsed so far, interim ones included
        self._fields = 0  # header fields in the current head or trailer section

    # -- state ---------------------------------------------------------------------------

    def _move(self, to: State) -> None:
        if to not in _NEXT[self._state]:
            raise AssertionError(
                f"connection to {self.target.where}: no move from {self._state.name} to {to.name}"
            )
        self._state = to

    def _in_head(self) -> bool:
        return self._state is State.AWAITING_HEAD or self._state is State.INTERIM

    def _in_body(self) -> bool:
        return self._state is State.BODY or self._state is State.BODY_UNTIL_CLOSE

    def _abort(self) -> None:
        if self._state is not State.CLOSED:
            self._move(State.CLOSED)
            self._stop_timer()
            if self.transport is not None:
                self.transport.abort()

    def _fail(self, error: BaseException | None) -> None:
        """End the exchange with ``error`` (``None``: the backend closed mid-message)."""
        where = self.target.where
        if self._head is not None and not self._head.done():
            self._head.set_exception(head_error(where, error, bool(self._since_body)))
        elif self._error is None:
            self._error = body_error(where, error)
            if self._done is not None and not self._done.done():
                self._done.set_exception(self._error)
        self._abort()

    def _stop_timer(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None

    # -- asyncio callbacks ---------------------------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        parser = self._parser
        if parser is None:  # bytes nobody asked for: this connection cannot be trusted
            self._abort()
            return
        self._since_body += len(data)
        self._heard_at = self._loop.time()
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as e:
            stop = e.__context__
            if isinstance(stop, _Stop):
                self._backend_fault(stop.error)
            else:
                where = self.target.where
                self._backend_fault(UpstreamUnavailable(f"{where} sent an invalid response: {e}"))
            return
        if self._since_body > self._max_head:
            self._backend_fault(head_too_big(self.target.where, self._max_head, self._in_head()))

    def _backend_fault(self, error: UpstreamUnavailable | None) -> None:
        """What the backend sent ends the exchange with ``error``; after its complete answer it
        only means the connection is not reused (``error`` None: it was bytes after it)."""
        if self._state is State.DONE or self._state is State.CLOSED:
            self._abort()
        else:
            self._fail(error)

    def eof_received(self) -> bool:
        if self._state is State.BODY_UNTIL_CLOSE:
            self._message_done()  # a body delimited by the connection's end (RFC 9112 §6.3)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ssl.SSLError) and (self._in_head() or self._in_body()):
            # A TLS alert mid-exchange (with TLS 1.3, a client certificate the backend refused
            # arrives so, after our handshake was done): the reason, not a plain close.
            self._fail(tls_failure(self.target.where, exc))
        elif self._in_head() and not self._since_body:
            self._fail(ClosedUnanswered())
        elif self._in_head() or self._in_body():
            self._fail(None)
        else:
            self._abort()  # the transport is gone already: this only records it

    # -- parser callbacks (httptools) ----------------------------------------------------

    def on_message_begin(self) -> None:
        if self._state is not State.AWAITING_HEAD:  # a second answer, or bytes after a failure
            raise _Stop(None)
        self._headers = []
        self._reason = ""
        self._fields = 0

    # The heads' exact accounting (``_head_size``, ``_fields``) catches a head that came in one
    # large read, which the per-read count in ``data_received`` only sees in part.

    def on_status(self, reason: bytes) -> None:
        # "HTTP/1.1 200 " and CRLF around the reason; the parser may hand it over in pieces.
        self._head_size += len(reason) + 15
        if self._head_size > self._max_head:
            raise _Stop(head_too_big(self.target.where, self._max_head, True))
        self._reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Also called for a chunked body's trailer fields, which are counted but not kept: our
        # head is gone by then, and trailers are the backend's to us (RFC 9110 §6.5).
        self._fields += 1
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_size > self._max_head:
            raise _Stop(head_too_big(self.target.where, self._max_head, self._in_head()))
        if self._fields > self._max_fields:
            raise _Stop(too_many_fields(self.target.where, self._max_fields))
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:  # only an upgrade may be answered so (RFC 9110 §15.2.2)
                why = "switched protocols (101) in answer to a plain request"
                raise _Stop(refusal(self.target.where, why))
            if status < 100:
                raise _Stop(refusal(self.target.where, f"sent an invalid status code {status}"))
            self._move(State.INTERIM)  # the parser reports its end as a message's end
            return
        headers, self._headers = self._headers, []
        self._fields = self._head_size = 0  # a trailer section is counted on its own
        self._keep_alive = self._parser.should_keep_alive()
        length = content_length(headers)
        try:
            until_close = delimited_by_close(status, headers, length)
        except FramingRefused as e:
            raise _Stop(refusal(self.target.where, str(e))) from None
        self._move(State.BODY_UNTIL_CLOSE if until_close else State.BODY)
        if self._head is not None and not self._head.done():
            self._head.set_result((status, self._reason, headers, length))
        if self._no_body:  # an answer to HEAD: the parser would wait for a body that never comes
            self._message_done()

    def on_body(self, chunk: bytes) -> None:
        self._since_body = 0
        state = self._state
        if state is not State.BODY and state is not State.BODY_UNTIL_CLOSE:
            return  # the exchange failed, or this is a body to HEAD: the rest of the read drops
        sink = self._sink
        if sink is None:
            self._body.append(chunk)
            self._body_size += len(chunk)
            if self._body_size > READ_BUFFER:
                self._pause()
            return
        try:
            busy = sink(chunk)
        except BaseException as e:  # the consumer is gone (a client that left): stop here
            self._fail(e)
            return
        if busy is not None:
            self._wait_for(busy)

    def on_message_complete(self) -> None:
        if self._state is State.INTERIM:  # the end of a 1xx answer, not of the exchange
            self._move(State.AWAITING_HEAD)
        elif self._in_body():
            self._message_done()

    def _message_done(self) -> None:
        self._move(State.DONE)
        self._stop_timer()
        if self._done is not None and not self._done.done() and self._busy is None:
            self._done.set_result(None)

    # -- backpressure --------------------------------------------------------------------

    def _pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self._paused and self.transport is not None and self._state is not State.CLOSED:
            self._paused = False
            self._heard_at = self._loop.time()  # the silence was ours, not the backend's
            self.transport.resume_reading()

    def _wait_for(self, busy: Awaitable[None]) -> None:
        future = asyncio.ensure_future(busy)
        self._busy = future
        self._pause()
        future.add_done_callback(self._unbusy)

    def _unbusy(self, future: asyncio.Future[None]) -> None:
        if future is not self._busy:
            if not future.cancelled():
                future.exception()
            return
        self._busy = None
        error = None if future.cancelled() else future.exception()
        if error is not None:
            self._fail(error)
        elif self._in_body():
            self._resume()
        elif self._done is not None and not self._done.done():
            self._done.set_result(None)  # the answer ended while the sink was busy

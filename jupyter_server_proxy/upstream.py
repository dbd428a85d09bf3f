"""Pooled HTTP/1.1 client to backends, over TCP and unix sockets (websockets: ``wspipe.py``).

Why our own client (on asyncio protocols and the ``httptools`` parser) rather than a general one:
a proxy needs little of a general client (no cookies, redirects, decompression or URL handling)
and pays for all of it on every request. Here a request is one write of bytes we built, the
response head is parsed in C, and body bytes are handed to the client side from the socket
callback itself, with no task switch per read.

Rules:
- Keep-alive pools per backend (``host:port`` or unix socket path); an idle connection the backend
  closes leaves the pool when its close arrives. At most ``limit_per_host`` idle connections are
  kept per backend; concurrency is not capped (each request already holds a client connection).
- Bytes pass untouched: the request target is sent as received (``%2F`` stays ``%2F``), bodies
  and their ``Content-Encoding`` are not touched, nothing is added but ``Host`` when missing.
- A request body is streamed with the client's ``Content-Length`` when it gave one, else with
  chunked coding (RFC 9112 §7.1). Writing waits while the socket's buffer is full.
- Response bodies: the consumer's sink is called per read; when it reports it is busy, reading
  stops until it is not (backpressure), so memory per request stays bounded.
- A request without a body that fails on a reused connection before any byte of an answer is
  retried once on a fresh one (the race RFC 9112 §9.3.1 warns of); nothing with a body is.
- Interim answers (1xx but 101: 100 Continue, 102 Processing, 103 Early Hints...) are read and
  skipped; the exchange's answer is the final one that follows (RFC 9110 §15.2). A 101 to a plain
  request is an error: we never asked to switch protocols.
- A connection is reused only after a complete exchange that both sides keep alive, where the
  answer ended exactly where its framing says and nothing followed it; anything else (an error, a
  cancelled exchange, an answer to HEAD, a byte after the answer, on an idle connection too)
  closes it, so no byte of one answer is ever read as part of another. An idle connection is
  checked for unread bytes once more as it is taken from the pool. A request that says
  ``Connection: close`` is its connection's last, whatever the answer says (RFC 9112 §9.6).
- Framing a proxy must not guess at is an error (RFC 9112 §6.1, §6.3: response smuggling):
  ``Transfer-Encoding`` with ``Content-Length``, two ``Content-Length`` fields, or a transfer
  coding other than ``chunked`` (which we would pass on undecoded, as nginx refuses to).
- What a backend sends outside of body data is bounded: the head (interim heads included) by
  ``max_response_header_size`` bytes and ``max_response_header_count`` fields, a chunked body's
  trailers and chunk-size lines by the same size; past them the exchange fails, naming the
  setting. Bytes are counted as they arrive, so a huge head never sits in memory whole.
- Every wait is bounded: connecting by ``connect_timeout``, and the backend's silence while we
  wait for or read its answer by ``read_timeout`` (not while *we* paused reading, nor while the
  request body is still being sent).
- I/O errors become our error types here and nowhere else (``UpstreamUnavailable`` 502,
  ``UpstreamTimeout`` 504; ``BodyBroken`` once the head has been passed on, which carries the
  502 or 504 for a client that has received nothing of the response yet).
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import httptools

from .core.errors import UpstreamTimeout, UpstreamUnavailable
from .core.headers import Headers, connection_tokens
from .core.routing import Target
from .tcptune import DEFAULT as DEFAULT_CONGESTION_CONTROL
from .tcptune import unpaced_to_loopback
from .timelimit import within

#: The largest single read from a backend, and how much of a response body may wait in memory
#: for a consumer before reading stops.
READ_BUFFER = 1 << 20
#: The socket's write buffer above which a request body waits (asyncio's high-water mark).
_WRITE_HIGH = 1 << 20

Sink = Callable[[bytes], "Awaitable[None] | None"]


@dataclass(frozen=True)
class UpstreamSettings:
    connect_timeout: float = 10.0
    #: Seconds the backend may stay silent while we wait for or read its response; 0 is forever.
    read_timeout: float = 300.0
    limit_per_host: int = 64
    #: Bytes of a response head (status line and fields, with the 1xx heads before it), and of
    #: what a chunked body sends between two data bytes (chunk-size lines, trailers). 64 KiB is
    #: tornado's ``max_header_size``, which 4.x (on tornado's client) applied to backends; nginx
    #: (``proxy_buffer_size``, 4-8 KiB) and Varnish (``http_resp_size``, 32 KiB) are stricter.
    max_response_header_size: int = 64 << 10
    #: Header fields in one response head (or trailer section): Apache's ``LimitRequestFields``
    #: (100); Varnish allows a backend's response 64 (``http_max_hdr``). It bounds the per-field
    #: work of a head made of many tiny fields, which the size alone lets through by the thousand.
    max_response_header_count: int = 100
    #: What replaces a pacing congestion control (bbr) on our connections to loopback backends;
    #: "" keeps the host's choice (``tcptune.py``).
    loopback_congestion_control: str = DEFAULT_CONGESTION_CONTROL


class BodyBroken(Exception):
    """The backend broke off (or went silent) after its response head was passed on.
    ``error`` is the answer for a client that has received nothing of the response yet."""

    def __init__(self, error: UpstreamUnavailable | UpstreamTimeout) -> None:
        super().__init__(error.message)
        self.error = error


class _Retry(Exception):
    """A reused connection was found closed before any answer: try a fresh one."""


class _Stop(Exception):
    """Raised in a parser callback to stop parsing. ``error`` ends the exchange; ``None`` means
    the exchange is complete and a byte after its answer only spoils the connection."""

    def __init__(self, error: UpstreamUnavailable | None) -> None:
        super().__init__(error)
        self.error = error


class Response:
    """A backend's answer: the head at once, the body through ``stream_to`` or ``read_all``."""

    def __init__(self, conn: _Connection, status: int, reason: str, headers: Headers) -> None:
        self._conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        length = next((v for n, v in headers if n.lower() == "content-length"), None)
        self.content_length = int(length) if length is not None and length.isdigit() else None
        self.url = ""  # set by ``Upstream.request``

    async def stream_to(self, sink: Sink) -> None:
        """Pass the body to ``sink`` read by read until it ends. Raises ``BodyBroken`` if the
        backend breaks off, or what the sink raised."""
        await self._conn.deliver(sink)

    async def read_all(self, limit: int, too_big: str) -> bytes:
        """The whole body; ``UpstreamUnavailable(too_big)`` past ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0

        def keep(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > limit:
                raise UpstreamUnavailable(too_big)
            parts.append(chunk)

        await self._conn.deliver(keep)
        return b"".join(parts)

    def release(self) -> None:
        """Done with this exchange: the connection goes back to the pool if it can be reused."""
        self._conn.finish_exchange()


class _Connection(asyncio.BufferedProtocol):
    """One keep-alive connection. Invariant: at most one exchange at a time; ``_head`` is the
    current exchange's future for the response head; ``message_complete`` says the *final*
    answer ended as framed (interim 1xx answers never set it).

    Reads go into the pool's one shared buffer (``get_buffer``/``buffer_updated``): large reads
    mean fewer callbacks per MB, and sharing is safe because the parser has consumed (copied)
    a read before the event loop makes the next one."""

    def __init__(self, pool: Upstream, key: str, target: Target) -> None:
        self._pool = pool
        self.key = key
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._parser: httptools.HttpResponseParser | None = None
        self._head: asyncio.Future[Response] | None = None
        self._headers: Headers = []
        self._reason = ""
        self._body: list[bytes] = []  # read before a sink was attached
        self._body_size = 0
        self._sink: Sink | None = None
        self._done: asyncio.Future[None] | None = None
        self._until_eof = False
        self.message_complete = False
        self._interim = False  # the parser is in a 1xx answer
        self._keep_alive = False
        #: Bytes read since the last body byte (or since the exchange began): the head, then
        #: chunk-size lines and trailers. Counting per read keeps a never-ending head bounded.
        self._since_body = 0
        self._head_size = 0  # bytes of the heads parsed so far, interim ones included
        self._fields = 0  # header fields in the current head or trailer section
        limits = pool.settings
        self._max_head = limits.max_response_header_size
        self._max_fields = limits.max_response_header_count
        self._paused = False
        self._busy: Awaitable[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._silence: asyncio.TimerHandle | None = None
        self._heard_at = 0.0
        self._sending: asyncio.Task[None] | None = None
        self._no_reuse = False  # an answer to HEAD
        self._last = False  # the request said ``Connection: close``
        self._error: BaseException | None = None  # why the current exchange ended early

    # -- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=_WRITE_HIGH)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._pool.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._pool.read_buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        parser = self._parser
        if parser is None:  # bytes nobody asked for: this connection cannot be trusted
            self._close()
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
            self._backend_fault(self._too_big())

    def _backend_fault(self, error: UpstreamUnavailable | None) -> None:
        """What the backend sent ends the exchange with ``error``; after its complete answer it
        only means the connection is not reused (``error`` None: it was bytes after it)."""
        if self.message_complete:
            self._close()
        else:
            self._fail(error)

    def _refusal(self, what: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"{self.target.where} {what}")

    def _too_big(self) -> UpstreamUnavailable:
        in_head = self._head is not None and not self._head.done()
        part = "response head" if in_head else "chunk-size lines or trailer section"
        return self._refusal(
            f"sent a {part} larger than {self._max_head} bytes, the limit set by "
            "c.ServerProxy.max_response_header_size"
        )

    def eof_received(self) -> bool:
        # ``_until_eof`` is only ever set once the head is complete.
        if self._parser is not None and self._until_eof:
            self._on_message_complete()  # a body delimited by the connection's end (RFC 9112 §6.3)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        self.resume_writing()  # an upload waiting for the buffer to drain sees the end instead
        if self._parser is not None and not self.message_complete:
            if self._head is not None and not self._head.done() and not self._since_body:
                self._fail(_Retry())
            else:
                self._fail(None)

    def pause_writing(self) -> None:
        self._drained = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    # -- parser callbacks (httptools) ----------------------------------------------------

    def on_message_begin(self) -> None:
        if self.message_complete:  # a second answer to one request (or garbage after it)
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
            raise _Stop(self._too_big())
        self._reason += reason.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Also called for a chunked body's trailer fields, which are counted but not kept: our
        # head is gone by then, and trailers are the backend's to us (RFC 9110 §6.5).
        self._fields += 1
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._fields > self._max_fields or self._head_size > self._max_head:
            raise _Stop(self._too_many())
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def _too_many(self) -> UpstreamUnavailable:
        if self._head_size > self._max_head:
            return self._too_big()
        return self._refusal(
            f"sent more than {self._max_fields} header fields, the limit set by "
            "c.ServerProxy.max_response_header_count"
        )

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200:
            if status == 101:  # only an upgrade may be answered so (RFC 9110 §15.2.2)
                raise _Stop(self._refusal("switched protocols (101) in answer to a plain request"))
            if status < 100:
                raise _Stop(self._refusal(f"sent an invalid status code {status}"))
            # Interim (100 Continue, 102, 103 Early Hints...): skipped; the final answer follows
            # (RFC 9110 §15.2). The parser reports it as a whole message, see on_message_complete.
            self._interim = True
            return
        headers, self._headers = self._headers, []
        self._fields = self._head_size = 0  # a trailer section is counted on its own
        self._keep_alive = self._parser.should_keep_alive()
        response = Response(self, status, self._reason, headers)
        framed = response.content_length is not None  # the parser refuses it with chunked
        if not framed:
            codings = [
                t.strip().lower()
                for n, v in headers
                if n.lower() == "transfer-encoding"
                for t in v.split(",")
            ]
            if codings and codings != ["chunked"]:
                # The parser would read "gzip" until the close and "gzip, chunked" as chunked;
                # either way the client would get bytes in a coding nobody announces to it.
                raise _Stop(self._refusal(f"sent a Transfer-Encoding we cannot pass on: {codings}"))
            framed = bool(codings)
        self._until_eof = not framed and status not in (204, 304)
        if self._head is not None and not self._head.done():
            self._head.set_result(response)
        if self._no_reuse:  # an answer to HEAD: the parser would wait for a body that never comes
            self._on_message_complete()

    def on_body(self, chunk: bytes) -> None:
        self._since_body = 0
        sink = self._sink
        if self._error is not None:
            return  # the exchange already failed; the rest of this read is dropped
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
        if self._interim:  # the end of a 1xx answer, not of the exchange
            self._interim = False
            return
        self._on_message_complete()

    def _on_message_complete(self) -> None:
        if self.message_complete:
            return
        self.message_complete = True
        self._stop_timer()
        if self._done is not None and not self._done.done() and self._busy is None:
            self._done.set_result(None)

    # -- backpressure --------------------------------------------------------------------

    def _pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
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
            return
        if self.message_complete:
            if self._done is not None and not self._done.done():
                self._done.set_result(None)
        else:
            self._resume()

    # -- one exchange --------------------------------------------------------------------

    async def exchange(
        self,
        head: bytes,
        body: AsyncIterator[bytes] | bytes | None,
        chunked: bool,
        no_body_answer: bool,
        last: bool,
        read_timeout: float,
    ) -> Response:
        assert self.transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._head = self._loop.create_future()
        self._no_reuse = no_body_answer
        self._last = last
        self._since_body = self._head_size = 0
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
        return await self._head

    async def _send(self, body: AsyncIterator[bytes], chunked: bool) -> None:
        assert self.transport is not None
        async for chunk in body:
            if self.closed:
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
        if chunked and not self.closed:
            self.transport.write(b"0\r\n\r\n")

    def _sent(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # the client's upload broke off: so does this exchange
            self._fail(UpstreamUnavailable(f"the request body could not be sent: {error}"))

    async def deliver(self, sink: Sink) -> None:
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
        if self.message_complete and self._busy is None:
            return
        self._resume()
        await self._done

    def _check_silence(self, limit: float) -> None:
        if self.closed or self.message_complete:
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

    def _stop_timer(self) -> None:
        if self._silence is not None:
            self._silence.cancel()
            self._silence = None

    def _fail(self, error: BaseException | None) -> None:
        """End the exchange with ``error`` (``None``: the backend closed mid-message)."""
        self._stop_timer()
        where = self.target.where
        if self._head is not None and not self._head.done():
            if isinstance(error, asyncio.TimeoutError):
                error = UpstreamTimeout(f"{where} did not answer within the configured timeout")
            elif error is None:
                when = "in its response head" if self._since_body else "before it answered"
                error = UpstreamUnavailable(f"{where} closed the connection {when}")
            self._head.set_exception(error)
        elif self._error is None:
            # The head is out; the body's consumer gets ``BodyBroken`` with the cause, so that
            # a handler that has sent nothing yet can still answer with it.
            if error is None:
                error = BodyBroken(UpstreamUnavailable(f"{where} broke off the response"))
            elif isinstance(error, asyncio.TimeoutError):
                error = BodyBroken(
                    UpstreamTimeout(f"{where} went silent mid-response, past the read timeout")
                )
            elif isinstance(error, UpstreamUnavailable):
                error = BodyBroken(error)
            self._error = error
            if self._done is not None and not self._done.done():
                self._done.set_exception(error)
        self._close()

    def _close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()
        self.closed = True

    def quiet(self) -> bool:
        """Whether nothing waits unread on this idle connection. Bytes (or the end) that came
        in after its last exchange but that the event loop has not read yet would otherwise be
        taken for the next request's answer; httpcore makes the same check before it reuses a
        connection. ``poll`` rather than ``select``: descriptors may be past FD_SETSIZE."""
        assert self.transport is not None
        poller = select.poll()
        poller.register(self.transport.get_extra_info("socket").fileno(), select.POLLIN)
        return not poller.poll(0)

    def finish_exchange(self) -> None:
        reusable = (
            self.message_complete
            and self._keep_alive
            and not self._no_reuse
            and not self._last
            and not self.closed
            and (self._sending is None or self._sending.done())
        )
        if self._sending is not None and not self._sending.done():
            self._sending.cancel()
        self._stop_timer()
        self._parser = None
        self._head = self._done = None
        self._sink = self._busy = None
        self._sending = None
        self._body = []
        self._body_size = 0
        self._error = None
        self.message_complete = False
        self._interim = False
        self._until_eof = False
        if self._paused:
            self._resume()
        if reusable:
            self._pool.give_back(self)
        else:
            self._close()


_NO_BODY_ANSWER = frozenset({"HEAD"})


async def connect(
    target: Target, protocol: asyncio.BaseProtocol, timeout: float, *, congestion_control: str
) -> asyncio.BaseTransport:
    """Connect ``protocol`` to the backend over TCP or its unix socket, within ``timeout``
    seconds (0: no limit); failures become our errors, naming the backend. A loopback TCP
    connection gets ``congestion_control`` in place of a pacing one ("": left as it is)."""
    loop = asyncio.get_running_loop()
    try:
        if target.unix_socket:
            connecting = loop.create_unix_connection(lambda: protocol, target.unix_socket)
        else:
            assert target.port is not None  # a Target has a port or a unix socket
            connecting = loop.create_connection(lambda: protocol, target.host, target.port)
        transport, _ = await within(connecting, timeout)
    except asyncio.TimeoutError as e:
        raise UpstreamTimeout(
            f"could not connect to {target.where} within the configured timeout"
        ) from e
    except OSError as e:
        raise UpstreamUnavailable(f"could not connect to {target.where}: {e.strerror or e}") from e
    unpaced_to_loopback(transport.get_extra_info("socket"), congestion_control)
    return transport


class Upstream:
    """Owns the connection pools. Create one per server; ``close()`` on shutdown."""

    def __init__(self, settings: UpstreamSettings | None = None) -> None:
        self.settings = settings or UpstreamSettings()
        self._idle: dict[str, list[_Connection]] = {}
        #: Where every connection's reads land (see ``_Connection``).
        self.read_buffer = memoryview(bytearray(READ_BUFFER))
        self._all: set[_Connection] = set()

    @staticmethod
    def _key(target: Target) -> str:
        return f"unix:{target.unix_socket}" if target.unix_socket else target.authority

    async def _connect(self, target: Target, key: str, timeout: float) -> _Connection:
        conn = _Connection(self, key, target)
        await connect(
            target,
            conn,
            timeout,
            congestion_control=self.settings.loopback_congestion_control,
        )
        self._all.add(conn)
        return conn

    def give_back(self, conn: _Connection) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) < self.settings.limit_per_host:
            idle.append(conn)
        else:
            conn._close()

    def forget(self, conn: _Connection) -> None:
        self._all.discard(conn)
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.key]

    async def request(
        self,
        method: str,
        target: Target,
        target_uri: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes] | bytes | None,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> Response:
        """Send the request and return once the response head arrived; the caller takes the
        body and must ``release()`` the response. The two timeouts, when given, replace the
        settings' for this request only (a handler's ``proxy_request_options``)."""
        if connect_timeout is None:
            connect_timeout = self.settings.connect_timeout
        if read_timeout is None:
            read_timeout = self.settings.read_timeout
        key = self._key(target)
        fields = list(headers)
        names = {n.lower() for n, _ in fields}
        if "host" not in names:
            fields.insert(0, ("Host", "localhost" if target.unix_socket else target.authority))
        chunked = False
        if isinstance(body, bytes):
            fields = [(n, v) for n, v in fields if n.lower() != "content-length"]
            fields.append(("Content-Length", str(len(body))))
        elif body is not None and "content-length" not in names:
            chunked = True
            fields.append(("Transfer-Encoding", "chunked"))
        lines = [f"{method} {target_uri} HTTP/1.1", *(f"{n}: {v}" for n, v in fields), "", ""]
        head = "\r\n".join(lines).encode("latin-1")
        last = "close" in connection_tokens(fields)
        attempts = 2 if body is None else 1
        for attempt in range(attempts):
            idle = self._idle.get(key)
            conn = None
            while idle:
                candidate = idle.pop()
                if not candidate.closed and candidate.quiet():
                    conn = candidate
                    break
                candidate._close()
            reused = conn is not None
            if conn is None:
                conn = await self._connect(target, key, connect_timeout)
            try:
                response = await conn.exchange(
                    head,
                    body,
                    chunked,
                    method in _NO_BODY_ANSWER,
                    last,
                    read_timeout,
                )
                response.url = f"http://{key}{target_uri}"
                return response
            except _Retry as e:
                conn.finish_exchange()
                if reused and attempt + 1 < attempts:
                    continue
                raise UpstreamUnavailable(
                    f"{target.where} closed the connection before it answered"
                ) from e
            except BaseException:
                conn.finish_exchange()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        for conn in list(self._all):
            conn._close()
        self._all.clear()
        self._idle.clear()

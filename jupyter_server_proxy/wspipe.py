"""The websocket relay: frames pass between client and backend as bytes, checked by header only.

Why bytes and not messages: decoding each message on one side and encoding it again on the other
costs a task, a mask/unmask and two copies per message; a relay needs none of that (see
``core/wsframes.py`` for why the frames are valid unchanged). What we keep of a websocket
endpoint's duties: the rules a frame header shows, the message size limit, keep-alive pings to an
idle client, and a close frame with a code and reason whenever we end a connection ourselves.

Rules:
- The backend is connected (and its 101 checked) before the client is answered, so a refusal is an
  HTTP error for the client and the client gets the backend's subprotocol.
- Backpressure: when one side's outgoing buffer is full we stop reading the other side, so a slow
  reader slows the writer and memory stays bounded by the transports' buffers.
- A long payload between two plain sockets is spliced: once a frame's header is checked and at
  least ``SPLICE_MIN`` of its payload is still to come, those bytes go from socket to socket inside
  the kernel (``splice.py``), and the transports take over again at the next header.
- Whichever side ends first ends the other; a close frame that went by is relayed as it was.
- Every wait is bounded: connecting by ``connect_timeout``, the backend's 101 by ``read_timeout``,
  and a client that stops answering pings is let go.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .core.errors import UpstreamTimeout, UpstreamUnavailable
from .core.headers import Headers
from .core.routing import Target
from .core.wsframes import (
    GOING_AWAY,
    INTERNAL_ERROR,
    PING,
    FrameScanner,
    Refusal,
    close_frame,
    control_frame,
    new_key,
)
from .core.wshandshake import MAX_HEAD, BackendAnswer, backend_request, parse_backend_answer
from .splice import AVAILABLE as SPLICE_AVAILABLE
from .splice import End, Splice
from .upstream import connect

#: Payload still to come in a frame, from which it is spliced rather than read into Python. Below
#: this, setting a splice up (a dozen system calls) costs about what it saves.
SPLICE_MIN = 256 * 1024


class Side(Protocol):
    """One connection of the relay, as the pipe drives it."""

    scanner: FrameScanner
    #: Frames we write to this side must be masked: it is the server (RFC 6455 §5.3).
    masked: bool

    def attach(self, pipe: WebSocketPipe) -> None:
        """Start relaying through ``pipe``, beginning with anything read before."""

    def write(self, data: bytes) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def close(self) -> None:
        """Close after everything written so far is sent."""


class SocketSide(asyncio.Protocol):
    """A side on an asyncio transport (the backend, and a client on a plain socket)."""

    def __init__(self, scanner: FrameScanner, *, masked: bool, early: bytes = b"") -> None:
        self.scanner = scanner
        self.masked = masked
        self.pipe: WebSocketPipe | None = None
        self.transport: asyncio.Transport | None = None
        self._early = bytearray(early)  # read before the pipe was attached
        self._lost = False
        # Reading stops for either of two reasons, and resumes only when neither holds.
        self._paused = False  # the peer's outgoing buffer is full (backpressure)
        self._held = False  # a splice is reading this socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 20)

    def data_received(self, data: bytes) -> None:
        if self.pipe is not None:
            self.pipe.received(self, data)
        else:
            self._early += data
            self._not_attached()

    def _not_attached(self) -> None:
        # Nothing relays yet: hold what came and stop reading until the pipe starts.
        assert self.transport is not None
        self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self.pipe is not None:
            self.pipe.ended(self)

    def pause_writing(self) -> None:
        if self.pipe is not None:
            self.pipe.blocked(self, True)

    def resume_writing(self) -> None:
        if self.pipe is not None:
            self.pipe.blocked(self, False)

    def attach(self, pipe: WebSocketPipe) -> None:
        self.pipe = pipe
        early, self._early = bytes(self._early), bytearray()
        if early:
            pipe.received(self, early)
        if self._lost:
            pipe.ended(self)
        elif self.transport is not None:
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pause_reading(self) -> None:
        self._paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if self.transport is not None and not self._held:
            self.transport.resume_reading()

    def hold(self) -> None:
        """Stop reading while a splice reads this socket."""
        self._held = True
        if self.transport is not None:
            self.transport.pause_reading()

    def release(self) -> None:
        self._held = False
        if self.transport is not None and not self._paused:
            self.transport.resume_reading()

    def splice_fd(self, *, writing: bool) -> int | None:
        """The socket's descriptor, if bytes may be spliced from it (or, ``writing``, to it:
        nothing of ours may still wait in the transport's buffer) now; else None."""
        t = self.transport
        if not SPLICE_AVAILABLE or t is None or t.is_closing():
            return None
        if t.get_extra_info("sslcontext") is not None or (writing and t.get_write_buffer_size()):
            return None
        sock = t.get_extra_info("socket")
        return None if sock is None else int(sock.fileno())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class BackendSide(SocketSide):
    """The backend's connection, which starts with our upgrade request and its 101."""

    def __init__(self, scanner: FrameScanner, where: str) -> None:
        super().__init__(scanner, masked=True)
        self.where = where
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def _not_attached(self) -> None:
        if self.answer.done():
            super()._not_attached()
            return
        head, sep, rest = bytes(self._early).partition(b"\r\n\r\n")
        if sep:
            self._early = bytearray(rest)
            self.answer.set_result(head)
            if rest:
                super()._not_attached()
        elif len(self._early) > MAX_HEAD:
            self.answer.set_exception(
                UpstreamUnavailable(f"{self.where} sent a response head over {MAX_HEAD} bytes")
            )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(
                UpstreamUnavailable(f"{self.where} closed the connection before it answered")
            )
        super().connection_lost(exc)


@dataclass
class BackendConnection:
    side: BackendSide
    answer: BackendAnswer

    def abort(self) -> None:
        self.side.abort()


@dataclass(frozen=True)
class PipeSettings:
    connect_timeout: float
    read_timeout: float  # 0: wait forever for the 101
    max_message_size: int
    ping_interval: float  # 0: no keep-alive pings
    ping_timeout: float  # a client silent this long after a ping is let go


async def connect_backend(
    target: Target,
    target_uri: str,
    headers: Headers,
    protocols: Sequence[str],
    settings: PipeSettings,
) -> BackendConnection:
    """Open the backend's websocket (TCP or unix socket) and check its 101."""
    where = target.where
    side = BackendSide(
        FrameScanner(from_client=False, max_message_size=settings.max_message_size), where
    )
    await connect(target, side, settings.connect_timeout)
    key = new_key()
    try:
        assert side.transport is not None
        side.transport.write(backend_request(target_uri, headers, key, protocols, where))
        head = await asyncio.wait_for(side.answer, settings.read_timeout or None)
        answer = parse_backend_answer(head, key, protocols, where)
    except asyncio.TimeoutError as e:
        side.abort()
        raise UpstreamTimeout(f"{where} did not answer within the configured timeout") from e
    except BaseException:
        side.abort()
        raise
    return BackendConnection(side, answer)


async def socket_side(sock: socket.socket, early: bytes, max_message_size: int) -> SocketSide:
    """A client side on an accepted plain socket (taken over from the HTTP server)."""
    side = SocketSide(
        FrameScanner(from_client=True, max_message_size=max_message_size),
        masked=False,
        early=early,
    )
    await asyncio.get_running_loop().connect_accepted_socket(lambda: side, sock)
    return side


class WebSocketPipe:
    """Relays one client <-> backend websocket. ``start()`` it once both sides are connected."""

    def __init__(
        self,
        client: Side,
        backend: Side,
        settings: PipeSettings,
        *,
        on_activity: Callable[[], None],
        on_done: Callable[[WebSocketPipe], None],
    ) -> None:
        self.client = client
        self.backend = backend
        self._settings = settings
        self._on_activity = on_activity
        self._on_done = on_done
        self._heard = True  # something arrived from the client since the last ping tick
        self._silent_ticks = 0
        self._ticker: asyncio.TimerHandle | None = None
        self._we_closed: set[int] = set()  # ids of sides we sent a close frame of our own
        self._splices: dict[int, Splice] = {}  # by id of the side read from
        self.done = False

    def start(self) -> None:
        interval = self._settings.ping_interval
        if interval > 0:
            self._ticker = asyncio.get_running_loop().call_later(interval, self._tick)
        self.client.attach(self)
        self.backend.attach(self)

    # -- data --------------------------------------------------------------------------------

    def received(self, side: Side, data: bytes) -> None:
        if self.done:
            return
        forward, refusal = side.scanner.feed(data)
        peer = self.backend if side is self.client else self.client
        if forward:
            peer.write(forward)
        if side is self.client:
            self._heard = True
        self._on_activity()
        if refusal is not None:
            self._refuse(side, peer, refusal)
        elif side.scanner.payload_left >= SPLICE_MIN:
            self._splice(side, peer)

    def _splice(self, side: Side, peer: Side) -> None:
        """Pass the rest of the current frame's payload from ``side`` to ``peer`` in the kernel,
        if both are plain sockets and ``peer`` has nothing of ours left to send."""
        if not (isinstance(side, SocketSide) and isinstance(peer, SocketSide)):
            return
        src, dst = side.splice_fd(writing=False), peer.splice_fd(writing=True)
        if src is None or dst is None:
            return
        count = side.scanner.payload_left
        from_client = side is self.client

        def on_read() -> None:
            if from_client:
                self._heard = True
            self._on_activity()

        def on_end(end: End) -> None:
            del self._splices[id(side)]
            if end is End.DONE:
                side.scanner.passed(count)
                side.release()
            else:
                self.ended(side if end is End.SRC_ENDED else peer)

        try:
            splice = Splice(src, dst, count, on_read=on_read, on_end=on_end)
        except OSError:
            return  # out of descriptors, say: the transports carry the bytes instead
        side.hold()
        self._splices[id(side)] = splice

    def blocked(self, side: Side, full: bool) -> None:
        """``side``'s outgoing buffer filled up (or drained): stop (or resume) reading its peer."""
        peer = self.backend if side is self.client else self.client
        if full:
            peer.pause_reading()
        else:
            peer.resume_reading()

    # -- ends --------------------------------------------------------------------------------

    def _send_close(self, to: Side, code: int, reason: str) -> None:
        """A close frame of ours to ``to``, if the stream towards it is between frames and no
        close went that way yet (RFC 6455 §5.5.1: nothing may follow a close frame)."""
        towards = (self.backend if to is self.client else self.client).scanner
        if towards.at_boundary and not towards.close_seen and id(to) not in self._we_closed:
            self._we_closed.add(id(to))
            to.write(close_frame(code, reason, masked=to.masked))

    def _refuse(self, side: Side, peer: Side, refusal: Refusal) -> None:
        who = "client" if side is self.client else "backend"
        self._send_close(side, refusal.code, refusal.reason)
        self._send_close(peer, GOING_AWAY, f"the {who} broke the websocket rules: {refusal.reason}")
        self._end()

    def ended(self, side: Side) -> None:
        """``side``'s connection is gone. Its close frame, if it sent one, was relayed; if not,
        the other side hears why from us."""
        if self.done:
            return
        if not side.scanner.close_seen:
            if side is self.client:
                self._send_close(self.backend, GOING_AWAY, "client went away")
            else:
                self._send_close(self.client, INTERNAL_ERROR, "backend connection lost")
        self._end()

    def shutdown(self, reason: str) -> None:
        """The server is stopping: both sides get a close frame, then the connections end."""
        if not self.done:
            self._send_close(self.client, GOING_AWAY, reason)
            self._send_close(self.backend, GOING_AWAY, reason)
            self._end()

    def _end(self) -> None:
        self.done = True
        if self._ticker is not None:
            self._ticker.cancel()
        for splice in self._splices.values():
            splice.cancel()
        self._splices.clear()
        self.client.close()
        self.backend.close()
        self._on_done(self)

    # -- keep-alive --------------------------------------------------------------------------

    def _tick(self) -> None:
        """Every ping interval: ping a client that has been silent for one; let go of one that
        stayed silent for the ping timeout (by default tornado's: 3 intervals, at least 30 s)."""
        interval = self._settings.ping_interval
        if self._heard:
            self._heard = False
            self._silent_ticks = 0
        else:
            self._silent_ticks += 1
            if self._silent_ticks * interval >= self._settings.ping_timeout:
                # A client that is merely stuck hears why; a dead one never will.
                self._send_close(self.client, GOING_AWAY, "no answer to pings")
                self._send_close(self.backend, GOING_AWAY, "client stopped answering pings")
                self._end()
                return
            towards_client = self.backend.scanner
            if towards_client.at_boundary and not towards_client.close_seen:
                # The client's pong goes on to the backend: RFC 6455 §5.5.3 allows an
                # unsolicited pong, and every endpoint must ignore one it did not ask for.
                self.client.write(control_frame(PING, masked=False))
        self._ticker = asyncio.get_running_loop().call_later(interval, self._tick)

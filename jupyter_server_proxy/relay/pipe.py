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
  reader slows the writer and memory stays bounded by the sides' buffers.
- A long payload between two plain sockets is spliced: once a frame's header is checked and at
  least ``SPLICE_MIN`` of its payload is still to come, those bytes go from socket to socket inside
  the kernel (``socketside.py``), and the relay reads the next header itself.
- Between two plain sockets the pipe runs on the relay's own thread (``thread.py``), so a
  busy server loop does not hold messages up (``c.ServerProxy.websocket_relay_thread``); with a
  client or a backend on TLS (``transportside.py`` says why), or that setting off, it runs on
  the server's loop. Either way a pipe and its sides are touched on that one loop's thread
  only, from ``start()`` on.
- Whichever side ends first ends the other; a close frame that went by is relayed as it was.
- Every wait is bounded: connecting by ``connect_timeout``, the backend's 101 by ``read_timeout``,
  and a client that stops answering pings is let go.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..core.errors import UpstreamTimeout, UpstreamUnavailable
from ..core.headers import Headers
from ..core.routing import Target
from ..core.wsframes import (
    GOING_AWAY,
    INTERNAL_ERROR,
    PING,
    FrameScanner,
    Refusal,
    close_frame,
    control_frame,
    new_key,
)
from ..core.wshandshake import AnswerReader, BackendAnswer, backend_request, parse_backend_answer
from ..transport.connect import connect
from ..transport.timelimit import within
from .socketside import Cancellable, Loop, SocketSide
from .transportside import TransportSide

#: Payload still to come in a frame, from which it is spliced rather than read into Python: below
#: it, the moves cost more than the copies they save (bench/README.md, "Design measurements").
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


class _Handshake(asyncio.Protocol):
    """The backend's connection until its 101: our upgrade request goes out, its answer comes
    in (after any interim responses, which ``AnswerReader`` skips). Then the socket is taken
    over by a ``SocketSide`` (``detach``)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._reader = AnswerReader(where)
        self._rest = b""  # what came after the final head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            # Paused already; a TLS transport may still pass on what it had decrypted.
            self._rest += data
            return
        try:
            done = self._reader.feed(data)
        except UpstreamUnavailable as e:
            self.answer.set_exception(e)
            return
        if done is not None:
            assert self.transport is not None
            self.transport.pause_reading()  # what follows the head waits for the relay
            head, self._rest = done
            self.answer.set_result(head)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(
                UpstreamUnavailable(f"{self.where} closed the connection before it answered")
            )

    def hand_over(self, scanner: FrameScanner) -> TransportSide:
        """The connection, still on its transport (TLS), as a side of the relay."""
        assert self.transport is not None
        if self.transport.is_closing():
            raise UpstreamUnavailable(f"{self.where} connection failed right after its 101")
        side = TransportSide(self.transport, scanner, masked=True, early=self._rest)
        self.transport.set_protocol(side)
        return side

    def detach(self) -> tuple[socket.socket, bytes]:
        """The connection's socket, now ours alone, and what came after the head."""
        assert self.transport is not None
        if self.transport.is_closing():  # a failed write, say, while we read its answer
            raise UpstreamUnavailable(f"{self.where} connection failed right after its 101")
        raw = self.transport.get_extra_info("socket")
        try:
            sock = socket.socket(fileno=os.dup(raw.fileno()))
        except OSError as e:  # out of descriptors
            raise UpstreamUnavailable(f"could not take over {self.where}: {e.strerror}") from e
        finally:
            self.transport.abort()  # asyncio's descriptor only: the connection lives in ``sock``
        return sock, self._rest

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


@dataclass
class BackendConnection:
    side: SocketSide | TransportSide
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
    loopback_congestion_control: str  # see ``transport/loopback.py``; "": the host's choice


async def connect_backend(
    target: Target,
    target_uri: str,
    headers: Headers,
    protocols: Sequence[str],
    settings: PipeSettings,
) -> BackendConnection:
    """Open the backend's websocket (TCP or unix socket) and check its 101."""
    where = target.where
    handshake = _Handshake(where)
    await connect(
        target,
        handshake,
        settings.connect_timeout,
        congestion_control=settings.loopback_congestion_control,
    )
    key = new_key()
    try:
        assert handshake.transport is not None
        handshake.transport.write(backend_request(target_uri, headers, key, protocols, where))
        head = await within(handshake.answer, settings.read_timeout)
        answer = parse_backend_answer(head, key, protocols, where)
    except asyncio.TimeoutError as e:
        handshake.abort()
        raise UpstreamTimeout(f"{where} did not answer within the configured timeout") from e
    except BaseException:
        handshake.abort()
        raise
    scanner = FrameScanner(from_client=False, max_message_size=settings.max_message_size)
    if target.tls is not None:  # the TLS state stays with its transport (``transportside.py``)
        return BackendConnection(handshake.hand_over(scanner), answer)
    sock, early = handshake.detach()  # (on a failure, the transport is closed already)
    return BackendConnection(SocketSide(sock, scanner, masked=True, early=early), answer)


def socket_side(sock: socket.socket, early: bytes, max_message_size: int) -> SocketSide:
    """A client side on an accepted plain socket (taken over from the HTTP server)."""
    scanner = FrameScanner(from_client=True, max_message_size=max_message_size)
    return SocketSide(sock, scanner, masked=False, early=early)


class WebSocketPipe:
    """Relays one client <-> backend websocket. ``start()`` it once both sides are connected."""

    def __init__(
        self,
        client: Side,
        backend: Side,
        settings: PipeSettings,
        loop: Loop,
        *,
        on_activity: Callable[[], None],
        on_done: Callable[[WebSocketPipe], None],
    ) -> None:
        self.client = client
        self.backend = backend
        self._settings = settings
        #: Where the pipe and its sides run, from ``start()`` on; every method below is called
        #: on it (``thread.py`` for two plain sockets, else the server's asyncio loop).
        self.loop = loop
        self._on_activity = on_activity
        self._on_done = on_done
        self._heard = True  # something arrived from the client since the last ping tick
        self._silent_ticks = 0
        self._ticker: Cancellable | None = None
        self._we_closed: set[int] = set()  # ids of sides we sent a close frame of our own
        self.done = False

    def start(self) -> None:
        interval = self._settings.ping_interval
        if interval > 0:
            self._ticker = self.loop.call_later(interval, self._tick)
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
        """Pass the rest of the current frame's payload from ``side`` to ``peer`` inside the
        kernel, if both are plain sockets and ``peer`` has nothing of ours left to send."""
        if not (isinstance(side, SocketSide) and isinstance(peer, SocketSide)):
            return
        if not (side.can_move_out() and peer.can_move_in()):
            return
        count = side.scanner.payload_left
        from_client = side is self.client

        def on_read() -> None:
            if from_client:
                self._heard = True
            self._on_activity()

        def on_done() -> None:
            side.scanner.passed(count)

        side.move_to(peer, count, on_read=on_read, on_done=on_done)

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
        self._ticker = self.loop.call_later(interval, self._tick)

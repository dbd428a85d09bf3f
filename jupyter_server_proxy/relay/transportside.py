"""A side of the websocket relay on an asyncio transport: a backend reached over TLS.

Why not a ``SocketSide`` on the relay thread: a TLS connection's state (keys, sequence numbers,
records read but not yet decrypted) lives in asyncio's SSL protocol, on the server's loop, where
the handshake ran. Moving it to the relay thread would mean a second TLS implementation there
(a non-blocking ``SSLSocket`` and its want-read/want-write retries) for no gain: what the
socket path wins, moving long payloads socket to socket inside the kernel, cannot happen over
TLS, where every byte is decrypted and encrypted again. So a websocket to a TLS backend is
relayed on the server's loop, through the transport its handshake ran on, as one from a TLS
client is (``web/takeover.StreamSide``).

Invariants:
- Reading is paused from the backend's 101 until ``attach``; what arrived before (after the
  101, or in the same read) is handed to the relay first, in order.
- Backpressure both ways: the relay pauses and resumes our reading; our transport's write
  buffer above ``HIGH_WATER`` tells the relay to stop reading the peer, below ``LOW_WATER``
  to go on.
- ``relay.ended(self)`` is called once, when the connection is gone, from asyncio's own
  callback, never from inside a call the relay made; ``close()`` gives a backend that no
  longer reads ``FLUSH_LIMIT`` seconds to take what is left.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from ..core.wsframes import FrameScanner
from .socketside import FLUSH_LIMIT, HIGH_WATER, LOW_WATER, Cancellable, Loop


class Relay(Protocol):
    """What a side reports to (``pipe.WebSocketPipe``), and the loop it runs on."""

    loop: Loop

    def received(self, side: TransportSide, data: bytes) -> None: ...
    def blocked(self, side: TransportSide, full: bool) -> None: ...
    def ended(self, side: TransportSide) -> None: ...


class TransportSide(asyncio.Protocol):
    """One connection of the relay on an asyncio transport whose reading is paused."""

    def __init__(
        self,
        transport: asyncio.Transport,
        scanner: FrameScanner,
        *,
        masked: bool,
        early: bytes = b"",
    ) -> None:
        self.transport = transport
        self.scanner = scanner
        #: Frames we write to this side must be masked: it is the server (RFC 6455 §5.3).
        self.masked = masked
        self._early = bytearray(early)
        self._relay: Relay | None = None
        self._paused = False  # by the relay (backpressure)
        self._full = False  # our transport's write buffer is over the high water
        self._lost = False
        self._flush_timer: Cancellable | None = None
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)

    # -- what the relay calls ----------------------------------------------------------------

    def attach(self, relay: Relay) -> None:
        self._relay = relay
        early, self._early = bytes(self._early), bytearray()
        if early:
            relay.received(self, early)
        if self._full:  # the peer's early bytes filled our buffer before we were attached
            relay.blocked(self, True)
        if self._lost:
            relay.loop.call_soon(lambda: relay.ended(self))
        elif not self._paused:
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def pause_reading(self) -> None:
        self._paused = True
        if not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if self._relay is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        """Close after everything written so far is sent (or ``FLUSH_LIMIT`` has passed)."""
        if self.transport.is_closing():
            return
        self.transport.close()
        if not self._lost and self._relay is not None:
            self._flush_timer = self._relay.loop.call_later(FLUSH_LIMIT, self.transport.abort)

    def abort(self) -> None:
        self.transport.abort()

    # -- asyncio's callbacks -----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._relay is None:
            self._early += data  # read in the same turn as the 101, or before ``attach``
        else:
            self._relay.received(self, data)

    def pause_writing(self) -> None:
        self._full = True
        if self._relay is not None:
            self._relay.blocked(self, True)

    def resume_writing(self) -> None:
        self._full = False
        if self._relay is not None:
            self._relay.blocked(self, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        if self._relay is not None:
            self._relay.ended(self)

"""A side of the websocket relay on a plain socket (TCP or unix), driven straight from an event
loop's readiness callbacks: recv and send with no transport between, and splice(2) for long
payloads. The loop is the relay's (``thread.py``) when both sides are plain sockets, else the
server's asyncio loop; a side runs on one of them only, from ``attach`` on.

Why not an asyncio transport: a long payload is best moved socket -> pipe -> socket inside the
kernel (loopback TCP then hands pages over by reference: no copy into Python and back). A move
needs the socket's reads and writes to itself for the payload's length; with a transport owning
the socket that costs duplicate descriptors and four epoll_ctl calls per message, which measured
as much as the move saved. Here the reader callback that reads frames also drives a move.

Invariants:
- ``_out`` holds bytes ``write`` accepted that the socket has not taken yet. The writer callback
  is registered exactly when ``_out`` is not empty or a move into this socket waits for room.
- The reader callback is registered exactly when the side is attached and open, and reading is
  neither paused (backpressure from the peer) nor held (a move out of it waits for room).
- A move into a side starts only when its ``_out`` is empty, and the relay writes nothing else to
  that side until the move ends: the kernel's byte order is all that keeps the stream in order.
- A move takes exactly ``count`` bytes from its source: what follows stays for the source to read.
- The move's pipe is empty whenever the source is read, so a read that would block means the
  source has nothing yet, never that the pipe is full. One callback moves at most ``_TURN`` bytes,
  so a long message cannot starve other connections.
- ``relay.ended(side)`` is called once, when the connection is over (an end, a reset or a failed
  write), and never from inside a call the relay made.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from typing import Protocol

from ..core.wsframes import FrameScanner
from .splicepipes import PIPES, SPLICE_AVAILABLE, SPLICE_FLAGS

#: At most this much is read into Python at once (asyncio's transports read as much): smaller
#: reads cost a message more calls (bench/README.md, "Design measurements").
READ_SIZE = 256 * 1024
#: Outgoing bytes above which the relay stops reading the peer, and below which it resumes.
HIGH_WATER = 1 << 20
LOW_WATER = HIGH_WATER // 4
#: How long ``close()`` waits for a peer that no longer reads to take what is left (seconds).
FLUSH_LIMIT = 30.0

#: One callback moves at most this many bytes, so a long message cannot starve others.
_TURN = 1 << 20


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Loop(Protocol):
    """What drives a side: asyncio's loop, or the relay's own (``thread.RelayLoop``)."""

    def add_reader(self, fd: int, callback: Callable[[], object]) -> None: ...
    def remove_reader(self, fd: int) -> object: ...
    def add_writer(self, fd: int, callback: Callable[[], object]) -> None: ...
    def remove_writer(self, fd: int) -> object: ...
    def call_soon(self, callback: Callable[[], object]) -> object: ...
    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable: ...


class Relay(Protocol):
    """What a side reports to (``pipe.WebSocketPipe``), and the loop it runs on."""

    loop: Loop

    def received(self, side: SocketSide, data: bytes) -> None: ...
    def blocked(self, side: SocketSide, full: bool) -> None: ...
    def ended(self, side: SocketSide) -> None: ...


class SocketSide:
    """One connection of the relay, on a non-blocking socket it owns from now on."""

    def __init__(
        self, sock: socket.socket, scanner: FrameScanner, *, masked: bool, early: bytes = b""
    ) -> None:
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Each frame goes out when written: a relay must not add Nagle's delay (RFC 896).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.scanner = scanner
        #: Frames we write to this side must be masked: it is the server (RFC 6455 §5.3).
        self.masked = masked
        self._fd = sock.fileno()
        self._relay: Relay | None = None
        self._early = early  # read before the relay started
        self._out = bytearray()
        self._reading = self._writing = False  # callbacks registered
        self._paused = False  # backpressure: the peer's outgoing bytes are over the high water
        self._full = False  # we told the relay our outgoing bytes are over the high water
        self._closing = self._closed = self._over = False
        self._flush_timer: Cancellable | None = None
        self._move_out: _Move | None = None  # reading this socket
        self._move_in: _Move | None = None  # writing into this socket

    # -- what the relay calls ----------------------------------------------------------------

    def attach(self, relay: Relay) -> None:
        """Start relaying, beginning with anything read before. From here on the side runs
        on ``relay.loop`` only."""
        self._relay = relay
        early, self._early = self._early, b""
        if early:
            relay.received(self, early)
        self._sync()

    def write(self, data: bytes) -> None:
        if self._closing or not data:
            return
        if not self._out:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._fail()
                return
            if sent == len(data):
                return
            data = data[sent:]
        self._out += data
        self._sync()
        if not self._full and len(self._out) > HIGH_WATER and self._relay is not None:
            self._full = True
            self._relay.blocked(self, True)

    def pause_reading(self) -> None:
        self._paused = True
        self._sync()

    def resume_reading(self) -> None:
        self._paused = False
        self._sync()

    def close(self) -> None:
        """Close after everything written so far is sent (or ``FLUSH_LIMIT`` has passed)."""
        if self._closing:
            return
        self._closing = True
        self._cancel_moves()
        if self._out and self._relay is not None:
            self._flush_timer = self._relay.loop.call_later(FLUSH_LIMIT, self._close_now)
            self._sync()
        else:
            self._close_now()

    def abort(self) -> None:
        """Close now, dropping whatever was not sent."""
        self._close_now()

    # -- moves -------------------------------------------------------------------------------

    def can_move_out(self) -> bool:
        return SPLICE_AVAILABLE and not self._closing and self._move_out is None

    def can_move_in(self) -> bool:
        return SPLICE_AVAILABLE and not self._closing and self._move_in is None and not self._out

    def move_to(
        self,
        dst: SocketSide,
        count: int,
        *,
        on_read: Callable[[], None],
        on_done: Callable[[], None],
    ) -> None:
        """Move the next ``count`` bytes read from this socket into ``dst`` inside the kernel.
        Without a pipe (out of descriptors, say) the bytes take the usual path instead."""
        assert self.can_move_out() and dst.can_move_in() and count > 0
        with contextlib.suppress(OSError):
            _Move(self, dst, count, on_read, on_done)

    # -- readiness ---------------------------------------------------------------------------

    def _sync(self) -> None:
        """Register exactly the callbacks the invariants ask for."""
        if self._closed:
            return
        read = (
            self._relay is not None
            and not self._closing
            and not self._paused
            and not (self._move_out is not None and self._move_out.stalled)
        )
        write = bool(self._out) or (self._move_in is not None and self._move_in.stalled)
        if read == self._reading and write == self._writing:
            return
        assert self._relay is not None, "a side registers nothing before it is attached"
        loop = self._relay.loop
        if read != self._reading:
            if read:
                loop.add_reader(self._fd, self._readable)
            else:
                loop.remove_reader(self._fd)
            self._reading = read
        if write != self._writing:
            if write:
                loop.add_writer(self._fd, self._writable)
            else:
                loop.remove_writer(self._fd)
            self._writing = write

    def _readable(self) -> None:
        if self._move_out is not None:
            self._move_out.pump()
            return
        try:
            data = self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # a reset ends the connection as an end does
        if not data:
            self._lost()
            return
        assert self._relay is not None
        self._relay.received(self, data)

    def _writable(self) -> None:
        if self._move_in is not None:
            self._move_in.pump()
            return
        try:
            sent = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._fail()
            return
        del self._out[:sent]
        if self._full and len(self._out) <= LOW_WATER:
            self._full = False
            if self._relay is not None and not self._closing:
                self._relay.blocked(self, False)
        if not self._out and self._closing:
            self._close_now()
        else:
            self._sync()

    # -- ends --------------------------------------------------------------------------------

    def _fail(self) -> None:
        """A write failed: the peer is gone. The relay hears of it from the loop, not from
        inside its own call to ``write``."""
        self._close_now()
        if self._relay is not None:
            self._relay.loop.call_soon(self._report_end)

    def _lost(self) -> None:
        self._close_now()
        self._report_end()

    def _report_end(self) -> None:
        if not self._over and self._relay is not None:
            self._over = True
            self._relay.ended(self)

    def _cancel_moves(self) -> None:
        for move in (self._move_out, self._move_in):
            if move is not None:
                move.release()  # the bytes in its pipe go nowhere: this connection is ending

    def _close_now(self) -> None:
        if self._closed:
            return
        self._closing = True
        self._cancel_moves()
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        self._out.clear()
        self._sync()  # closing, with nothing to send: every callback goes
        self._closed = True
        self.sock.close()


class _Move:
    """``count`` bytes from ``src`` to ``dst`` through a pipe, with splice(2).

    ``stalled``: the pipe holds bytes ``dst`` has no room for yet; ``src`` is not read meanwhile
    (backpressure), and ``dst``'s writer callback continues the move."""

    def __init__(
        self,
        src: SocketSide,
        dst: SocketSide,
        count: int,
        on_read: Callable[[], None],
        on_done: Callable[[], None],
    ) -> None:
        self._pipe_out, self._pipe_in = PIPES.take()
        self.src, self.dst = src, dst
        self._to_read = count
        self._in_pipe = 0
        self._on_read = on_read
        self._on_done = on_done
        self.stalled = False
        src._move_out = dst._move_in = self

    def pump(self) -> None:
        moved = 0
        while True:
            if self._in_pipe:
                try:
                    n = os.splice(self._pipe_out, self.dst._fd, self._in_pipe, flags=SPLICE_FLAGS)
                except BlockingIOError:
                    self._stall(True)
                    return
                except OSError:
                    self.dst._fail()
                    return
                self._in_pipe -= n
                moved += n
                continue
            self._stall(False)
            if not self._to_read:
                self.release()
                self._on_done()
                return
            if moved >= _TURN:
                return  # src is likely still readable: the loop calls back after the others
            try:
                n = os.splice(self.src._fd, self._pipe_in, self._to_read, flags=SPLICE_FLAGS)
            except BlockingIOError:
                return  # src has nothing yet; its reader calls back
            except OSError:
                n = 0
            if n == 0:
                self.src._lost()  # ended inside the payload
                return
            self._to_read -= n
            self._in_pipe += n
            self._on_read()

    def _stall(self, stalled: bool) -> None:
        if stalled != self.stalled:
            self.stalled = stalled
            self.src._sync()
            self.dst._sync()

    def release(self) -> None:
        """Give the pipe back and let go of both sides: the move is done, or one of its two
        connections is ending (then whatever the pipe holds goes nowhere)."""
        if self.src._move_out is not self:
            return  # released already
        PIPES.give((self._pipe_out, self._pipe_in), empty=not self._in_pipe)
        self.src._move_out = self.dst._move_in = None
        self.stalled = False
        self.src._sync()
        self.dst._sync()

"""The tornado end of the websocket relay: taking a client's connection over after its 101.

A client on a plain socket (TCP or unix) is taken from tornado's HTTP server and driven by the
relay itself (``relay/socketside.SocketSide``): the fast path, with no tornado code per frame,
where long payloads can be spliced. A client on TLS stays on its ``SSLIOStream``, where its TLS
state lives, driven by ``StreamSide``.
"""

from __future__ import annotations

import asyncio

from tornado.iostream import IOStream, SSLIOStream, StreamClosedError

from ..core.wsframes import FrameScanner
from ..relay.pipe import Side, WebSocketPipe, socket_side
from .tornadocompat import early_bytes

_READ_SIZE = 256 * 1024


async def take_client(stream: IOStream, max_message_size: int) -> Side:
    """The client's side of the relay, from the stream tornado hands over on ``detach()``."""
    await stream.write(b"")  # resolves once the 101 queued before it is on the wire
    if isinstance(stream, SSLIOStream):
        scanner = FrameScanner(from_client=True, max_message_size=max_message_size)
        return StreamSide(stream, scanner)
    # What the client sent right after its handshake may already sit in tornado's buffer.
    early = early_bytes(stream)
    sock = stream.socket.dup()
    stream.close()  # only tornado's descriptor: the connection lives on in ``sock``
    return socket_side(sock, early, max_message_size)


class StreamSide:
    """A client side on a tornado ``IOStream`` (TLS). Reads run in one task; a write that cannot
    complete at once marks the side as full until tornado has flushed it."""

    masked = False

    def __init__(self, stream: IOStream, scanner: FrameScanner) -> None:
        self.stream = stream
        self.scanner = scanner
        self._pipe: WebSocketPipe | None = None
        self._readable = asyncio.Event()
        self._readable.set()
        self._last_write: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None

    def attach(self, pipe: WebSocketPipe) -> None:
        self._pipe = pipe
        self._reader = asyncio.ensure_future(self._read(pipe))

    async def _read(self, pipe: WebSocketPipe) -> None:
        try:
            while not pipe.done:
                await self._readable.wait()
                pipe.received(self, await self.stream.read_bytes(_READ_SIZE, partial=True))
        except StreamClosedError:
            pass
        finally:
            pipe.ended(self)

    def write(self, data: bytes) -> None:
        if self.stream.closed():
            return
        future = self.stream.write(data)
        if future.done():
            return
        if self._last_write is None and self._pipe is not None:
            self._pipe.blocked(self, True)
        self._last_write = future
        future.add_done_callback(self._flushed)

    def _flushed(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled():
            future.exception()  # a closed stream: the read task reports the end
        if future is self._last_write:
            self._last_write = None
            if self._pipe is not None:
                self._pipe.blocked(self, False)

    def pause_reading(self) -> None:
        self._readable.clear()

    def resume_reading(self) -> None:
        self._readable.set()

    def close(self) -> None:
        self._readable.set()  # a paused read loop must wake to see the end
        if self._last_write is None:
            self.stream.close()
        else:
            self._last_write.add_done_callback(lambda _: self.stream.close())

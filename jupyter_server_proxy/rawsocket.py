"""``raw_socket_proxy`` apps: a websocket from the browser <-> a plain TCP or unix stream.

For apps that speak no HTTP at all (a VNC server behind noVNC, say). Every websocket message's
bytes are written to the stream (text as UTF-8); whatever the stream yields goes back as binary
messages. Backpressure: a write to the stream waits for ``drain()``, and a read waits for the
client to take the previous message. The stream's end closes the websocket with 1000, and the
websocket's end closes the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .core.routing import Target
from .transport.connect import connect

if TYPE_CHECKING:
    from .handlers import ProxyHandler

_READ_SIZE = 64 * 1024


class RawSocketBridge:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_activity: Callable[[], None],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._on_activity = on_activity
        self._pump: asyncio.Task[None] | None = None

    def start(self, client: WebSocketHandler) -> None:
        self._pump = asyncio.ensure_future(self._stream_to_client(client))

    async def _stream_to_client(self, client: WebSocketHandler) -> None:
        try:
            while data := await self.reader.read(_READ_SIZE):
                await client.write_message(data, binary=True)
                self._on_activity()
            client.close(1000, "app closed the connection")
        except WebSocketClosedError:
            pass
        except ConnectionError:
            client.close(1011, "app connection lost")
        finally:
            self.writer.close()

    async def to_backend(self, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError:
            return
        self._on_activity()

    def close_backend(self) -> None:
        self.writer.close()
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()


async def open_raw_socket(handler: ProxyHandler, target: Target) -> None:
    """Connect the stream first; only then accept the client's websocket."""
    handler._check_ws_origin()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    settings = handler.engine.settings
    transport = await connect(
        target,
        protocol,
        settings.connect_timeout,
        congestion_control=settings.loopback_congestion_control,
    )
    assert isinstance(transport, asyncio.WriteTransport)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    await handler._accept_bridged(
        RawSocketBridge(reader, writer, on_activity=handler._ws_activity())
    )

"""The websocket bridge: one client websocket (tornado) <-> one backend websocket (aiohttp).

Rules:
- The backend is connected *before* the client is accepted, so a refusal is an HTTP error to the
  client (not an accepted-then-dropped socket) and the client gets the backend's subprotocol.
- Text stays text and binary stays binary. Pings are relayed both ways (tornado answers the
  client's pings itself; the backend answers the ones we relay).
- Close codes and reasons are relayed both ways. Codes that RFC 6455 §7.4.1 forbids on the wire
  (1005, 1006, 1015) are never sent: "no code" becomes an empty close frame towards the client and
  1000 towards the backend.
- Backpressure: each direction awaits its write before it reads the next message, so a slow
  receiver slows the sender and nothing queues without bound.
- Whichever side ends first ends the other (starlette's rule for paired streams).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .core.headers import drop_hop_by_hop

_NOT_ON_THE_WIRE = frozenset({1005, 1006, 1015})
# Handshake fields the two sides negotiate themselves; everything else the backend sent on its
# 101 (Set-Cookie above all) is passed to the client.
_HANDSHAKE_OWN = frozenset(
    {
        "content-length",
        "date",
        "server",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "sec-websocket-version",
    }
)


def close_code_for_client(code: int | None, reason: str | None) -> tuple[int, str]:
    """The client closed with ``code``; what to send the backend."""
    if code is None or code in _NOT_ON_THE_WIRE:
        return 1000, reason or ""
    return code, reason or ""


class Bridge(Protocol):
    """What the handler needs of the backend side of a websocket (a websocket or a raw stream)."""

    @property
    def subprotocol(self) -> str | None: ...
    def handshake_headers(self) -> list[tuple[str, str]]: ...
    def start(self, client: WebSocketHandler) -> None: ...
    async def to_backend(self, message: str | bytes) -> None: ...
    def ping_backend(self, data: bytes) -> None: ...
    def pong_backend(self, data: bytes) -> None: ...
    def client_closed(self, code: int, reason: str) -> None: ...
    async def close_backend(self, code: int, reason: str) -> None: ...


class WebSocketBridge:
    def __init__(
        self, backend: aiohttp.ClientWebSocketResponse[bool], *, on_activity: Callable[[], None]
    ) -> None:
        self.backend = backend
        self._on_activity = on_activity
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def subprotocol(self) -> str | None:
        return self.backend.protocol

    def handshake_headers(self) -> list[tuple[str, str]]:
        response = getattr(self.backend, "_response", None)
        if response is None:
            return []
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
        return [(n, v) for n, v in drop_hop_by_hop(raw) if n.lower() not in _HANDSHAKE_OWN]

    def start(self, client: WebSocketHandler) -> None:
        self._pump = asyncio.ensure_future(self._backend_to_client(client))

    async def _backend_to_client(self, client: WebSocketHandler) -> None:
        backend = self.backend
        try:
            while True:
                msg = await backend.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await client.write_message(msg.data)
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    await client.write_message(msg.data, binary=True)
                elif msg.type is aiohttp.WSMsgType.PING:
                    client.ping(msg.data)
                elif msg.type is aiohttp.WSMsgType.PONG:
                    continue  # an answer to a ping we relayed; tornado already answered the client
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    code = backend.close_code
                    reason = msg.extra or ""
                    await backend.close(code=code or 1000)
                    client.close(None if code in (None, *_NOT_ON_THE_WIRE) else code, reason)
                    return
                else:  # CLOSING, CLOSED, ERROR: the backend is gone without a close frame
                    client.close(1011, "backend connection lost")
                    return
                self._on_activity()
        except WebSocketClosedError:
            await self.close_backend(1001, "client went away")
        except asyncio.CancelledError:
            raise
        except Exception:
            client.close(1011, "proxy error")
            await self.close_backend(1011, "proxy error")

    async def to_backend(self, message: str | bytes) -> None:
        if self.backend.closed:
            return
        try:
            if isinstance(message, bytes):
                await self.backend.send_bytes(message)
            else:
                await self.backend.send_str(message)
        except (ConnectionError, aiohttp.ClientError):
            return  # the pump sees the backend's end and closes the client
        self._on_activity()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def ping_backend(self, data: bytes) -> None:
        if not self.backend.closed:
            self._spawn(self.backend.ping(data))

    def pong_backend(self, data: bytes) -> None:
        if not self.backend.closed:
            self._spawn(self.backend.pong(data))

    def client_closed(self, code: int, reason: str) -> None:
        self._spawn(self.close_backend(code, reason))

    async def close_backend(self, code: int, reason: str) -> None:
        try:
            if not self.backend.closed:
                await self.backend.close(code=code, message=reason.encode()[:123])
        except (ConnectionError, aiohttp.ClientError, asyncio.TimeoutError):
            pass
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()

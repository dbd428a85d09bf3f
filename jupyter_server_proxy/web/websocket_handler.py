"""The websocket side of ``ProxyHandler``: origin checks, opening the backend first, accepting
the client with the backend's choices, and handing both to the relay.

Order per websocket (jupyter_server's kernel websocket does the same): connect the backend and
read its handshake answer while the client still waits for its own; then answer the client's
upgrade with the backend's subprotocol and take the client's connection from tornado for the
relay (``takeover.take_client``). A raw-socket app's stream (``rawstream.py``) instead stays
with tornado's own websocket code, which is entered once more from tornado's ``open`` callback.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketHandler

from ..core.errors import ProxyError
from ..core.routing import Target
from ..core.wshandshake import (
    CLIENT_VERSIONS,
    BackendAnswer,
    accept_headers,
    client_problem,
    client_protocols,
)
from ..relay.pipe import Side
from .rawstream import RawSocketBridge
from .requesting import UpstreamRequests
from .takeover import take_client

#: Seconds between activity stamps from one websocket.
_WS_ACTIVITY_EVERY = 1.0


class WsPhase(enum.Enum):
    """Where a websocket upgrade stands; ``proxy_open`` is entered once per phase change."""

    NONE = "none"  # a plain HTTP request
    CONNECTING = "connecting"  # backend handshake in progress; the client is not yet accepted
    ACCEPTING = "accepting"  # backend connected; tornado is accepting the client
    OPEN = "open"
    CLOSED = "closed"


class WebSocketBridging(UpstreamRequests):
    """Bridges a client's websocket to a backend's (or to a raw socket app's stream)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.subprotocols: list[str] | None = None
        self._ws_phase = WsPhase.NONE
        self._ws_bridge: RawSocketBridge | None = None
        super().__init__(*args, **kwargs)

    @property
    def max_message_size(self) -> int:
        return self.engine.settings.websocket_max_message_size

    @property
    def ping_interval(self) -> float | None:
        return self.engine.settings.websocket_ping_interval or None

    def get_compression_options(self) -> dict[str, Any] | None:
        return None  # bytes pass as they are; compressing on loopback costs CPU for nothing

    async def proxy_open(self, host: str, port: str | int, proxied_path: str = "") -> None:
        """Bridge a websocket to ``host:port`` + ``proxied_path`` (positional API)."""

        async def connect() -> None:
            target = self._target(host, port)
            context, raw = self._paths(proxied_path)
            path = self._upstream_path(context, raw)
            asked = (
                host,
                port,
                proxied_path if proxied_path.startswith("/") else "/" + proxied_path,
            )
            await self._open_websocket(target, context, path, asked)

        await self._run_open(connect)

    async def _run_open(self, connect: Callable[[], Awaitable[None]]) -> None:
        """Entered twice per websocket: first while the client still waits for its handshake
        answer (we connect the backend, then let tornado accept the client with the backend's
        subprotocol), and once more from tornado's own ``open`` callback after the accept, which
        starts the relay."""
        if self._ws_phase is WsPhase.ACCEPTING:
            self._ws_phase = WsPhase.OPEN
            assert self._ws_bridge is not None
            self._ws_bridge.start(self)
            return
        if self._ws_phase is not WsPhase.CONNECTING:
            return
        if not self.current_user:
            raise web.HTTPError(403)
        # A client that gives up while the backend is connected or its handshake is read
        # releases the backend connection at once.
        try:
            if not await self._while_client_waits(connect):
                self._ws_phase = WsPhase.CLOSED
        except ProxyError as e:
            self._ws_phase = WsPhase.CLOSED
            self._write_proxy_error(e)

    def _check_ws_origin(self) -> None:
        origin = self.request.headers.get("Origin") or self.request.headers.get(
            "Sec-Websocket-Origin"
        )
        if origin is not None and not self.check_origin(origin):
            raise web.HTTPError(403, "Cross origin websockets not allowed")

    async def _open_websocket(
        self, target: Target, context: str, path: str, asked: tuple[str, str | int, str]
    ) -> None:
        self._check_ws_origin()
        headers = list(self.request.headers.get_all())
        problem = client_problem(headers)
        if problem is not None:
            status, message = problem
            self.set_status(status)
            if status == 426:
                self.set_header("Sec-WebSocket-Version", CLIENT_VERSIONS[0])
            self.finish(message + "\n")
            return
        self.subprotocols = client_protocols(headers)
        forwarded = self._headers_to_send(context, websocket=True)
        upstream, target_uri = self._where_to("ws", target, path, asked)
        backend = await self.engine.open_websocket(
            upstream, target_uri, forwarded, self.subprotocols
        )
        try:
            client = await self._accept_websocket(backend.answer)
        except StreamClosedError:
            backend.abort()  # the client left during its own handshake: nothing to relay
            return
        except BaseException:
            backend.abort()
            raise
        self._ws_phase = WsPhase.OPEN
        self.engine.relay(client, backend.side, on_activity=self._ws_activity())

    async def _accept_websocket(self, answer: BackendAnswer) -> Side:
        """Answer the client's upgrade with the backend's choices, then take its connection from
        tornado's HTTP server for the relay."""
        if self._should_record_activity():
            self._record_activity()
        self.set_status(101)
        key = self.request.headers["Sec-WebSocket-Key"]
        for name, value in accept_headers(key, answer.subprotocol, answer.headers):
            self.add_header(name, value)
        self.finish()
        return await take_client(self.detach(), self.max_message_size)

    async def _accept_bridged(self, bridge: RawSocketBridge) -> None:
        """A raw socket app's stream is connected: let tornado accept the client and relay
        messages until either side ends."""
        if self._should_record_activity():
            self._record_activity()
        self._ws_bridge = bridge
        self._ws_phase = WsPhase.ACCEPTING
        try:
            await WebSocketHandler.get(self, *self.path_args, **self.path_kwargs)
        finally:
            if self._ws_phase is not WsPhase.OPEN:
                # tornado refused the client (bad handshake): let the backend go too.
                bridge.close_backend()
            self._ws_phase = WsPhase.CLOSED

    def _ws_activity(self) -> Callable[[], None]:
        """What a relay calls per message (maybe on its own thread, ``Engine.relay``): at most
        once a second, it hands the stamp to the server's loop, where the settings live. A
        chatty socket would otherwise stamp thousands of times a second; the culler counts in
        minutes. Whether the socket counts at all is decided here, once, on the server's loop,
        by the app's activity rule: user code never runs on the relay thread."""
        if not self._should_record_activity():
            return _ignore
        loop = asyncio.get_running_loop()
        last = -_WS_ACTIVITY_EVERY

        def stamp() -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= _WS_ACTIVITY_EVERY:
                last = now
                loop.call_soon_threadsafe(self._record_activity)

        return stamp

    async def on_message(self, message: str | bytes) -> None:
        # tornado waits for this before it reads the next message: backpressure.
        if self._ws_bridge is not None:
            await self._ws_bridge.to_backend(message)

    def on_close(self) -> None:
        # Only a raw-socket bridge's websocket stays with tornado (others are detached); a
        # client that leaves before that is handled by ``on_connection_close``.
        if self._ws_bridge is not None:
            self._ws_bridge.close_backend()


def _ignore() -> None:
    """Activity of a websocket whose app does not count its traffic."""

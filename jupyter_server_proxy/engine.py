"""The proxy engine's shared state: its settings and its connection pools.

One ``Engine`` lives in the tornado application's settings (key ``server_proxy_engine``). The
extension puts one there, configured from ``c.ServerProxy``; a plain tornado app that mounts a
``ProxyHandler`` subclass (dask's scheduler does) gets one with the defaults on first use.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .core.headers import Headers
from .core.routing import Target
from .relayloop import RelayLoop, shared_loop
from .settings import ENGINE_KEY
from .sockside import Loop, SocketSide
from .upstream import Upstream, UpstreamSettings
from .wspipe import BackendConnection, PipeSettings, Side, WebSocketPipe, connect_backend

#: How long stopping waits for the relay thread to have closed its websockets (seconds).
CLOSE_WAIT = 10.0


@dataclass(frozen=True)
class EngineSettings(UpstreamSettings):
    websocket_max_message_size: int = 1 << 30
    #: Seconds between keep-alive pings to an idle websocket client; 0 disables them.
    websocket_ping_interval: float = 30.0
    #: Seconds a pinged client may stay silent; 0: max(3 ping intervals, 30 s).
    websocket_ping_timeout: float = 0.0
    #: The largest response body held in memory for a ``rewrite_response`` hook (bytes).
    rewrite_buffer_limit: int = 64 << 20


class Engine:
    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings = settings or EngineSettings()
        self.upstream = Upstream(settings)
        self._pipe_settings = PipeSettings(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_message_size=settings.websocket_max_message_size,
            ping_interval=settings.websocket_ping_interval,
            ping_timeout=settings.websocket_ping_timeout
            or max(3 * settings.websocket_ping_interval, 30.0),
        )
        #: Websockets being relayed, so that shutting down can close them with a reason.
        self.pipes: set[WebSocketPipe] = set()

    async def open_websocket(
        self, target: Target, target_uri: str, headers: Headers, protocols: Sequence[str]
    ) -> BackendConnection:
        return await connect_backend(target, target_uri, headers, protocols, self._pipe_settings)

    def relay(self, client: Side, backend: Side, *, on_activity: Callable[[], None]) -> None:
        """Relay between two connected sides. Between two plain sockets the relay runs on the
        relay thread (``relayloop``), so ``on_activity`` must be safe to call from there: the
        handlers' only stamps a time."""
        relay_loop = shared_loop() if isinstance(client, SocketSide) else None
        loop: Loop = relay_loop or asyncio.get_running_loop()
        # ``set.add``/``discard`` and ``list(set)`` are each atomic under the GIL, so the set
        # may change on the relay thread while this thread copies it.
        pipe = WebSocketPipe(
            client,
            backend,
            self._pipe_settings,
            loop,
            on_activity=on_activity,
            on_done=self.pipes.discard,
        )
        self.pipes.add(pipe)
        if relay_loop is None:
            pipe.start()
        else:
            relay_loop.call_soon_threadsafe(pipe.start)

    async def close(self) -> None:
        """Close every websocket with a reason, each on its own loop, then the pools."""
        waits = []
        for pipe in list(self.pipes):
            shut = functools.partial(pipe.shutdown, "server shutting down")
            if isinstance(pipe.loop, RelayLoop):
                waits.append(asyncio.wrap_future(pipe.loop.run(shut)))
            else:
                shut()
        if waits:  # bounded: the relay's callbacks never block, but a stop must not hang
            await asyncio.wait(waits, timeout=CLOSE_WAIT)
        await self.upstream.close()


def engine_for(settings: dict[str, Any]) -> Engine:
    engine = settings.get(ENGINE_KEY)
    if engine is None:
        engine = settings[ENGINE_KEY] = Engine()
    assert isinstance(engine, Engine)
    return engine

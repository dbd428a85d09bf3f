"""The proxy engine's shared state: its settings and its connection pools.

One ``Engine`` lives in the tornado application's settings (key ``server_proxy_engine``). The
extension puts one there, configured from ``c.ServerProxy``; a plain tornado app that mounts a
``ProxyHandler`` subclass (dask's scheduler does) gets one with the defaults on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .settings import ENGINE_KEY
from .upstream import Upstream, UpstreamSettings


@dataclass(frozen=True)
class EngineSettings(UpstreamSettings):
    #: Seconds between keep-alive pings to an idle websocket client; 0 disables them.
    websocket_ping_interval: float = 30.0
    #: The largest response body held in memory for a ``rewrite_response`` hook (bytes).
    rewrite_buffer_limit: int = 64 << 20


class Engine:
    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.upstream = Upstream(self.settings)

    async def close(self) -> None:
        await self.upstream.close()


def engine_for(settings: dict[str, Any]) -> Engine:
    engine = settings.get(ENGINE_KEY)
    if engine is None:
        engine = settings[ENGINE_KEY] = Engine()
    assert isinstance(engine, Engine)
    return engine

"""The keys under which the extension keeps its objects in tornado's application settings,
and the engine a handler finds there.

One place, so that the extension that stores them and the handlers that read them agree.
"""

from __future__ import annotations

from typing import Any

from ..relay.engine import Engine

ENGINE_KEY = "server_proxy_engine"
MANAGER_KEY = "server_proxy_manager"
SPECS_KEY = "server_proxy_specs"
PROBLEMS_KEY = "server_proxy_problems"
#: ``c.ServerProxy.start_hold`` (seconds), for the named-app handlers.
START_HOLD_KEY = "server_proxy_start_hold"


def engine_for(settings: dict[str, Any]) -> Engine:
    """The application's engine; a plain tornado app that mounts a ``ProxyHandler`` subclass
    without our extension gets one with the defaults on first use."""
    engine = settings.get(ENGINE_KEY)
    if engine is None:
        engine = settings[ENGINE_KEY] = Engine()
    assert isinstance(engine, Engine)
    return engine

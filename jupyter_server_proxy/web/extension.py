"""Wiring into jupyter_server: config -> engine, app manager and routes; and teardown.

This is an ``ExtensionApp`` (not a bare module hook) because only extension apps get a
``stop_extension`` call when the server stops (Ctrl-C, SIGTERM, ``POST /api/shutdown``), and that
is where every app we started is stopped, so that no child of ours outlives the server.

An app whose name is one of Jupyter's route prefixes is left out (see ``routes.py``): checked when
our routes are added, against the server's routes and those of the extensions loaded before us,
and again once every extension is loaded (``_start_jupyter_server_extension``, called as the
server starts, before it serves a request).

The server's public location (``core/publicurl.py``) is worked out here once: each app gets its
own, and ``JUPYTER_SERVER_PROXY_URL_TEMPLATE`` is put in this process's environment, which
jupyter_client and terminado copy for every kernel and terminal they start. It replaces any
value already there: one inherited from another server (``jupyter lab`` typed in a terminal of
a running server) describes that server, and ``c.ServerProxy.public_url`` is the way to change
this one's.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Instance

from ..apps.config import Problem, ServerProxy, load_specs
from ..apps.manager import AppManager
from ..apps.specs import ServerSpec
from ..core.publicurl import TEMPLATE_VAR, port_template, server_root
from ..core.tls import parse_upstream_tls
from ..relay.engine import Engine, EngineSettings
from .settings import ENGINE_KEY, MANAGER_KEY, PROBLEMS_KEY, SPECS_KEY, START_HOLD_KEY


def engine_settings(config: ServerProxy) -> EngineSettings:
    return EngineSettings(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        limit_per_host=config.pool_limit_per_host,
        max_response_header_size=config.max_response_header_size,
        max_response_header_count=config.max_response_header_count,
        loopback_congestion_control=config.loopback_congestion_control,
        websocket_max_message_size=config.websocket_max_message_size,
        websocket_ping_interval=config.websocket_ping_interval,
        websocket_ping_timeout=config.websocket_ping_timeout,
        websocket_relay_thread=config.websocket_relay_thread,
        rewrite_buffer_limit=config.rewrite_buffer_limit,
        upstream_tls=parse_upstream_tls(config.upstream_tls),
    )


class ServerProxyApp(ExtensionApp):
    name = "jupyter_server_proxy"
    load_other_extensions = True
    classes = [ServerProxy]

    server_proxy = Instance(ServerProxy, allow_none=True)
    manager = Instance(AppManager, allow_none=True)
    engine = Instance(Engine, allow_none=True)

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        web_app = self.serverapp.web_app
        base_url = web_app.settings.get("base_url", "/")
        self.server_proxy = ServerProxy(parent=self.serverapp)
        specs, problems = load_specs(self.server_proxy, self.log)
        root, unused = server_root(base_url, self.server_proxy.public_url)
        if unused:
            self.log.info("jupyter-server-proxy: %s", unused)
        os.environ[TEMPLATE_VAR] = port_template(root)
        self.engine = Engine(engine_settings(self.server_proxy))
        self.manager = AppManager(
            specs,
            base_url=base_url,
            log=self.log,
            upstream=self.engine.upstream,  # readiness probes use the proxy's own client
            stop_grace=self.server_proxy.stop_timeout,
            public={name: root.under(name + "/") for name in specs},
        )
        atexit.register(self.manager.kill_all_sync)
        web_app.settings[ENGINE_KEY] = self.engine
        web_app.settings[MANAGER_KEY] = self.manager
        web_app.settings[SPECS_KEY] = specs
        web_app.settings[PROBLEMS_KEY] = problems
        web_app.settings[START_HOLD_KEY] = self.server_proxy.start_hold

    def initialize_handlers(self) -> None:
        from .routes import routes

        assert self.serverapp is not None
        assert self.server_proxy is not None and self.manager is not None
        web_app = self.serverapp.web_app
        base_url = web_app.settings.get("base_url", "/")
        web_app.add_handlers(  # type: ignore[no-untyped-call]
            ".*",
            routes(base_url, self.server_proxy, web_app.settings[SPECS_KEY]),
        )
        self.leave_out_route_clashes()

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # Every extension is loaded by now: check against the routes added after ours.
        self.leave_out_route_clashes()

    def leave_out_route_clashes(self) -> None:
        """Take out the routes of every app whose name a route of Jupyter's (the server's, an
        extension's, ours) serves; list it in ``problems`` and the log."""
        from .named import app_route_names
        from .routes import drop_routes, route_clash, route_owners

        assert self.serverapp is not None
        web_app = self.serverapp.web_app
        base_url = web_app.settings.get("base_url", "/")
        specs: dict[str, ServerSpec] = web_app.settings[SPECS_KEY]
        problems: list[Problem] = web_app.settings[PROBLEMS_KEY]
        ours = frozenset(n for name in specs for n in app_route_names(name))
        owners = route_owners(web_app.default_router, skip=ours)
        for name, spec in list(specs.items()):
            clash = route_clash(name, base_url, owners)
            if clash is None:
                continue
            drop_routes(web_app.default_router, frozenset(app_route_names(name)))
            del specs[name]
            problem = Problem(name, spec.source, f"app {name!r}: {clash}")
            problems.append(problem)
            self.log.warning("jupyter-server-proxy: %s", problem)

    async def stop_extension(self) -> None:
        if self.manager is not None:
            await self.manager.stop_all()
        if self.engine is not None:
            await self.engine.close()

"""``jupyter-standaloneproxy``: one web app behind JupyterHub's login, without a Jupyter server.

JupyterHub starts it in place of ``jupyterhub-singleuser`` (``c.Spawner.cmd``); it serves
everything under ``$JUPYTERHUB_SERVICE_PREFIX`` by starting the command given after ``--`` on
the first request and proxying to it.

Rules:
- This module is the application: its command line (aliases and flags) and its life cycle.
  The options are in ``options.py``, the tornado application in ``webapp.py``, what serving
  needs besides (TLS, activity reports) in ``serving.py``.
- Everything started is stopped: SIGTERM or SIGINT stops every process of the app (daemons
  included, ``apps/proctree.py``), closes the connections and exits 0.
- The 4.x Python API holds: ``StandaloneProxyServer(**traits)`` takes every trait 4.x's class
  has (those of a ``c.ServerProxy.servers`` entry among them), and ``create_app()`` returns the
  tornado application, for tests and embedders that serve it themselves (``close_app`` then
  stops what it started).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from jupyter_core.application import JupyterApp
from tornado import httpserver, web
from traitlets import default

from ..transport.timelimit import within
from . import serving, webapp
from .options import StandaloneOptions, StartupError
from .serving import CLOSE_GRACE, Served


class StandaloneProxyServer(JupyterApp, StandaloneOptions):
    """Wrap one web app so that JupyterHub can start it instead of ``jupyterhub-singleuser``."""

    # The 4.x name, so that its config file (jupyter_standalone_proxy_config.py) still applies.
    name = "jupyter-standalone-proxy"
    description = """
    Run one web app behind JupyterHub's login, in place of jupyterhub-singleuser.

    Usage: jupyter-standaloneproxy [options] -- <command>

    The command is started on the first request. It may contain {port}, {unix_socket},
    {base_url} and {public_url}, which are filled in when it starts.
    """
    examples = "jupyter-standaloneproxy -- voila --no-browser --port={port} /path/to/notebook.ipynb"

    aliases = {
        **JupyterApp.aliases,
        "base-url": "StandaloneProxyServer.base_url",
        "address": "StandaloneProxyServer.address",
        "ip": "StandaloneProxyServer.address",
        "port": "StandaloneProxyServer.port",
        "server-port": "StandaloneProxyServer.server_port",
        "unix-socket": "StandaloneProxyServer.unix_socket",
        "socket-path": "StandaloneProxyServer.unix_socket",
        "timeout": "StandaloneProxyServer.timeout",
        "environment": "StandaloneProxyServer.environment",
        "mappath": "StandaloneProxyServer.mappath",
        "request-headers-override": "StandaloneProxyServer.request_headers_override",
        "activity-interval": "StandaloneProxyServer.activity_interval",
        "websocket-max-message-size": "StandaloneProxyServer.websocket_max_message_size",
        "stop-timeout": "StandaloneProxyServer.stop_timeout",
    }

    flags = {
        **JupyterApp.flags,
        "skip-authentication": (
            {"StandaloneProxyServer": {"skip_authentication": True}},
            "Don't authenticate with JupyterHub: anyone who can reach the port gets in.",
        ),
        "no-authentication": (
            {"StandaloneProxyServer": {"skip_authentication": True}},
            "Same as --skip-authentication.",
        ),
        "absolute-url": (
            {"StandaloneProxyServer": {"absolute_url": True}},
            "Forward the full path, prefix included.",
        ),
        "no-absolute-url": (
            {"StandaloneProxyServer": {"absolute_url": False}},
            "Strip the prefix before forwarding (the default).",
        ),
        "raw-socket-proxy": (
            {"StandaloneProxyServer": {"raw_socket_proxy": True}},
            "Relay websockets to a plain TCP or unix socket app.",
        ),
        # Given without a value, --unix-socket means "a private socket" (with one, its path).
        "unix-socket": (
            {"StandaloneProxyServer": {"unix_socket": True}},
            "Talk to the app over a private unix socket ({unix_socket}).",
        ),
        "progressive": (
            {"StandaloneProxyServer": {"progressive": True}},
            "Accepted for compatibility: responses are always streamed.",
        ),
    }

    # -- logging, as jupyter_server logs -------------------------------------------------------

    @default("log_level")
    def _default_log_level(self) -> int:
        return logging.INFO

    @default("log_format")
    def _default_log_format(self) -> str:
        # jupyter_server's format: a server's log needs the time of each line.
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    @default("log_datefmt")
    def _default_log_datefmt(self) -> str:
        return "%Y-%m-%d %H:%M:%S"

    # -- life cycle ----------------------------------------------------------------------------

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if self.extra_args:
            # The command line's command wins over one from a config file.
            self.command = list(self.extra_args)

    def start(self) -> None:
        super().start()  # --generate-config and the like end here
        try:
            asyncio.run(self.serve())
        except StartupError as e:
            self.log.critical("%s", e)
            self.exit(1)

    async def serve(self) -> None:
        """Run until SIGTERM or SIGINT, then stop the app and return."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            served = await self._open()
            try:
                await stop.wait()
                self.log.info("Stopping: signal received")
            finally:
                await self._close(served)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _open(self) -> Served:
        tls = serving.server_ssl()
        app = self.create_app()
        server = httpserver.HTTPServer(app, xheaders=True, ssl_options=tls)
        try:
            server.listen(self.port, self.address)
        except OSError as e:
            await self.close_app(app)
            raise StartupError(
                f"cannot listen on {self.address}:{self.port}: {e.strerror or e}"
            ) from e
        serving.announce(self, self.log, webapp.served_spec(app), secure=tls is not None)
        return Served(server, app, serving.start_activity(app, self.activity_interval, self.log))

    async def _close(self, served: Served) -> None:
        served.server.stop()
        if served.activity is not None:
            served.activity.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await served.activity
        await self.close_app(served.app)
        with contextlib.suppress(asyncio.TimeoutError):
            await within(served.server.close_all_connections(), CLOSE_GRACE)

    def create_app(self) -> web.Application:
        """The tornado application serving the app under ``base_url``, as 4.x's method returns
        it, for callers that serve it on an ``HTTPServer`` of their own. The app's process
        starts at the first request. ``close_app`` stops it; should nobody call it, an atexit
        hook still kills the process group. Raises ``StartupError`` naming a bad option."""
        return webapp.create_app(self, parent=self, log=self.log)

    async def close_app(self, app: web.Application) -> None:
        """Stop what ``create_app``'s application started: first the app, then relayed
        websockets and the connection pools."""
        await webapp.close_app(app)


def main(argv: list[str] | None = None) -> None:
    """The ``jupyter-standaloneproxy`` console script."""
    StandaloneProxyServer.launch_instance(argv)

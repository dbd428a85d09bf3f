"""``jupyter-standaloneproxy``: one web app behind JupyterHub's login, without a Jupyter server.

JupyterHub starts it in place of ``jupyterhub-singleuser`` (``c.Spawner.cmd``); it serves
everything under ``$JUPYTERHUB_SERVICE_PREFIX`` by starting the command given after ``--`` on
the first request and proxying to it.

Rules:
- Built from the extension's parts, not beside them: the options become one ``ServerSpec``
  (validated by ``validate_spec`` like any app's), supervised by an ``AppManager`` and proxied by
  an ``Engine``, both stored in the tornado settings under the keys of ``settings.py``. So the
  standalone app streams, restarts an exited app, and explains failures exactly as ``/<name>/``
  does.
- The options and the ``c.StandaloneProxyServer`` traits are those of jupyter-server-proxy 4.x
  (``--address``, ``--port``, ``--server-port``, ``--unix-socket``, ``--timeout``,
  ``--skip-authentication``/``--no-authentication``, ...); defaults come from JupyterHub's
  environment (``hubenv.py``).
- Authentication is on unless switched off, and then says so loudly. With it on, the Hub's
  variables must be present: a clear one-line error beats a login loop. jupyterhub is imported
  only then.
- Everything started is stopped: SIGTERM or SIGINT stops every process of the app (daemons
  included, ``apps/proctree.py``), closes the connections and exits 0.
- The 4.x Python API holds: ``StandaloneProxyServer(**traits)`` takes every trait 4.x's class
  has (those of a ``c.ServerProxy.servers`` entry among them), and ``create_app()`` returns the
  tornado application, for tests and embedders that serve it themselves (``close_app`` then
  stops what it started).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import re
import secrets
import signal
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from jupyter_core.application import JupyterApp
from tornado import httpserver, web
from traitlets import (
    Any as AnyTrait,
)
from traitlets import (
    Bool,
    Callable,
    Dict,
    Float,
    Instance,
    Int,
    List,
    Unicode,
    Union,
    default,
    validate,
)

from ..apps.manager import AppManager
from ..apps.specs import ServerSpec
from ..apps.validation import SpecError, validate_spec
from ..engine import Engine, EngineSettings
from ..settings import ENGINE_KEY, MANAGER_KEY, PROBLEMS_KEY, SPECS_KEY
from ..timelimit import within
from . import hubenv
from .activity import ActivityReporter
from .proxy import AddSlashHandler, StandaloneHandler

#: How long open client connections get to close at shutdown before we exit anyway.
CLOSE_GRACE = 5.0
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_INTERPRETER = re.compile(r"^(python[0-9.]*|node|Rscript|R|julia|ruby|perl|sh|bash|env|uv|uvx)$")


class StartupError(Exception):
    """A reason not to start, said in one line."""


@dataclass(frozen=True)
class Served:
    """Everything one run owns, so that shutdown can release each of them."""

    server: httpserver.HTTPServer
    app: web.Application
    activity: asyncio.Task[None] | None


def _listed(value: Any) -> Any:
    """A list trait's value as a list; a callable (which the spec takes too) as it is."""
    return value if callable(value) else list(value)


def _as_strings(value: Any) -> Any:
    """A dict trait's keys and values as strings (a value from the command line may be
    anything JSON gives); a callable as it is."""
    return value if callable(value) else {str(k): str(v) for k, v in value.items()}


def app_name(command: list[str]) -> str:
    """A name for the app in logs and error pages: its program (``voila``), or for an
    interpreter the script or module it runs (``python -m panel`` -> ``panel``)."""
    name = ""
    for word in command:
        if word == "-c":
            break  # inline code: the interpreter's name is the best there is
        if not word or word.startswith("-"):
            continue
        name = os.path.basename(word)
        if not _INTERPRETER.match(name):
            break
    return _UNSAFE_NAME.sub("-", os.path.splitext(name)[0]).strip("-") or "app"


def log_request(handler: web.RequestHandler) -> None:
    """Access log with the app's ordinary traffic at debug level (tornado logs it at info):
    a proxy in front of one app would otherwise log every asset the app serves."""
    status = handler.get_status()
    log = logging.getLogger("tornado.access")
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
    request = handler.request
    millis = 1000.0 * request.request_time()
    log.log(
        level,
        "%d %s %s (%s) %.1fms",
        status,
        request.method,
        request.path,
        request.remote_ip,
        millis,
    )


class StandaloneProxyServer(JupyterApp):
    """Wrap one web app so that JupyterHub can start it instead of ``jupyterhub-singleuser``."""

    # The 4.x name, so that its config file (jupyter_standalone_proxy_config.py) still applies.
    name = "jupyter-standalone-proxy"
    description = """
    Run one web app behind JupyterHub's login, in place of jupyterhub-singleuser.

    Usage: jupyter-standaloneproxy [options] -- <command>

    The command is started on the first request. It may contain {port}, {unix_socket} and
    {base_url}, which are filled in when it starts.
    """
    examples = "jupyter-standaloneproxy -- voila --no-browser --port={port} /path/to/notebook.ipynb"

    command = Union(
        [List(Unicode()), Callable()],
        default_value=[],
        help="""The app's command (everything after '--' on the command line). {port},
        {unix_socket} and {base_url} are filled in. A callable (as in 4.x) returns the list.""",
    ).tag(config=True)

    base_url = Unicode(
        help="""URL prefix the app is served under. Default: $JUPYTERHUB_SERVICE_PREFIX, or '/'.
        Requests outside it get 404.""",
    ).tag(config=True)

    address = Unicode(
        help="""Address to listen on. Default: the host of $JUPYTERHUB_SERVICE_URL, or
        127.0.0.1.""",
    ).tag(config=True)

    port = Int(
        help="Port to listen on. Default: the port of $JUPYTERHUB_SERVICE_URL, or 8888.",
    ).tag(config=True)

    server_port = Int(
        0,
        help="""Port the app listens on (given to it as {port}). Default: 0, a free port picked
        at each start.""",
    ).tag(config=True)

    unix_socket = Union(
        [Bool(), Unicode()],
        default_value=False,
        allow_none=True,
        help="""Talk to the app over a unix socket instead of TCP: True for a private socket
        (given to it as {unix_socket}), or the path of the socket the app creates.""",
    ).tag(config=True)

    timeout = Float(5.0, help="Seconds the app has to answer HTTP after it was started.").tag(
        config=True
    )

    absolute_url = Bool(
        False,
        help="""Forward the full path, prefix included (for apps that know their base URL);
        by default the prefix is stripped and sent in X-Forwarded-Prefix and the like.""",
    ).tag(config=True)

    environment = Union(
        [Dict(), Callable()],
        default_value={},
        help="""Extra environment variables for the app ({port} etc. are filled in), or a
        callable returning them.""",
    ).tag(config=True)

    mappath = Union(
        [Dict(), Callable()],
        default_value={},
        help="""Paths to replace before forwarding: {'/': '/index.html'}, or a callable that
        takes the path and returns the one to forward.""",
    ).tag(config=True)

    request_headers_override = Union(
        [Dict(), Callable()],
        default_value={},
        help="Headers to set on every request forwarded to the app.",
    ).tag(config=True)

    rewrite_response = Union(
        [Callable(), List(Callable())],
        default_value=[],
        help="""Functions that may change each response of the app before it is sent, as for a
        c.ServerProxy.servers entry.""",
    ).tag(config=True)

    update_last_activity = Union(
        [Bool(), Callable()],
        default_value=True,
        help="""Whether requests count as activity reported to JupyterHub; a callable decides
        per request.""",
    ).tag(config=True)

    exclude_last_activity_patterns = List(
        Union([Unicode(), Instance(re.Pattern)]),
        help="Regular expressions of request paths that are not activity.",
    ).tag(config=True)

    # Taken, as 4.x's class has them, and without effect: a standalone app has no launcher.
    launcher_entry = AnyTrait(
        None, allow_none=True, help="Has no effect here: there is no launcher."
    ).tag(config=True)
    new_browser_tab = Bool(True, help="Has no effect here: there is no launcher.").tag(config=True)

    raw_socket_proxy = Bool(
        False, help="Relay websockets to a plain TCP or unix socket app (no HTTP)."
    ).tag(config=True)

    skip_authentication = Bool(
        False,
        help="""Let in anyone who can reach the port, without JupyterHub's login.
        For testing only: the app is then open to everyone.""",
    ).tag(config=True)

    no_authentication = Bool(False, help="The name 4.x releases gave to skip_authentication.").tag(
        config=True
    )

    activity_interval = Int(
        300,
        help="""Seconds between activity reports to $JUPYTERHUB_ACTIVITY_URL, which JupyterHub's
        idle culler reads. 0 disables them.""",
    ).tag(config=True)

    websocket_max_message_size = Int(
        None,
        allow_none=True,
        help="Largest websocket message relayed, in bytes. Default: 1 GiB.",
    ).tag(config=True)

    progressive = Bool(
        False,
        help="""Accepted for compatibility with early releases: responses are always streamed
        as the app produces them.""",
    ).tag(config=True)

    stop_timeout = Float(
        5.0, help="Seconds the app has to exit after SIGTERM before it is killed."
    ).tag(config=True)

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

    # -- defaults from JupyterHub's environment ----------------------------------------------

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

    @default("base_url")
    def _default_base_url(self) -> str:
        return hubenv.service_prefix(os.environ)

    @validate("base_url")
    def _valid_base_url(self, proposal: Any) -> str:
        return hubenv.normalise_prefix(str(proposal["value"]))

    @default("address")
    def _default_address(self) -> str:
        return hubenv.service_address(os.environ)

    @default("port")
    def _default_port(self) -> int:
        return hubenv.service_port(os.environ)

    @property
    def auth_enabled(self) -> bool:
        return not (self.skip_authentication or self.no_authentication)

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
        tls = self._server_ssl()
        app = self.create_app()
        server = httpserver.HTTPServer(app, xheaders=True, ssl_options=tls)
        try:
            server.listen(self.port, self.address)
        except OSError as e:
            await self.close_app(app)
            raise StartupError(
                f"cannot listen on {self.address}:{self.port}: {e.strerror or e}"
            ) from e
        (spec,) = app.settings[SPECS_KEY].values()
        self._announce(spec, secure=tls is not None)
        return Served(server, app, self._start_activity(app))

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
        spec = self.server_spec()
        self._check_auth_env()
        routes = self.routes(spec)
        engine = Engine(self.engine_settings())
        manager = AppManager(
            {spec.name: spec},
            base_url=self.base_url,
            log=self.log,
            upstream=engine.upstream,  # readiness probes use the proxy's own client
            stop_grace=self.stop_timeout,
        )
        atexit.register(manager.kill_all_sync)
        return self.web_app(routes, spec, manager, engine)

    async def close_app(self, app: web.Application) -> None:
        """Stop what ``create_app``'s application started: first the app (requests waiting on
        it then fail fast instead of holding shutdown), then relayed websockets (closed with a
        reason) and the connection pools."""
        manager: AppManager = app.settings[MANAGER_KEY]
        await manager.stop_all()
        atexit.unregister(manager.kill_all_sync)
        engine: Engine = app.settings[ENGINE_KEY]
        await engine.close()

    # -- building blocks -----------------------------------------------------------------------

    def server_spec(self) -> ServerSpec:
        """The app as a validated spec, as if it were an entry of ``c.ServerProxy.servers``."""
        if not self.command:
            raise StartupError(
                "no command to run: jupyter-standaloneproxy [options] -- <command> [args]"
            )
        unix_socket = self.unix_socket
        raw = {
            "command": _listed(self.command),
            "environment": _as_strings(self.environment),
            "timeout": self.timeout,
            "absolute_url": self.absolute_url,
            "port": self.server_port,
            "unix_socket": unix_socket if unix_socket not in ("", False) else None,
            "mappath": _as_strings(self.mappath),
            "request_headers_override": _as_strings(self.request_headers_override),
            "rewrite_response": self.rewrite_response,
            "update_last_activity": self.update_last_activity,
            "exclude_last_activity_patterns": list(self.exclude_last_activity_patterns),
            "raw_socket_proxy": self.raw_socket_proxy,
            "launcher_entry": {"enabled": False},
        }
        name = app_name(self.command) if isinstance(self.command, list) else "app"
        try:
            spec, _ = validate_spec(name, raw, source="command line")
        except SpecError as e:
            raise StartupError(str(e)) from e
        return spec

    def engine_settings(self) -> EngineSettings:
        if self.websocket_max_message_size:
            return EngineSettings(websocket_max_message_size=self.websocket_max_message_size)
        return EngineSettings()

    def _check_auth_env(self) -> None:
        if not self.auth_enabled:
            return
        missing = hubenv.missing_auth_env(os.environ)
        if missing:
            raise StartupError(
                f"JupyterHub authentication needs {', '.join(missing)} in the environment "
                "(JupyterHub's spawner sets them): start this from JupyterHub, or pass "
                "--skip-authentication to let anyone who can reach the port in"
            )

    def web_app(
        self, routes: list[Any], spec: ServerSpec, manager: AppManager, engine: Engine
    ) -> web.Application:
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            ENGINE_KEY: engine,
            MANAGER_KEY: manager,
            SPECS_KEY: {spec.name: spec},
            PROBLEMS_KEY: [],
            # Signs the Hub's OAuth cookies; a new one per start only means a new login.
            "cookie_secret": secrets.token_bytes(32),
            "hub_user": os.environ.get("JUPYTERHUB_USER", ""),
            "log_function": log_request,
        }
        return web.Application(routes, **settings)

    def routes(self, spec: ServerSpec) -> list[Any]:
        handler: type[StandaloneHandler] = StandaloneHandler
        kwargs: dict[str, Any] = {"spec": spec, "prefix": self.base_url}
        routes: list[Any] = []
        bare = self.base_url.rstrip("/")
        if bare:
            routes.append((re.escape(bare), AddSlashHandler))
        if self.auth_enabled:
            try:
                from . import hub
            except ImportError as e:
                raise StartupError(
                    f"JupyterHub authentication needs the jupyterhub package ({e}): "
                    "pip install jupyter-server-proxy[standalone]"
                ) from e
            hub_auth = hub.make_hub_auth(self)
            handler = hub.HubStandaloneHandler
            kwargs["hub_auth"] = hub_auth
            routes.append(
                (
                    re.escape(hub.callback_path(hub_auth)),
                    hub.StandaloneOAuthCallbackHandler,
                    {"hub_auth": hub_auth},
                )
            )
        routes.append((re.escape(bare) + "(/.*)", handler, kwargs))
        return routes

    def _server_ssl(self) -> ssl.SSLContext | None:
        try:
            return hubenv.server_ssl_context(os.environ)
        except (OSError, ssl.SSLError) as e:
            raise StartupError(f"cannot use the certificate in JUPYTERHUB_SSL_*: {e}") from e

    def _start_activity(self, app: web.Application) -> asyncio.Task[None] | None:
        url = os.environ.get("JUPYTERHUB_ACTIVITY_URL")
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not (url and token and self.activity_interval > 0):
            return None
        started = datetime.now(timezone.utc)

        def last_activity() -> datetime:
            # Where ProxyHandler stamps proxied traffic (jupyter_server's last_activity() key).
            stamp = app.settings.get("api_last_activity")
            return max(started, stamp) if isinstance(stamp, datetime) else started

        reporter = ActivityReporter(
            url=url,
            token=token,
            server_name=os.environ.get("JUPYTERHUB_SERVER_NAME", ""),
            interval=self.activity_interval,
            last_activity=last_activity,
            log=self.log,
            ssl_context=hubenv.client_ssl_context(os.environ),
        )
        self.log.info("Reporting activity to %s every %ss", url, self.activity_interval)
        return asyncio.ensure_future(reporter.run())

    def _announce(self, spec: ServerSpec, *, secure: bool) -> None:
        # tornado logs through its own loggers; send them where ours go.
        logging.getLogger("tornado").parent = self.log
        where = f"{'https' if secure else 'http'}://{self.address}:{self.port}{self.base_url}"
        command = spec.command if isinstance(spec.command, tuple) else ()
        self.log.info("Serving %s at %s: %s", spec.name, where, " ".join(command))
        if self.progressive:
            self.log.info("--progressive is not needed: responses are always streamed")
        if not self.auth_enabled:
            self.log.warning(
                "AUTHENTICATION IS OFF (--skip-authentication): anyone who can reach %s can use "
                "%s. Use this only for testing.",
                where,
                spec.name,
            )


def main(argv: list[str] | None = None) -> None:
    """The ``jupyter-standaloneproxy`` console script."""
    StandaloneProxyServer.launch_instance(argv)

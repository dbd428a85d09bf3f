"""Handlers for named apps (``/<name>/...``): a supervised process behind the proxy engine.

The route's only argument is the path after ``/<name>``. Per request: make sure the app is ready
(starting it at most once, however many requests race), then proxy through the same engine as
``/proxy/<port>/`` with the app's ``mappath``, ``request_headers_override`` and
``rewrite_response`` applied. A failure to start is an ``AppFailed`` (503 with the exit code and log
tail), answered by the one error writer (``error_answers.py``). A browser that navigates to an app
that is not running is held while it starts, for ``c.ServerProxy.start_hold`` seconds: it gets the
app if the app is ready by then, else the "Starting…" page, which waits for the start and then
shows the app; every other request waits for the app. Every request and websocket
handshake to a run this proxy started carries that run's secret and the user's name
(``core/secret.py``), added after the client's headers were filtered and overrides applied.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from typing import Any, cast
from urllib.parse import unquote, urlsplit, urlunsplit

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..apps.config import DEFAULT_START_HOLD
from ..apps.manager import AppManager
from ..apps.specs import ServerSpec
from ..apps.state import AppState
from ..apps.supervisor import ManagedApp
from ..core.hooks import HookFailed, call_hook, hook_name, raised_where, resolve
from ..core.routing import Target
from ..core.secret import identity_headers, user_name
from .proxyhandler import ProxyHandler
from .rawstream import RawSocketBridge, open_stream
from .settings import MANAGER_KEY, START_HOLD_KEY
from .startingpage import held_start, is_page_load, write_starting_page

#: Settings key: the apps whose activity rule has raised already (its traceback is logged once).
_RULE_FAILURES_KEY = "server_proxy_activity_rule_failures"


def manager_of(settings: Mapping[str, Any]) -> AppManager:
    return cast(AppManager, settings[MANAGER_KEY])


class SuperviseAndProxyHandler(ProxyHandler):
    """Proxies ``/<name>/...`` to the app ``name``, starting it first if needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.spec: ServerSpec = kwargs.pop("spec")
        kwargs.setdefault("absolute_url", self.spec.absolute_url)
        kwargs.setdefault("rewrite_response", self.spec.rewrite_response)
        super().__init__(*args, **kwargs)
        self.name = self.spec.name
        self.proxy_base = self.spec.name
        self._app: ManagedApp | None = None
        self._app_target: Target | None = None
        #: The secret of the run ``_app_target`` belongs to (None: an app we did not start).
        self._app_secret: str | None = None
        self._excluded = [re.compile(p) for p in self.spec.exclude_last_activity_patterns]
        #: Whether this handler proxies an HTTP exchange, and whether it counted as traffic.
        self._in_exchange = self._exchange_counted = False

    @property
    def app(self) -> ManagedApp:
        """The app (or instance) of this request, ready to be started: an instance is made at
        its first request, and a start by a request gets the launch parameters the app ran
        with last, else their defaults (``AppManager.to_start``; a ``ProxyError`` if it
        cannot be started). Found once per request: a name's app never changes."""
        if self._app is None:
            self._app = manager_of(self.settings).to_start(self.name)
        return self._app

    async def _ready_target(self) -> Target:
        return self._use_run(await self.app.ensure_ready())

    def _use_run(self, ready: Target) -> Target:
        """The target a ready run gave, and its secret, for this request. Called with no await
        after the run was found ready: the secret read is that of the run ``ready`` points at."""
        app = self.app
        self._app_secret = app.secret
        self._app_target = Target(
            host=ready.host or "127.0.0.1",
            port=ready.port,
            unix_socket=ready.unix_socket,
            tls=ready.tls,
        )
        return self._app_target

    def _headers_to_send(self, context: str, *, websocket: bool) -> list[tuple[str, str]]:
        """The filtered headers (``requesting.py``), then the run's secret and the user's name,
        which no client, override or subclass can set (``core.headers`` rule 5)."""
        headers = super()._headers_to_send(context, websocket=websocket)
        if self._app_secret is None:
            return headers
        return headers + identity_headers(self._app_secret, user_name(self.current_user))

    def _template_values(self) -> dict[str, Any]:
        target = self._app_target
        return {
            "port": target.port if target and target.port is not None else "",
            "unix_socket": target.unix_socket if target and target.unix_socket else "",
            "base_url": self.base_url,
        }

    @property
    def _owner(self) -> str:
        return f"app {self.name!r}"

    @property
    def _hooks_owner(self) -> tuple[str, str]:  # type: ignore[override]
        return self._owner, "rewrite_response"

    def _hook_target(self, target: Target) -> tuple[str, Any]:
        """The peer hands a named app's hooks ``localhost`` and the app's port (0 for a unix
        socket), whatever address it connected to."""
        return "localhost", target.port or 0

    def get_request_headers_override(self) -> Mapping[str, str]:
        """The app's ``request_headers_override``, templates filled in; a callable is called
        for each request with the arguments it names (``port``, ``unix_socket``, ``base_url``),
        as 4.x does, and must return a dict of strings."""
        override = self.spec.request_headers_override
        if not override:
            return {}
        key = "request_headers_override"
        headers = resolve(override, self._template_values(), owner=self._owner, key=key)
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            # Only a callable can get here: a dict is validated, and templates keep strings.
            name = hook_name(override) if callable(override) else repr(override)
            raise HookFailed(
                self._owner,
                f"its {key} callable {name} returned {headers!r:.200}, expected a dict of strings",
            )
        return cast(Mapping[str, str], headers)

    def _map_path(self, raw: str) -> str:
        mappath = self.spec.mappath
        if callable(mappath):
            return str(call_hook(mappath, {"path": raw}, owner=self._owner, key="mappath"))
        return mappath.get(raw, raw)

    def _should_record_activity(self) -> bool:
        """The peer's rules: a callable ``update_last_activity`` gets this handler (hooks call
        ``request.get_argument(...)``) and alone decides; otherwise ``True`` counts every
        request but those whose path an ``exclude_last_activity_patterns`` entry matches.

        A rule that raises must not cost the user the request: the activity counts (the
        default), and the failure is logged, with its traceback the first time for this app."""
        rule = self.spec.update_last_activity
        if not callable(rule):
            path = self.request.path
            return rule and not any(p.search(path) for p in self._excluded)
        try:
            return bool(rule(self))
        except Exception as e:
            reported: set[str] = self.settings.setdefault(_RULE_FAILURES_KEY, set())
            first = self.name not in reported
            reported.add(self.name)
            self.log.warning(
                "%s: its update_last_activity callable %s raised %s: %s (%s); "
                "counting the request as activity",
                self._owner,
                hook_name(rule),
                type(e).__name__,
                e,
                raised_where(e),
                exc_info=first,
            )
            return True

    def _record_activity(self) -> None:
        """What counts as activity is also the app's traffic for its idle timer
        (``apps/idle.py``); a counted response is traffic until it ends."""
        super()._record_activity()
        idle = self.app.idle
        if self._in_exchange and not self._exchange_counted:
            self._exchange_counted = True
            idle.began()
        else:
            idle.traffic()

    def _named_paths(self, path: str) -> tuple[str, str]:
        """(context path ``{base_url}{name}``, raw path after it) for this request."""
        _, raw = self._paths(path)
        return url_path_join(self.base_url, self.name).rstrip("/"), raw

    #: Whether a browser navigating to an app that is not running is held while it starts and
    #: then gets the "Starting…" page (it needs the lifecycle API, which the standalone proxy
    #: does not serve).
    starting_page = True

    def _is_navigation_to_cold_app(self) -> bool:
        """A browser's page load (``startingpage.py``) of an app with a command that is not
        running and that a request may start."""
        return (
            self.starting_page
            and bool(self.spec.command)
            and is_page_load(self.request)
            and self.app.state is not AppState.RUNNING
            # An app only the API may start gets the failure page, which says so.
            and not self.app.held
        )

    async def _named_exchange(self, path: str) -> None:
        if self.spec.raw_socket_proxy:
            self.set_header("Allow", "GET")
            raise web.HTTPError(405, f"{self.name} is a raw socket app: connect with a websocket")
        if self._is_navigation_to_cold_app():
            hold = float(self.settings.get(START_HOLD_KEY, DEFAULT_START_HOLD))
            ready = await held_start(self.app, hold)
            if ready is None:
                start_url = url_path_join(self.base_url, "server-proxy/api/servers", self.name)
                title = self.spec.launcher_entry.title or self.spec.name
                if self.name != self.spec.name:  # an instance: say which
                    title = f"{title} ({self.name})"
                write_starting_page(self, title, start_url, self.xsrf_token.decode())
                return
            target = self._use_run(ready)
        else:
            target = await self._ready_target()
        context, raw = self._named_paths(path)
        upstream, asked = self._upstream_of(target, context, raw)
        self._in_exchange = True
        try:
            await self._exchange_http(target, context, upstream, asked)
        finally:
            if self._exchange_counted:
                self.app.idle.ended()

    async def _named_connect(self, path: str) -> None:
        target = await self._ready_target()
        context, raw = self._named_paths(path)
        if self.spec.raw_socket_proxy:
            # The stream is connected first; only then is the client's websocket accepted.
            self._check_ws_origin()
            reader, writer = await open_stream(target, self.engine.settings)
            bridge = RawSocketBridge(reader, writer, on_activity=self._ws_activity())
            await self._accept_bridged(bridge)
            return
        upstream, asked = self._upstream_of(target, context, raw)
        await self._open_websocket(target, context, upstream, asked)

    def _upstream_of(
        self, target: Target, context: str, raw: str
    ) -> tuple[str, tuple[str, str | int, str]]:
        """The path the app gets: ``mappath`` applies to the path after ``/<name>``, also for
        an ``absolute_url`` app, which then gets it behind the prefix (as 4.x does). With it,
        what 4.x hands ``get_client_uri``: ``localhost``, the app's port, the mapped path."""
        mapped = self._map_path(raw or "/")
        upstream = context + mapped if self.absolute_url else mapped
        return upstream, ("localhost", target.port or 0, unquote(mapped))

    # One-argument methods: the route captures only the path after the name.
    async def http_get(self, path: str = "") -> None:  # type: ignore[override]
        await self._run_http(lambda: self._named_exchange(path))

    async def open(self, path: str = "") -> None:  # type: ignore[override]
        await self._run_open(lambda: self._named_connect(path))

    def _method(self, path: str) -> Awaitable[None]:
        return self._run_http(lambda: self._named_exchange(path))

    def post(self, path: str = "") -> Awaitable[None]:
        return self._method(path)

    def put(self, path: str = "") -> Awaitable[None]:
        return self._method(path)

    def delete(self, path: str = "") -> Awaitable[None]:
        return self._method(path)

    def head(self, path: str = "") -> Awaitable[None]:
        return self._method(path)

    def patch(self, path: str = "") -> Awaitable[None]:
        return self._method(path)

    def options(self, path: str = "") -> Awaitable[None]:
        return self._method(path)


class AddSlashHandler(JupyterHandler):
    """``/<name>`` -> ``/<name>/``, keeping the query string."""

    @web.authenticated
    def get(self, *args: Any) -> None:
        src = urlsplit(self.request.uri or "/")
        self.redirect(urlunsplit(src._replace(path=src.path + "/")))


def app_route_names(name: str) -> tuple[str, str, str, str]:
    """The tornado names of an app's routes, by which they are found again (their patterns
    may equal a route of Jupyter's: ``/api$``): ``/<name>`` and ``/<name>/...``, then
    ``/<name>@<instance>`` and ``/<name>@<instance>/...`` (``instances.py``)."""
    route = f"jupyter-server-proxy app {name}"
    return f"{route} (add slash)", route, f"{route} instance (add slash)", f"{route} instance"


def named_routes(base_url: str, specs: Mapping[str, ServerSpec]) -> list[Any]:
    out: list[Any] = []
    for name, spec in specs.items():
        pattern = re.escape(name)
        slash, proxy, *_ = app_route_names(name)
        out.append((url_path_join(base_url, pattern), AddSlashHandler, {}, slash))
        out.append(
            (
                url_path_join(base_url, pattern) + r"(/.*)",
                SuperviseAndProxyHandler,
                {"spec": spec},
                proxy,
            )
        )
    return out

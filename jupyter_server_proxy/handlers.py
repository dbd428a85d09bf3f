"""Tornado handlers: the thin layer between Jupyter's web server and the proxy engine.

The class names and method signatures here are a public API: dask's ``distributed`` and
``dask-labextension`` subclass ``ProxyHandler``; jupyter-remote-desktop-proxy imports
``AddSlashHandler``. What they rely on (kept deliberately):

- ``ProxyHandler`` is both a tornado ``WebSocketHandler`` and a jupyter_server ``JupyterHandler``,
  and works in a plain ``tornado.web.Application`` without Jupyter's settings.
- Subclasses replace ``initialize``, ``prepare`` and ``get_current_user`` without calling
  ``super()``; so per-instance state is set in ``__init__`` and nothing depends on our ``prepare``.
- ``proxy(host, port, proxied_path)`` and ``proxy_open(host, port, proxied_path="")`` keep their
  positional signatures (``port`` may be a string). Subclasses override ``proxy`` with two
  arguments, so this module never calls ``self.proxy`` itself: ``get`` goes to ``http_get`` (or
  ``open`` for an upgrade) and the other methods to ``post``/``put``/..., which subclasses map.
- The upstream URL comes from ``(host, port, proxied_path)`` and the query, never ``request.uri``.
- 4.x's request-building methods stay overridable and are honoured:
  ``get_request_headers_override``, ``proxy_request_headers``, ``proxy_request_options`` and
  ``get_client_uri``. Whether a class overrides the last three is looked up once per class
  (``_overridden``): a class that overrides none builds the request as before and pays one
  cached lookup.

Data flows one way: route arguments -> target -> upstream exchange -> client.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import functools
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from http.client import responses
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from jupyter_server._tz import utcnow
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httputil import HTTPHeaders
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketHandler

from .bodychannel import BodyChannel
from .core.errorpage import error_html, error_json, json_text, status_json, wants_json
from .core.errors import BadTarget, HostNotAllowed, ProxyError, UpstreamUnavailable
from .core.headers import (
    HeaderInjection,
    check_field,
    chosen_request_headers,
    downstream_response_headers,
    is_websocket_upgrade,
    strip_token_query,
    upstream_request_headers,
)
from .core.location import backend_authorities, rewrite_location
from .core.routing import (
    Target,
    check_host_allowed,
    host_key,
    parse_host,
    parse_port,
    raw_suffix,
    strip_fragment,
    upstream_query,
    upstream_target_uri,
)
from .core.wshandshake import (
    CLIENT_VERSIONS,
    BackendAnswer,
    accept_headers,
    client_problem,
    client_protocols,
    same_origin,
)
from .engine import Engine, engine_for
from .rewrite import RewritableResponse, run_rewrite_hooks
from .transport.errors import BodyBroken
from .transport.response import Response
from .utils import HookFailed, call_hook, hook_failed
from .websocket import take_client
from .wspipe import Side

if TYPE_CHECKING:
    from .rawsocket import RawSocketBridge

__all__ = [
    "AddSlashHandler",
    "LocalProxyHandler",
    "NamedLocalProxyHandler",
    "ProxyHandler",
    "RemoteProxyHandler",
    "RewritableResponse",
]

#: Request bodies are read in chunks of up to ``_BODY_CHUNK`` and at most ``_BODY_QUEUE`` of them
#: wait for the backend, so an upload holds at most 4 MiB in memory however large it is.
_BODY_QUEUE = 4
_BODY_CHUNK = 1 << 20
_NO_LIMIT = 1 << 62
#: Seconds between activity stamps from one websocket.
_WS_ACTIVITY_EVERY = 1.0
#: Bytes of a response body that may wait in the handler while the previous flush is in flight.
_AHEAD = 1 << 20
#: Responses of at most this many bytes with a Content-Length are sent in one write.
_SMALL_BODY = 64 * 1024
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Hop-by-hop or meaningless towards the backend besides the RFC 9110 §7.6.1 set: ``Expect`` is
# answered by tornado itself (100-continue) and ``Host`` is kept as the client sent it.
_REQUEST_DROP = frozenset({"expect"})
_LOCATION_HEADERS = ("Location", "Content-Location")
#: 4.x methods whose override changes how the upstream request is built (see ``_overridden``).
_OVERRIDABLE = ("proxy_request_headers", "proxy_request_options", "get_client_uri")
#: ``proxy_request_options()`` keys (4.x: tornado ``HTTPRequest`` arguments) that our client
#: honours, and the setting of ours each replaces for the request. ``request_timeout`` bounds the
#: backend's silence (``read_timeout``), not the whole exchange: a stream that keeps sending is
#: never cut.
_OPTION_TIMEOUTS = {"connect_timeout": "connect_timeout", "request_timeout": "read_timeout"}
#: Keys that ask for what our client does anyway (4.x's own defaults); any other key or value
#: (``follow_redirects=True``, ``validate_cert``, ``auth_username``...) is ignored, with a
#: warning once per class and key.
_OPTIONS_AS_WE_DO: dict[str, object] = {"follow_redirects": False, "decompress_response": False}
_warned_options: set[tuple[type, str]] = set()
#: What may stand in a request-target built from a subclass's URL: RFC 3986 reserved and
#: unreserved characters, and ``%`` so that its escapes stay as they are. Anything else (space,
#: CR, LF, non-ASCII) is percent-encoded, so a URL can never split the request line.
_TARGET_SAFE = "/:@!$&'()*+,;=-._~?%[]"


class _WsPhase(enum.Enum):
    """Where a websocket upgrade stands; ``proxy_open`` is entered once per phase change."""

    NONE = "none"  # a plain HTTP request
    CONNECTING = "connecting"  # backend handshake in progress; the client is not yet accepted
    ACCEPTING = "accepting"  # backend connected; tornado is accepting the client
    OPEN = "open"
    CLOSED = "closed"


def _allowed_by(handler: ProxyHandler, host: str) -> None:
    allow = handler.host_allowlist
    if callable(allow):
        # Called positionally, as 4.x calls it: configs name the parameters as they like
        # (``lambda h, host: ...``). A rule that raises is named, never a bare 500.
        try:
            allowed = allow(handler, host)
        except Exception as e:
            raise hook_failed("c.ServerProxy", "host_allowlist", allow, e) from e
        if not allowed:
            raise HostNotAllowed(f"host {host!r} is not allowed by c.ServerProxy.host_allowlist")
        return
    check_host_allowed(host, list(allow))


def _authenticated_or_upgrade_refused(
    method: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., Coroutine[Any, Any, None]]:
    """``web.authenticated`` for ``get``, which also takes websocket upgrades. An upgrade is
    refused with 403, never redirected to a login page it cannot follow (jupyter_server's
    ``ws_authenticated`` rule), and a refusal ``prepare`` kept for it is given here, once the
    request has been read (``_prepare_upgrade_refusal_in_get``)."""
    http = web.authenticated(method)

    @functools.wraps(method)
    async def wrapper(self: ProxyHandler, *args: Any, **kwargs: Any) -> None:
        if not self._is_upgrade:
            await _maybe_await(http(self, *args, **kwargs))
            return
        if self._upgrade_refusal is not None:
            raise self._upgrade_refusal
        if not self.current_user:
            raise web.HTTPError(403)
        await method(self, *args, **kwargs)

    # The mark jupyter_server's own decorators leave: this method authenticates its requests
    # (``ServerApp`` lists extension handlers without one, and its ``prepare`` checks it).
    setattr(wrapper, "__allow_unauthenticated", False)  # noqa: B010
    return wrapper


@web.stream_request_body
class ProxyHandler(WebSocketHandler, JupyterHandler):
    """Proxy HTTP and websockets to ``host:port``; the base of every proxy route."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.proxy_base = ""
        self.absolute_url: bool = kwargs.pop("absolute_url", False)
        self.host_allowlist: list[str] | Callable[..., Any] = kwargs.pop(
            "host_allowlist", ["localhost", "127.0.0.1"]
        )
        hooks = kwargs.pop("rewrite_response", ())
        self.rewrite_response: tuple[Callable[..., Any], ...] = (
            (hooks,) if callable(hooks) else tuple(hooks)
        )
        self.subprotocols: list[str] | None = None
        self._ws_phase = _WsPhase.NONE
        self._ws_bridge: RawSocketBridge | None = None
        self._exchange: asyncio.Task[None] | None = None
        self._body: BodyChannel | None = None
        self._flushing: asyncio.Future[None] | None = None  # the flush of body reads in flight
        self._held = 0  # bytes of body reads written since, waiting for the next flush
        self._inner: asyncio.Task[None] | None = None
        self._client_gone = False
        #: A refusal ``prepare`` met for a websocket upgrade, given by ``get`` instead.
        self._upgrade_refusal: web.HTTPError | None = None
        #: (context path, websocket?) of the request being built, for ``proxy_request_headers``.
        self._forwarding: tuple[str, bool] | None = None
        #: (the ``proxied_path`` handed to ``get_client_uri``, the path our own rules give it).
        self._client_path: tuple[str, str] | None = None
        super().__init__(*args, **kwargs)
        self._read_size_before = _stream_bodies_of_any_size(self.request)

    # -- framework plumbing ---------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return engine_for(self.settings)

    @property
    def base_url(self) -> str:
        return cast(str, self.settings.get("base_url", "/"))

    @functools.cached_property
    def _is_upgrade(self) -> bool:
        return is_websocket_upgrade(self.request.headers.get("Upgrade"))

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        async def jupyters() -> None:
            if self._is_upgrade and _accepts_redirect_flag():
                result = JupyterHandler.prepare(self, _redirect_to_login=False)
            else:
                result = JupyterHandler.prepare(self)
            if inspect.isawaitable(result):
                await result

        await self._prepare_upgrade_refusal_in_get(jupyters)

    async def _prepare_upgrade_refusal_in_get(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``prepare``'s work; a refusal of a websocket upgrade is kept for ``get`` to give.

        Why: for a handler that streams request bodies, tornado runs ``prepare`` before it has
        read the whole request, and a response finished that early makes it close the
        connection after it, without a ``Connection: close`` to say so. A proxy in front that
        reuses connections (configurable-http-proxy) then has its next request on that
        connection fail (ECONNRESET, the Hub's 503 page). An upgrade has no body: once ``get``
        runs the request is read, and a refusal leaves the connection usable, as it does with
        tornado's own ``WebSocketHandler`` and with 4.x."""
        if not self._is_upgrade:
            await step()
            return
        try:
            await step()
        except web.HTTPError as e:
            self._upgrade_refusal = e

    def check_xsrf_cookie(self) -> None:
        """A proxied app's pages cannot know Jupyter's ``_xsrf``; CSRF defence is the app's own.
        Authentication still applies to every request."""

    def check_origin(self, origin: str | None = None) -> bool:
        """Whether a websocket from ``origin`` may open.

        One of the page's own origin always may (``same_origin``: tornado 6.6's rule, which it
        applies before calling ``check_origin`` and which 6.4 and 6.5 left to it). Another is
        decided by Jupyter's rule in a Jupyter server (``allow_origin``, ``allow_origin_pat``,
        token-authenticated requests), and in a plain tornado app (dask's scheduler, the
        standalone proxy) by tornado's: the ``trusted_origins`` setting from 6.6 on, none
        before."""
        headers = self.request.headers
        origin = origin or headers.get("Origin") or headers.get("Sec-Websocket-Origin") or ""
        if same_origin(origin, headers.get("Host"), headers.get("Sec-Fetch-Site")):
            return True
        if "identity_provider" in self.settings:
            return bool(JupyterHandler.check_origin(self, origin))
        trusted = getattr(self, "check_trusted_origin", None)  # tornado >= 6.6
        return bool(trusted(origin)) if trusted is not None else False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors raised as ``HTTPError`` (a refused login, a method an app does not take): JSON
        for API clients, as every error of ours; for browsers Jupyter's page, or tornado's in
        an app without Jupyter's templates."""
        if _wants_json(self):
            error = kwargs.get("exc_info", (None, None))[1]
            title = responses.get(status_code, "Unknown")
            message = getattr(error, "log_message", None) or title
            self.set_header("Content-Type", "application/json")
            self.finish(json_text(status_json(status_code, title, message)))
            return
        if "jinja2_env" not in self.settings:
            # A plain tornado app has none of Jupyter's templates: tornado's own page.
            web.RequestHandler.write_error(self, status_code, **kwargs)
            return
        JupyterHandler.write_error(self, status_code, **kwargs)

    @property
    def max_message_size(self) -> int:
        return self.engine.settings.websocket_max_message_size

    @property
    def ping_interval(self) -> float | None:
        return self.engine.settings.websocket_ping_interval or None

    def compute_etag(self) -> str | None:
        """Never invent an ETag: a proxy passes the backend's validators or none (RFC 9110
        §8.8.3), and tornado's default would hash every body and could answer 304 on its own."""
        return None

    def get_compression_options(self) -> dict[str, Any] | None:
        return None  # bytes pass as they are; compressing on loopback costs CPU for nothing

    # -- dispatch: every method funnels into the subclass-overridable names -----------------

    @_authenticated_or_upgrade_refused
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self._is_upgrade:
            self._ws_phase = _WsPhase.CONNECTING
            await _maybe_await(self.open(*args, **kwargs))
            return
        await _maybe_await(self.http_get(*args, **kwargs))

    async def http_get(self, host: str, port: str | int, proxied_path: str = "") -> None:
        await self.proxy(host, port, proxied_path)

    async def open(self, host: str, port: str | int, proxied_path: str = "") -> None:
        await self.proxy_open(host, port, proxied_path)

    @web.authenticated
    def post(self, host: str, port: str | int, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(host, port, proxied_path)

    @web.authenticated
    def put(self, host: str, port: str | int, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(host, port, proxied_path)

    @web.authenticated
    def delete(self, host: str, port: str | int, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(host, port, proxied_path)

    @web.authenticated
    def head(self, host: str, port: str | int, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(host, port, proxied_path)

    @web.authenticated
    def patch(self, host: str, port: str | int, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(host, port, proxied_path)

    @web.authenticated
    def options(self, host: str, port: str | int, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(host, port, proxied_path)

    # -- request bodies, streamed ----------------------------------------------------------

    async def data_received(self, chunk: bytes) -> None:
        """Tornado calls this per body chunk *before* the method. We start the exchange at the
        first chunk by dispatching the method early, and awaiting the bounded queue pauses
        reading from the client while the backend is slower (backpressure)."""
        if self._body is None:
            body = self._body = BodyChannel(_BODY_QUEUE)
            method = getattr(self, (self.request.method or "post").lower())

            async def dispatch() -> None:
                await _maybe_await(method(*self.path_args, **self.path_kwargs))

            self._exchange = asyncio.ensure_future(dispatch())
            # Its outcome is collected by the method call tornado makes once the body is in;
            # if the client vanished first, nobody will, so don't let asyncio complain.
            self._exchange.add_done_callback(_consume_outcome)
            # Once the exchange is over (answered early, or failed) the rest is dropped.
            self._exchange.add_done_callback(lambda _: body.abandon())
        await self._body.put(chunk)

    # -- the proxy entry points ------------------------------------------------------------

    def _target(self, host: str, port: str | int) -> Target:
        """Authorize, then validate, a ``host:port`` target from the URL: a host outside the
        allowlist is 403 in any form (malformed, or with a bad port), as with 4.x; only an
        allowed target can be 404 for its syntax."""
        _allowed_by(self, host_key(str(host)))
        checked = parse_host(str(host))
        number = parse_port(port)
        return Target(host=checked, port=number)

    def _paths(self, proxied_path: str) -> tuple[str, str]:
        """(context path the client sees as the backend's root, raw proxied path)."""
        raw = raw_suffix(self.request.path, proxied_path or "")
        if raw and self.request.path.endswith(raw):
            context = self.request.path[: len(self.request.path) - len(raw)]
        elif not raw:
            context = self.request.path
        else:
            context = url_path_join(self.base_url, self.proxy_base or "proxy")
        return context.rstrip("/"), strip_fragment(raw)

    def _upstream_path(self, context: str, raw: str) -> str:
        if self.absolute_url:
            return context + (raw or "")
        return raw or "/"

    async def proxy(self, host: str, port: str | int, proxied_path: str) -> None:
        """Proxy this HTTP request to ``host:port`` + ``proxied_path`` (positional API)."""

        async def exchange() -> None:
            target = self._target(host, port)
            context, raw = self._paths(proxied_path)
            path = self._upstream_path(context, raw)
            await self._exchange_http(target, context, path, (host, port, proxied_path))

        await self._run_http(exchange)

    async def _run_http(self, exchange: Callable[[], Awaitable[None]]) -> None:
        """Run one HTTP exchange: authenticated, entered once, errors turned into pages."""
        if not self.current_user:
            raise web.HTTPError(403)
        if self._exchange is not None and asyncio.current_task() is not self._exchange:
            # The body has been fully received (tornado calls the method only then); the exchange
            # started at the first chunk. Signal the end of the body and wait for it.
            await self._finish_body()
            return
        # The exchange runs in this very task (a task of its own would cost as much as a tenth
        # of a small request).
        try:
            await self._while_client_waits(exchange)
        except ProxyError as e:
            self._write_proxy_error(e)

    async def _while_client_waits(self, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work`` in this task, as what a leaving client cancels (``on_connection_close``):
        the backend request or connection goes with it at once, not at ``read_timeout``.
        Returns False when the client left, before or during it: there is nothing to answer.
        The task itself goes on (it is tornado's request task), so a cancel of ours is undone."""
        if self._client_gone:  # it left while the request was authenticated: start nothing
            return False
        task = self._inner = asyncio.current_task()
        try:
            await work()
            return True
        except asyncio.CancelledError:
            if not self._client_gone:
                raise
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()
            return False
        finally:
            self._inner = None

    async def _finish_body(self) -> None:
        assert self._exchange is not None and self._body is not None
        self._body.end()
        await self._exchange

    def _record_activity(self) -> None:
        """Proxied traffic is user activity for JupyterHub's idle culler (read through
        jupyter_server's ``last_activity()``, which takes every ``*_last_activity`` setting)."""
        self.settings["api_last_activity"] = utcnow()

    def _should_record_activity(self) -> bool:
        return True

    # -- building the upstream request: 4.x's overridable methods ------------------------

    def get_request_headers_override(self) -> Mapping[str, str]:
        """Headers set on the upstream request over the client's (4.x API: "typically overridden
        in subclasses"; a named app returns its ``request_headers_override``). Called for every
        request, HTTP and websocket."""
        return {}

    def proxy_request_headers(self) -> HTTPHeaders:
        """The headers this request is sent upstream with (4.x API): the client's, without
        hop-by-hop fields and Jupyter's credentials, with the context-path headers and
        ``get_request_headers_override()``. A subclass may override it (and call ``super()``) to
        change what is sent; what it returns is held to the same rules
        (``core.headers.chosen_request_headers``)."""
        context, websocket = self._forwarding or (self._paths("")[0], self._is_upgrade)
        headers = HTTPHeaders()
        for name, value in self._upstream_headers(context, websocket=websocket):
            headers.add(name, value)
        return headers

    def proxy_request_options(self) -> dict[str, Any]:
        """Options of the upstream request (4.x API, where they were tornado ``HTTPRequest``
        arguments), with the values in force. A subclass may override it, typically to raise a
        timeout with ``super()``'s dict updated. Honoured for HTTP requests: ``connect_timeout``,
        and ``request_timeout`` as the longest silence of the backend (``read_timeout``);
        ``follow_redirects=False`` and ``decompress_response=False`` are what this client always
        does; any other key is ignored with a warning."""
        settings = self.engine.settings
        return {
            "follow_redirects": False,
            "connect_timeout": settings.connect_timeout,
            "request_timeout": settings.read_timeout,
        }

    def get_client_uri(self, protocol: str, host: str, port: str | int, proxied_path: str) -> str:
        """The upstream URL of this request (4.x API): ``protocol://host:port`` and the path the
        backend gets for ``proxied_path`` (behind the context path with ``absolute_url``), with
        the request's query; never ``request.uri``, which subclasses overwrite. A subclass may
        override it: the request then goes where the URL it returns says
        (``_target_of_client_uri``)."""
        known = self._client_path
        if known is not None and known[0] == proxied_path:
            path = known[1]  # the path being proxied, its raw bytes and mapping kept
        else:
            context, raw = self._paths(proxied_path)
            path = self._upstream_path(context, raw)
        url_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"{protocol}://{url_host}:{port}{self._upstream_uri(path)}"

    @property
    def _subclass_owner(self) -> str:
        return f"handler {type(self).__qualname__}"

    def _request_overrides(self) -> Mapping[str, str]:
        overrides = self.get_request_headers_override()
        if not overrides:
            return {}  # the common case
        return self._checked_headers(overrides, "get_request_headers_override()")

    def _checked_headers(self, headers: Any, what: str) -> dict[str, str]:
        """Header names must be strings; values strings or numbers (4.x wrote them with ``%s``).
        A field that would split the request is refused (RFC 9110 §5.5)."""
        expected = HookFailed(
            self._subclass_owner,
            f"its {what} returned {headers!r:.200}, expected a dict of strings",
        )
        if isinstance(headers, HTTPHeaders):
            items = list(headers.get_all())
        elif isinstance(headers, Mapping):
            items = list(headers.items())
        else:
            raise expected
        out: dict[str, str] = {}
        for name, value in items:
            if not isinstance(name, str) or not isinstance(value, (str, int, float)):
                raise expected
            try:
                check_field(name, str(value))
            except HeaderInjection as e:
                raise HookFailed(self._subclass_owner, f"its {what} returned {e}") from e
            out[name] = str(value)
        return out

    def _headers_to_send(self, context: str, *, websocket: bool) -> list[tuple[str, str]]:
        if "proxy_request_headers" not in _overridden(type(self)):
            return self._upstream_headers(context, websocket=websocket)
        self._forwarding = (context, websocket)
        chosen = self.proxy_request_headers()
        if isinstance(chosen, HTTPHeaders):
            items = [(n, v) for n, v in chosen.get_all()]
        elif isinstance(chosen, Mapping):
            items = list(chosen.items())
        else:
            raise HookFailed(
                self._subclass_owner,
                f"its proxy_request_headers() returned {chosen!r:.200}, expected headers",
            )
        token, cookie, by_header = self._identity
        try:
            return chosen_request_headers(
                [(str(n), str(v)) for n, v in items if str(n).lower() not in _REQUEST_DROP],
                server_token=token,
                login_cookie=cookie,
                header_authenticated=by_header,
                websocket=websocket,
            )
        except HeaderInjection as e:
            raise HookFailed(
                self._subclass_owner, f"its proxy_request_headers() returned {e}"
            ) from e

    def _request_timeouts(self) -> dict[str, float]:
        """The timeouts a subclass's ``proxy_request_options()`` sets for this request."""
        if "proxy_request_options" not in _overridden(type(self)):
            return {}
        options = self.proxy_request_options()
        if not isinstance(options, Mapping):
            raise HookFailed(
                self._subclass_owner,
                f"its proxy_request_options() returned {options!r:.200}, expected a dict",
            )
        out: dict[str, float] = {}
        for key, value in options.items():
            ours = _OPTION_TIMEOUTS.get(key)
            if ours is not None:
                if value is None:
                    continue  # tornado's "the default"
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise HookFailed(
                        self._subclass_owner,
                        f"its proxy_request_options() gave {key}={value!r:.100}, "
                        "expected seconds >= 0",
                    )
                out[ours] = float(value)
            elif key not in _OPTIONS_AS_WE_DO or _OPTIONS_AS_WE_DO[key] != value:
                self._warn_ignored_option(str(key), value)
        return out

    def _warn_ignored_option(self, key: str, value: object) -> None:
        seen = (type(self), key)
        if seen in _warned_options:
            return
        _warned_options.add(seen)
        self.log.warning(
            "%s: proxy_request_options() key %s=%r is ignored: this proxy honours only "
            "connect_timeout and request_timeout (see ProxyHandler.proxy_request_options)",
            self._subclass_owner,
            key,
            value,
        )

    def _where_to(
        self,
        protocol: str,
        target: Target,
        path: str,
        asked: tuple[str, str | int, str],
    ) -> tuple[Target, str]:
        """(target, request-target) of the upstream request: ours, or what a subclass's
        ``get_client_uri`` says. ``asked`` is what 4.x handed it: (host, port, proxied path)."""
        if "get_client_uri" not in _overridden(type(self)):
            return target, self._upstream_uri(path)
        host, port, proxied_path = asked
        self._client_path = (proxied_path, path)
        try:
            uri = self.get_client_uri(protocol, host, port, proxied_path)
        finally:
            self._client_path = None
        return self._target_of_client_uri(uri, target, (str(host), str(port)))

    def _target_of_client_uri(
        self, uri: Any, target: Target, asked: tuple[str, str]
    ) -> tuple[Target, str]:
        """Where a subclass's URL points. Its path and query are the request-target (anything
        that could split the request line percent-encoded, the fragment dropped). Its host and
        port, if they differ from the ``asked`` ones the method was handed, are the target, as
        they were for 4.x's client (but not for a unix socket, which 4.x's resolver also used
        whatever the URL said); the same ones keep our target (a named app's is an address, its
        ``asked`` host ``localhost``). The scheme must be plain HTTP or ws: this proxy does not
        speak TLS to backends."""

        def bad(why: str) -> HookFailed:
            return HookFailed(
                self._subclass_owner, f"its get_client_uri() returned {uri!r:.200}: {why}"
            )

        if not isinstance(uri, str):
            raise bad("expected a URL string")
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError as e:
            raise bad(str(e)) from e
        if parts.scheme.lower() not in ("http", "ws"):
            raise bad("backends are reached over plain http:// or ws://")
        request_target = quote(parts.path or "/", safe=_TARGET_SAFE)
        if parts.query:
            request_target += "?" + quote(parts.query, safe=_TARGET_SAFE)
        if target.unix_socket or not parts.hostname:
            return target, request_target
        try:
            host = parse_host(parts.hostname)
        except BadTarget as e:
            raise bad(e.message) from e
        port = port or 80
        if (host_key(host), str(port)) != (host_key(asked[0]), asked[1]):
            target = Target(host=host, port=port)
        return target, request_target

    @functools.cached_property
    def _identity(self) -> tuple[str | None, str | None, bool]:
        """(server token, login cookie name, authenticated by an Authorization header)."""
        provider = self.settings.get("identity_provider")
        if provider is None:
            return None, None, False
        token = getattr(provider, "token", None) or None
        try:
            cookie = provider.get_cookie_name(self)
        except Exception:  # an identity provider of JupyterHub's may not have one
            cookie = None
        by_header = bool(
            self.request.headers.get("Authorization")
            and getattr(provider, "is_token_authenticated", lambda h: False)(self)
            and "token" not in self.request.query_arguments
        )
        return token, cookie, by_header

    def _upstream_headers(self, context: str, *, websocket: bool = False) -> list[tuple[str, str]]:
        token, cookie, by_header = self._identity
        items = [
            (n, v) for n, v in self.request.headers.get_all() if n.lower() not in _REQUEST_DROP
        ]
        return upstream_request_headers(
            items,
            context_path=None if self.absolute_url else context,
            server_token=token,
            login_cookie=cookie,
            header_authenticated=by_header,
            overrides=self._request_overrides(),
            websocket=websocket,
        )

    def _upstream_uri(self, path: str) -> str:
        token, _, _ = self._identity
        query = upstream_query(self.request.path, self.request.query)
        query = strip_token_query(strip_token_query(query, token), self._hub_token)
        return upstream_target_uri(path, query)

    @functools.cached_property
    def _hub_token(self) -> str | None:
        """Under JupyterHub, the user's own Hub token when this request carries one in its query
        (``?token=``, how a websocket authenticates to a single-user server): a credential of
        Jupyter's like the server's token, so it is not forwarded either."""
        hub_auth = getattr(self.settings.get("identity_provider"), "hub_auth", None)
        if hub_auth is None or "token" not in self.request.query_arguments:
            return None
        try:
            return str(hub_auth.get_token(self, in_cookie=False) or "") or None
        except Exception:  # a Hub auth of another shape: the server's token rule still holds
            return None

    async def _exchange_http(
        self, target: Target, context: str, path: str, asked: tuple[str, str | int, str]
    ) -> None:
        """Proxy this request to ``target`` + ``path``. ``asked`` is what the 4.x methods get
        for it: (host, port, proxied path)."""
        if self._should_record_activity():
            self._record_activity()
        method = self.request.method or "GET"
        headers = self._headers_to_send(context, websocket=False)
        upstream, target_uri = self._where_to("http", target, path, asked)
        timeouts = self._request_timeouts()
        body: AsyncIterator[bytes] | bytes | None
        if self._body is not None:
            body = aiter(self._body)
        elif method in _NO_BODY_METHODS and "Content-Length" not in self.request.headers:
            body = None
        else:
            body = self.request.body or b""
        response = await self.engine.upstream.request(
            method, upstream, target_uri, headers, body, **timeouts
        )
        try:
            await self._relay_response(response, target, context, path)
        finally:
            response.release()  # back to the pool if the exchange completed, else closed

    def _rewrite_locations(
        self, headers: list[tuple[str, str]], target: Target, context: str
    ) -> list[tuple[str, str]]:
        if not any(n.title() in _LOCATION_HEADERS for n, _ in headers):
            return headers  # the common case: nothing to rewrite
        authorities = backend_authorities(target.host, target.port, self.request.host)
        out = []
        for name, value in headers:
            if name.title() in _LOCATION_HEADERS:
                value = rewrite_location(
                    value,
                    prefix=context,
                    backend_authorities=authorities,
                    absolute_url=self.absolute_url,
                )
            out.append((name, value))
        return out

    async def _relay_response(
        self, response: Response, target: Target, context: str, path: str
    ) -> None:
        try:
            headers = downstream_response_headers(response.headers, status=response.status)
        except HeaderInjection as e:
            raise UpstreamUnavailable(f"the backend sent an invalid header: {e}") from e
        hooks = self._rewrite_hooks()
        if hooks:
            await self._relay_rewritten(response, headers, hooks, target, context, path)
            return
        headers = self._rewrite_locations(headers, target, context)
        self._start_response(response.status, response.reason, headers)
        if self.request.method == "HEAD" or response.status in (204, 304):
            await self._finish_quietly()
            return
        length = response.content_length
        try:
            if length is not None and length <= _SMALL_BODY:
                # Small and announced: one write with the head. Nothing is sent yet, so a
                # backend that breaks off still gets the client an error page.
                too_big = f"{target.where} sent more than its Content-Length"
                body = await self._read_whole(response, length, too_big)
                self.write(body)
            else:
                await response.stream_to(self._send_chunk)
        except StreamClosedError:
            self._client_gone = True
            return  # the client left; the caller's ``release()`` closes the backend connection
        except BodyBroken as e:
            if not self._headers_written:  # nothing reached the client: it can get the cause
                raise e.error from e
            # The status is already sent, so the only honest signal left is to abort the
            # client connection instead of ending the body cleanly.
            self.log.warning("%s, proxying %s", e, self.request.path)
            self._abort_client()
            return
        await self._finish_quietly()

    async def _read_whole(self, response: Response, limit: int, too_big: str) -> bytes:
        """The whole body, for a response not yet started: a backend that breaks off gets the
        client an error page."""
        try:
            return await response.read_all(limit, too_big)
        except BodyBroken as e:
            raise e.error from e

    def _send_chunk(self, chunk: bytes) -> Awaitable[None] | None:
        """One read of the backend's body to the client. Returns what to wait for before
        reading more (backpressure), or None.

        One flush is in flight at a time (tornado resolves only the future of its latest
        write). While it is, reads are kept in the handler's buffer, up to ``_AHEAD`` bytes,
        and go out as soon as it completes: the backend keeps sending while the client drains,
        instead of the two taking turns, and a held event of a stream is never left waiting
        for the next one."""
        self.write(chunk)
        flushing = self._flushing
        if flushing is not None and not flushing.done():
            self._held += len(chunk)
            return flushing if self._held >= _AHEAD else None
        self._flush_held()
        return None

    def _flush_held(self) -> None:
        if self._flushing is not None:
            self._flushing.result()  # raises StreamClosedError once the client is gone
        self._held = 0
        self._flushing = self.flush()
        self._flushing.add_done_callback(self._flushed)

    def _flushed(self, future: asyncio.Future[None]) -> None:
        if future is self._flushing and self._held and not self._finished:
            try:
                self._flush_held()
            except StreamClosedError:
                pass  # the client left: the next read, or the end of the body, sees it

    def _rewrite_hooks(self) -> tuple[Callable[..., Any], ...]:
        hooks = self.rewrite_response
        # Subclasses set the attribute themselves, as with 4.x: one callable, or a list.
        return (hooks,) if callable(hooks) else tuple(hooks)

    #: Whose ``rewrite_response`` hooks these are, for an error that names them.
    _hooks_owner = ("c.ServerProxy", "non_service_rewrite_response")

    def _hook_target(self, target: Target) -> tuple[str, Any]:
        """``host`` and ``port`` for ``rewrite_response`` hooks, as the peer gives them: the host
        of the URL (``localhost`` for ``/proxy/<port>/``) and the port as the URL spells it."""
        return target.host, str(target.port) if target.port is not None else 0

    async def _relay_rewritten(
        self,
        response: Response,
        headers: list[tuple[str, str]],
        hooks: Sequence[Callable[..., Any]],
        target: Target,
        context: str,
        path: str,
    ) -> None:
        limit = self.engine.settings.rewrite_buffer_limit
        too_big = (
            f"the response is larger than c.ServerProxy.rewrite_buffer_limit "
            f"({limit} bytes), which a rewrite_response hook needs to hold in memory"
        )
        body = await self._read_whole(response, limit, too_big)
        rewritable = RewritableResponse.from_parts(
            code=response.status,
            reason=response.reason,
            headers=headers,
            body=body,
            request=self.request,
            url=str(response.url),
        )
        host, port = self._hook_target(target)
        # The peer's ``path`` is the path after the route's prefix, also where the backend
        # gets the full path (absolute_url).
        if self.absolute_url and path.startswith(context):
            path = path[len(context) :] or "/"
        owner, key = self._hooks_owner
        run_rewrite_hooks(
            hooks,
            rewritable,
            {"request": self.request, "host": host, "port": port, "path": path},
            owner=owner,
            key=key,
        )
        new_headers = self._rewrite_locations(
            [(n, v) for n, v in rewritable.headers.get_all() if n.lower() != "content-length"],
            target,
            context,
        )
        self._start_response(rewritable.code, rewritable.reason, new_headers)
        if self.request.method != "HEAD" and rewritable.code not in (204, 304):
            self.write(rewritable.body)
        await self._finish_quietly()

    def _start_response(
        self, status: int, reason: str | None, headers: list[tuple[str, str]]
    ) -> None:
        self.set_status(status, reason or responses.get(status, "Unknown"))
        # Tornado and Jupyter add defaults (Content-Type, Server, CSP, ...). A backend's own
        # field replaces ours of the same name; repeated backend fields all survive.
        for name in {n for n, _ in headers}:
            self.clear_header(name)
        if not any(n.lower() == "content-type" for n, _ in headers):
            self.clear_header("Content-Type")
        for name, value in headers:
            self.add_header(name, value)

    async def _finish_quietly(self) -> None:
        try:
            await self.finish()
        except StreamClosedError:
            self._client_gone = True

    def _abort_client(self) -> None:
        if self.request.connection is not None and hasattr(self.request.connection, "stream"):
            stream = self.request.connection.stream
            if stream is not None:
                stream.close()
        self._finished = True

    def _write_proxy_error(self, error: ProxyError) -> None:
        """The one place a ``ProxyError`` becomes an HTTP response (escaped, cause named)."""
        if self._finished or self._client_gone:
            return
        if self._headers_written:
            self._abort_client()
            return
        self.log.warning("proxy %s: %s", self.request.path, error.message)
        self.clear()
        write_error_answer(self, error)

    def on_finish(self) -> None:
        if self._read_size_before is not None:
            stream, size = self._read_size_before
            stream.read_chunk_size = size  # the connection's next requests read as before
        super().on_finish()

    def on_connection_close(self) -> None:
        """The client went away: cancel whatever waits for the backend and free it."""
        self._client_gone = True
        # Taken, so that tornado's ``on_close`` which follows does not cancel it a second time
        # (a task cancelled twice would not be uncancelled by the one ``uncancel``).
        inner, self._inner = self._inner, None
        if inner is not None and not inner.done():
            inner.cancel()
        super().on_connection_close()

    # -- websockets ------------------------------------------------------------------------

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
        if self._ws_phase is _WsPhase.ACCEPTING:
            self._ws_phase = _WsPhase.OPEN
            assert self._ws_bridge is not None
            self._ws_bridge.start(self)
            return
        if self._ws_phase is not _WsPhase.CONNECTING:
            return
        if not self.current_user:
            raise web.HTTPError(403)
        # A client that gives up while the backend is connected or its handshake is read
        # releases the backend connection at once.
        try:
            if not await self._while_client_waits(connect):
                self._ws_phase = _WsPhase.CLOSED
        except ProxyError as e:
            self._ws_phase = _WsPhase.CLOSED
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
        self._ws_phase = _WsPhase.OPEN
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
        self._ws_phase = _WsPhase.ACCEPTING
        try:
            await WebSocketHandler.get(self, *self.path_args, **self.path_kwargs)
        finally:
            if self._ws_phase is not _WsPhase.OPEN:
                # tornado refused the client (bad handshake): let the backend go too.
                bridge.close_backend()
            self._ws_phase = _WsPhase.CLOSED

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


class LocalProxyHandler(ProxyHandler):
    """``/proxy/<port>/...``: a port on this machine (``localhost``)."""

    async def http_get(self, port: str, proxied_path: str = "") -> None:  # type: ignore[override]
        await self.proxy(port, proxied_path)

    async def open(self, port: str, proxied_path: str = "") -> None:  # type: ignore[override]
        await self.proxy_open("localhost", port, proxied_path)

    def post(self, port: str, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(port, proxied_path)

    def put(self, port: str, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(port, proxied_path)

    def delete(self, port: str, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(port, proxied_path)

    def head(self, port: str, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(port, proxied_path)

    def patch(self, port: str, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(port, proxied_path)

    def options(self, port: str, proxied_path: str = "") -> Awaitable[None]:
        return self.proxy(port, proxied_path)

    def proxy(self, port: str, proxied_path: str) -> Awaitable[None]:  # type: ignore[override]
        return super().proxy("localhost", port, proxied_path)


class RemoteProxyHandler(ProxyHandler):
    """``/proxy/<host>:<port>/...``: a host that passes ``c.ServerProxy.host_allowlist``."""

    async def http_get(self, host: str, port: str, proxied_path: str = "") -> None:  # type: ignore[override]
        await self.proxy(host, port, proxied_path)

    async def open(self, host: str, port: str, proxied_path: str = "") -> None:  # type: ignore[override]
        await self.proxy_open(host, port, proxied_path)

    def proxy(self, host: str, port: str, proxied_path: str) -> Awaitable[None]:  # type: ignore[override]
        return super().proxy(host, port, proxied_path)


class NamedLocalProxyHandler(LocalProxyHandler):
    """A fixed local port (or unix socket) under a prefix of its own, for an app that something
    other than this proxy started (4.x API; trame-jupyter-extension subclasses it).

    Subclasses set, in ``__init__`` after ``super().__init__``: ``port``, ``mappath`` (a dict
    of path -> path, or ``callable(path)`` returning the path, which may carry a query),
    ``proxy_base`` (the prefix under ``base_url``: the context path the app is told), and
    optionally ``unix_socket`` (a socket path, used instead of the port), ``absolute_url`` and
    ``rewrite_response``. The route captures one argument, the path after the prefix; methods
    take it alone, and ``proxy(port, path)`` keeps 4.x's two-argument form. ``mappath``
    applies to websockets too, as for the named apps this proxy starts."""

    port: int = 0
    mappath: Mapping[str, str] | Callable[..., Any] = {}  # 4.x: a class default, never mutated
    unix_socket: str | None = None

    async def http_get(self, path: str = "") -> None:  # type: ignore[override]
        await self.proxy(self.port, path)

    async def open(self, path: str = "") -> None:  # type: ignore[override]
        async def connect() -> None:
            target, context, upstream, asked = self._named_target(self.port, path)
            await self._open_websocket(target, context, upstream, asked)

        await self._run_open(connect)

    def _by_path(self, path: str = "") -> Awaitable[None]:
        return self.proxy(self.port, path)

    # Every other method takes the one path argument too (tornado finds them by name).
    post = put = delete = head = patch = options = _by_path  # type: ignore[assignment]

    async def proxy(self, port: str | int, proxied_path: str) -> None:  # type: ignore[override]
        async def exchange() -> None:
            target, context, upstream, asked = self._named_target(port, proxied_path)
            await self._exchange_http(target, context, upstream, asked)

        await self._run_http(exchange)

    def _named_target(
        self, port: str | int, proxied_path: str
    ) -> tuple[Target, str, str, tuple[str, str | int, str]]:
        """(target, context path, path the app gets, what ``get_client_uri`` is handed)."""
        if self.unix_socket:
            _allowed_by(self, "localhost")
            target = Target(host="localhost", unix_socket=self.unix_socket)
        else:
            target = self._target("localhost", port)
        path = proxied_path if proxied_path.startswith("/") else "/" + proxied_path
        context, raw = self._paths(path)
        if self.proxy_base:
            context = url_path_join(self.base_url, self.proxy_base).rstrip("/")
        mapped = self._mapped(raw or "/")
        upstream = context + mapped if self.absolute_url else mapped
        return target, context, upstream, ("localhost", port, unquote(mapped))

    def _mapped(self, raw: str) -> str:
        mappath = self.mappath
        if callable(mappath):
            owner = self._subclass_owner
            return str(call_hook(mappath, {"path": raw}, owner=owner, key="mappath"))
        return mappath.get(raw, raw)


class AddSlashHandler(JupyterHandler):
    """``/<name>`` -> ``/<name>/``, keeping the query string."""

    @web.authenticated
    def get(self, *args: Any) -> None:
        src = urlsplit(self.request.uri or "/")
        self.redirect(urlunsplit(src._replace(path=src.path + "/")))


@functools.cache
def _accepts_redirect_flag() -> bool:
    """jupyter_server >= 2.13 lets ``prepare`` answer 403 instead of redirecting to login."""
    return "_redirect_to_login" in inspect.signature(JupyterHandler.prepare).parameters


def _stream_bodies_of_any_size(request: Any) -> tuple[Any, int] | None:
    """Bodies are streamed, never held, so the server's ``max_body_size`` (Jupyter: 512 MiB),
    which protects handlers that buffer, does not apply: lift it for this request (tornado allows
    this for streaming handlers before the body is read).

    For a request that has a body, also let tornado read the socket and hand us the body in
    chunks of up to ``_BODY_CHUNK`` rather than 64 KiB: fewer, larger chunks make uploads much
    cheaper. Only this connection's own copy of the parameters changes; memory stays bounded by
    ``_BODY_QUEUE`` chunks. Returns (stream, its read size before) so the handler can put it back
    when the request ends: tornado allocates and zeroes a buffer of that size for *every* read
    of the connection, which a keep-alive connection's later small requests must not pay."""
    connection = getattr(request, "connection", None)
    if connection is not None and hasattr(connection, "set_max_body_size"):
        connection.set_max_body_size(_NO_LIMIT)
    headers = request.headers
    if "Transfer-Encoding" not in headers and headers.get("Content-Length", "0") == "0":
        return None  # no body (RFC 9112 §6.3): nothing to read in bulk
    params = getattr(connection, "params", None)
    if params is not None and getattr(params, "chunk_size", _BODY_CHUNK) < _BODY_CHUNK:
        params = copy.copy(params)
        params.chunk_size = _BODY_CHUNK
        connection.params = params  # type: ignore[union-attr]
    stream = getattr(connection, "stream", None)
    before = getattr(stream, "read_chunk_size", _BODY_CHUNK)
    if before >= _BODY_CHUNK:
        return None
    stream.read_chunk_size = _BODY_CHUNK  # type: ignore[union-attr]
    return stream, before


def _wants_json(handler: web.RequestHandler) -> bool:
    headers = handler.request.headers
    return wants_json(headers.get("Accept"), headers.get("Authorization"))


def write_error_answer(handler: web.RequestHandler, error: ProxyError) -> None:
    """The one way a ``ProxyError`` becomes an answer, for every route of ours: the page for a
    browser, the same fields as JSON for an API client (``wants_json``)."""
    handler.set_status(error.status)
    if _wants_json(handler):
        handler.set_header("Content-Type", "application/json")
        handler.finish(json_text(error_json(error)))
    else:
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        handler.finish(error_html(error))


#: Per class, which of ``_OVERRIDABLE`` it overrides (classes are few and live as long as the app).
_overrides_of: dict[type, frozenset[str]] = {}


def _overridden(cls: type[ProxyHandler]) -> frozenset[str]:
    """Which of 4.x's request-building methods ``cls`` overrides (looked up once per class)."""
    found = _overrides_of.get(cls)
    if found is None:
        found = _overrides_of[cls] = frozenset(
            name for name in _OVERRIDABLE if getattr(cls, name) is not getattr(ProxyHandler, name)
        )
    return found


def _ignore() -> None:
    """Activity of a websocket whose app does not count its traffic."""


def _consume_outcome(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def __getattr__(name: str) -> Any:
    # The named-app handler lives in named.py (it builds on ProxyHandler); it is importable from
    # here, as with the peer, without a circular import at load time.
    if name == "SuperviseAndProxyHandler":
        from .named import SuperviseAndProxyHandler

        return SuperviseAndProxyHandler
    raise AttributeError(name)

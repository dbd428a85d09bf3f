"""Building the upstream request: 4.x's overridable methods, and the rules they are held to.

4.x subclasses (dask's, plugins') override ``get_request_headers_override``,
``proxy_request_headers``, ``proxy_request_options`` and ``get_client_uri`` to change what goes to
the backend, and call them with ``super()``. All four are honoured. Whether a class overrides the
last three is looked up once per class (``_overridden``): a class that overrides none builds the
request with our own rules and pays one cached lookup. What an override returns is checked in
``overrides.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from tornado.httputil import HTTPHeaders

from ..core.headers import (
    HeaderInjection,
    chosen_request_headers,
    client_request_fields,
    strip_token_query,
    upstream_request_headers,
)
from ..core.hooks import HookFailed
from ..core.routing import Target, upstream_query, upstream_target_uri
from .handlerbase import HandlerBase
from .overrides import checked_headers, header_items, request_timeouts, target_of_client_uri

#: 4.x methods whose override changes how the upstream request is built (see ``_overridden``).
_OVERRIDABLE = ("proxy_request_headers", "proxy_request_options", "get_client_uri")
#: (class, key) of the ``proxy_request_options()`` keys warned about as ignored: once each.
_warned_options: set[tuple[type, str]] = set()


class UpstreamRequests(HandlerBase):
    """The request a proxy handler sends upstream: headers, timeouts and URL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: (context path, websocket?) of the request being built, for ``proxy_request_headers``.
        self._forwarding: tuple[str, bool] | None = None
        #: (the ``proxied_path`` handed to ``get_client_uri``, the path our own rules give it).
        self._client_path: tuple[str, str] | None = None
        super().__init__(*args, **kwargs)

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
        (``overrides.target_of_client_uri``)."""
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

    def _headers_to_send(self, context: str, *, websocket: bool) -> list[tuple[str, str]]:
        if "proxy_request_headers" not in _overridden(type(self)):
            return self._upstream_headers(context, websocket=websocket)
        self._forwarding = (context, websocket)
        chosen = self.proxy_request_headers()
        items = header_items(chosen)
        if items is None:
            raise HookFailed(
                self._subclass_owner,
                f"its proxy_request_headers() returned {chosen!r:.200}, expected headers",
            )
        token, cookie, by_header = self._identity
        try:
            return chosen_request_headers(
                client_request_fields((str(n), str(v)) for n, v in items),
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
        return request_timeouts(options, self._subclass_owner, self._warn_ignored_option)

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
        self, protocol: str, target: Target, path: str, asked: tuple[str, str | int, str]
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
        return target_of_client_uri(uri, target, (str(host), str(port)), self._subclass_owner)

    def _request_overrides(self) -> Mapping[str, str]:
        overrides = self.get_request_headers_override()
        if not overrides:
            return {}  # the common case
        return checked_headers(overrides, "get_request_headers_override()", self._subclass_owner)

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
        return upstream_request_headers(
            client_request_fields(self.request.headers.get_all()),
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


#: Per class, which of ``_OVERRIDABLE`` it overrides (classes are few and live as long as the app).
_overrides_of: dict[type, frozenset[str]] = {}


def _overridden(cls: type[UpstreamRequests]) -> frozenset[str]:
    """Which of 4.x's request-building methods ``cls`` overrides (looked up once per class)."""
    found = _overrides_of.get(cls)
    if found is None:
        found = _overrides_of[cls] = frozenset(
            name
            for name in _OVERRIDABLE
            if getattr(cls, name) is not getattr(UpstreamRequests, name)
        )
    return found

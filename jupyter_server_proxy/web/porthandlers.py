"""The handlers of ``/proxy/<port>/``, ``/proxy/<host>:<port>/`` and a fixed port under a prefix
(4.x's ``NamedLocalProxyHandler``), and the answer to a ``/proxy/`` URL that names no target.
4.x code imports them from ``jupyter_server_proxy.handlers``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..core.errors import BadTarget
from ..core.hooks import call_hook
from ..core.routing import Target
from .error_answers import write_error_answer, write_http_error
from .handlerbase import allowed_by
from .proxyhandler import ProxyHandler


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
            allowed_by(self, "localhost")
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


class BadTargetHandler(JupyterHandler):
    """``/proxy/<anything else>``: say what a proxy target looks like, instead of a bare 404."""

    def _explain(self, what: str) -> None:
        error = BadTarget(
            f"{what!r} is not a proxy target: use /proxy/<port>/, /proxy/<host>:<port>/, "
            "or the same under /proxy/absolute/"
        )
        write_error_answer(self, error)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_http_error(self, status_code, **kwargs)

    @web.authenticated
    def get(self, what: str) -> None:
        self._explain(what)

    post = put = delete = patch = options = head = get

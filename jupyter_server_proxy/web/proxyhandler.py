"""``ProxyHandler``: the base of every proxy route, and a public API (dask's ``distributed`` and
``dask-labextension`` subclass it; ``handlers.py`` is where they import it from).

What subclasses rely on (kept deliberately):

- It is both a tornado ``WebSocketHandler`` and a jupyter_server ``JupyterHandler``, and works in
  a plain ``tornado.web.Application`` without Jupyter's settings.
- Subclasses replace ``initialize``, ``prepare`` and ``get_current_user`` without calling
  ``super()``; so per-instance state is set in ``__init__`` and nothing depends on our ``prepare``.
- ``proxy(host, port, proxied_path)`` and ``proxy_open(host, port, proxied_path="")`` keep their
  positional signatures (``port`` may be a string). Subclasses override ``proxy`` with two
  arguments, so this class never calls ``self.proxy`` itself: ``get`` goes to ``http_get`` (or
  ``open`` for an upgrade) and the other methods to ``post``/``put``/..., which subclasses map.
- The upstream URL comes from ``(host, port, proxied_path)`` and the query, never ``request.uri``.
- 4.x's request-building methods stay overridable and are honoured (``requesting.py``).

This class dispatches and hands the HTTP exchange to ``exchange.py``; its bases hold the rest
(``handlerbase.py`` says how). Data flows one way: route arguments -> target -> upstream
exchange -> client.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from tornado import web

from ..core.errors import ProxyError
from ..core.routing import Target
from . import tornadocompat
from .exchange import ResponsePlan, ResponseRelay, RewritePlan, Upload
from .handlerbase import TornadoClient
from .websocket_handler import WebSocketBridging, WsPhase

_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


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
            result = http(self, *args, **kwargs)
            if result is not None:  # tornado's decorator returns what ``get`` returns, or None
                await result
            return
        if self._upgrade_refusal is not None:
            raise self._upgrade_refusal
        if not self.current_user:
            raise web.HTTPError(403)
        await method(self, *args, **kwargs)

    tornadocompat.mark_authenticating(wrapper)
    return wrapper


@web.stream_request_body
class ProxyHandler(WebSocketBridging):
    """Proxy HTTP and websockets to ``host:port``; the base of every proxy route."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._upload: Upload | None = None
        super().__init__(*args, **kwargs)

    # -- dispatch: every method funnels into the subclass-overridable names -----------------

    @_authenticated_or_upgrade_refused
    async def get(self, *args: Any, **kwargs: Any) -> None:
        # A subclass's ``open``/``http_get`` may be a plain function: awaited only when they
        # return an awaitable (inline, not through a helper: this runs for every request).
        if self._is_upgrade:
            self._ws_phase = WsPhase.CONNECTING
            result = self.open(*args, **kwargs)
        else:
            result = self.http_get(*args, **kwargs)
        if inspect.isawaitable(result):
            await result

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

    async def data_received(self, chunk: bytes) -> None:
        """Tornado calls this per body chunk *before* the method. The exchange starts at the
        first chunk by dispatching the method early (``exchange.Upload``)."""
        if self._upload is None:
            method = getattr(self, (self.request.method or "post").lower())
            self._upload = Upload(lambda: maybe_await(method(*self.path_args, **self.path_kwargs)))
        await self._upload.put(chunk)

    # -- HTTP ------------------------------------------------------------------------------

    async def proxy(self, host: str, port: str | int, proxied_path: str) -> None:
        """Proxy this HTTP request to ``host:port`` + ``proxied_path`` (positional API)."""

        async def exchange() -> None:
            target = self._target(host, port)
            context, raw = self._paths(proxied_path)
            path = self._upstream_path(context, raw)
            await self._exchange_http(target, context, path, (host, port, proxied_path))

        await self._run_http(exchange)

    async def _run_http(self, exchange: Callable[[], Awaitable[None]]) -> None:
        """Run one HTTP exchange: authenticated, entered once, errors turned into answers."""
        if not self.current_user:
            raise web.HTTPError(403)
        upload = self._upload
        if upload is not None and not upload.runs_here():
            # The body has been fully received (tornado calls the method only then); the
            # exchange started at the first chunk. Signal the end of the body and wait for it.
            await upload.finish()
            return
        # The exchange runs in this very task (a task of its own would cost as much as a tenth
        # of a small request).
        try:
            await self._while_client_waits(exchange)
        except ProxyError as e:
            self._write_proxy_error(e)

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
        if self._upload is not None:
            body = self._upload.body()
        elif method in _NO_BODY_METHODS and "Content-Length" not in self.request.headers:
            body = None
        else:
            body = self.request.body or b""
        response = await self.engine.upstream.request(
            method, upstream, target_uri, headers, body, **timeouts
        )
        plan = ResponsePlan(
            method=method,
            target=target,
            context=context,
            absolute_url=self.absolute_url,
            client_host=self.request.host,
            request_path=self.request.path,
            rewrite=self._rewrite_plan(target, context, path),
        )
        try:
            # The writer is made here, not kept on the handler: a handler that referred to it
            # and back would be a reference cycle, left for the garbage collector to free with
            # its request, connection and headers, on every request.
            relay = ResponseRelay(TornadoClient(self), self._client_watch, lambda: self.log)
            await relay.relay(response, plan)
        finally:
            response.release()  # back to the pool if the exchange completed, else closed

    #: Whose ``rewrite_response`` hooks these are, for an error that names them.
    _hooks_owner = ("c.ServerProxy", "non_service_rewrite_response")

    def _rewrite_plan(self, target: Target, context: str, path: str) -> RewritePlan | None:
        hooks = self.rewrite_response
        # Subclasses set the attribute themselves, as with 4.x: one callable, or a list.
        hooks = (hooks,) if callable(hooks) else tuple(hooks)
        if not hooks:
            return None
        host, port = self._hook_target(target)
        # The peer's ``path`` is the path after the route's prefix, also where the backend
        # gets the full path (absolute_url).
        if self.absolute_url and path.startswith(context):
            path = path[len(context) :] or "/"
        owner, key = self._hooks_owner
        limit = self.engine.settings.rewrite_buffer_limit
        return RewritePlan(hooks, limit, self.request, host, port, path, owner, key)

    def _hook_target(self, target: Target) -> tuple[str, Any]:
        """``host`` and ``port`` for ``rewrite_response`` hooks, as the peer gives them: the host
        of the URL (``localhost`` for ``/proxy/<port>/``) and the port as the URL spells it."""
        return target.host, str(target.port) if target.port is not None else 0


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value

"""The framework side of ``ProxyHandler``: per-request state, Jupyter's plumbing, targets, and
the client's connection as the HTTP exchange writes to it.

``ProxyHandler`` is built in layers, each a module with one concern, each a base of the next:
``HandlerBase`` (here) -> ``UpstreamRequests`` (``requesting.py``: the 4.x request-building
methods) -> ``WebSocketBridging`` (``websocket_handler.py``) -> ``ProxyHandler``
(``proxyhandler.py``: dispatch and the HTTP exchange). Subclasses replace ``initialize``,
``prepare`` and ``get_current_user`` without calling ``super()``, so every layer's state is set
in ``__init__`` and nothing depends on our ``prepare`` having run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from http.client import responses
from typing import Any, cast

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketHandler

from ..core.allowlist import allowlist_of, is_name
from ..core.errors import HostNotAllowed, ProxyError
from ..core.headers import is_websocket_upgrade
from ..core.hooks import hook_failed
from ..core.routing import (
    Target,
    host_key,
    parse_host,
    parse_port,
    raw_suffix,
    strip_fragment,
)
from ..core.tls import tls_for
from ..core.wshandshake import same_origin
from ..relay.engine import Engine
from . import tornadocompat
from .error_answers import write_error_answer, write_http_error
from .exchange import BODY_CHUNK, ClientWatch
from .settings import engine_for

#: A request body of any size may be streamed (see ``tornadocompat.stream_bodies_of_any_size``).
_NO_LIMIT = 1 << 62


class TornadoClient:
    """The client's connection as the HTTP exchange writes to it (``exchange.ClientWriter``).

    An adapter rather than methods of the handler: 4.x subclasses own the handler's namespace,
    and a new public method there could clash with one of theirs."""

    client_gone_errors: tuple[type[BaseException], ...] = (StreamClosedError,)

    def __init__(self, handler: web.RequestHandler) -> None:
        self.handler = handler

    def start_response(
        self, status: int, reason: str | None, headers: list[tuple[str, str]]
    ) -> None:
        handler = self.handler
        handler.set_status(status, reason or responses.get(status, "Unknown"))
        # Tornado and Jupyter add defaults (Content-Type, Server, CSP, ...). A backend's own
        # field replaces ours of the same name; repeated backend fields all survive.
        names = {n for n, _ in headers}
        for name in names:
            handler.clear_header(name)
        if "content-type" not in {n.lower() for n in names}:
            handler.clear_header("Content-Type")
        for name, value in headers:
            handler.add_header(name, value)

    def write(self, chunk: bytes) -> None:
        self.handler.write(chunk)

    def flush(self) -> asyncio.Future[None]:
        return self.handler.flush()

    def finish(self) -> Awaitable[None]:
        return self.handler.finish()

    def abort(self) -> None:
        tornadocompat.abort_client(self.handler)

    def headers_sent(self) -> bool:
        return tornadocompat.headers_written(self.handler)

    def finished(self) -> bool:
        return tornadocompat.is_finished(self.handler)


def allowed_by(
    handler: HandlerBase, host: str, port: str | int | None = None
) -> Callable[[str], bool] | None:
    """Raise ``HostNotAllowed`` unless ``host`` (with ``port``) passes the handler's
    ``host_allowlist``. ``None``: allowed as written; else a name that network entries may
    allow by the address it resolves to, which the returned check decides when connecting."""
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
        return None
    rules = allowlist_of(allow)
    if rules.allows(host, port):
        return None
    if rules.may_resolve_into(port) and is_name(host):
        return functools.partial(rules.allows_address, port=port)
    raise HostNotAllowed(f"host {host!r} is not in c.ServerProxy.host_allowlist")


class HandlerBase(WebSocketHandler, JupyterHandler):
    """State and plumbing every proxy handler shares."""

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
        self._client_watch = ClientWatch()
        #: A refusal ``prepare`` met for a websocket upgrade, given by ``get`` instead.
        self._upgrade_refusal: web.HTTPError | None = None
        super().__init__(*args, **kwargs)
        self._read_size_before = tornadocompat.stream_bodies_of_any_size(
            self.request, BODY_CHUNK, _NO_LIMIT
        )

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
            result = tornadocompat.jupyter_prepare(self, redirect_to_login=not self._is_upgrade)
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
        """Whether a websocket from ``origin`` may open (here, where it settles which of the two
        bases' ``check_origin`` applies).

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
        return tornadocompat.trusted_origin(self, origin)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors raised as ``HTTPError`` (a refused login, a method an app does not take):
        ``error_answers.write_http_error``, as on every route of ours."""
        write_http_error(self, status_code, **kwargs)

    def compute_etag(self) -> str | None:
        """Never invent an ETag: a proxy passes the backend's validators or none (RFC 9110
        §8.8.3), and tornado's default would hash every body and could answer 304 on its own."""
        return None

    # -- where a request goes --------------------------------------------------------------

    def _target(self, host: str, port: str | int) -> Target:
        """Authorize, then validate, a ``host:port`` target from the URL: a host outside the
        allowlist is 403 in any form (malformed, or with a bad port), as with 4.x; only an
        allowed target can be 404 for its syntax."""
        address_check = allowed_by(self, host_key(str(host)), port)
        checked = parse_host(str(host))
        number = parse_port(port)
        tls = tls_for(self.engine.settings.upstream_tls, checked, number)
        return Target(host=checked, port=number, address_check=address_check, tls=tls)

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

    # -- activity, errors and the client leaving -------------------------------------------

    def _record_activity(self) -> None:
        """Proxied traffic is user activity for JupyterHub's idle culler (read through
        jupyter_server's ``last_activity()``, which takes every ``*_last_activity`` setting)."""
        self.settings["api_last_activity"] = datetime.now(timezone.utc)

    def _should_record_activity(self) -> bool:
        return True

    async def _while_client_waits(self, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work`` as what a leaving client cancels (``exchange.ClientWatch.run``)."""
        return await self._client_watch.run(work)

    def _write_proxy_error(self, error: ProxyError) -> None:
        """A ``ProxyError`` met by an exchange: its answer if nothing of the response is sent
        yet, else the client's connection is aborted (the status cannot be taken back)."""
        if tornadocompat.is_finished(self) or self._client_watch.gone:
            return
        if tornadocompat.headers_written(self):
            tornadocompat.abort_client(self)
            return
        self.log.warning("proxy %s: %s", self.request.path, error.message)
        self.clear()
        write_error_answer(self, error)

    def on_finish(self) -> None:
        if self._read_size_before is not None:
            tornadocompat.restore_read_size(self._read_size_before)
        super().on_finish()

    def on_connection_close(self) -> None:
        """The client went away: cancel whatever waits for the backend and free it."""
        self._client_watch.left()
        super().on_connection_close()

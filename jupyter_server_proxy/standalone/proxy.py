"""The standalone proxy's handlers: the named-app handler mounted at the service prefix, in a
plain tornado app that has none of Jupyter's settings.

Rules:
- Everything about proxying is inherited from ``SuperviseAndProxyHandler`` (start the app once,
  stream both ways, websockets, the 503 page with exit code and log tail). This class changes
  only what a plain tornado app cannot give it: who the user is, the context path (the prefix
  itself, not ``<base_url><name>``), and headers that don't assume Jupyter. (Error pages are
  tornado's plain ones, as ``ProxyHandler`` gives wherever Jupyter's templates are missing.)
- Identity is decided once per request, in ``prepare``, by ``authenticate()``. Here everyone is
  let in (``--skip-authentication``); ``hub.py`` overrides it with JupyterHub OAuth. This module
  never imports jupyterhub, so running without authentication doesn't need it installed.
"""

from __future__ import annotations

from typing import Any

from tornado import web

from ..web.named import SuperviseAndProxyHandler

#: The user every request is attributed to when authentication is off.
ANONYMOUS: dict[str, Any] = {"name": "anonymous", "kind": "user"}


class StandaloneHandler(SuperviseAndProxyHandler):
    """Proxies ``<prefix>...`` to the one app, starting it on the first request."""

    # The "Starting…" page starts the app through the lifecycle API, which is not served here.
    starting_page = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.prefix: str = kwargs.pop("prefix")
        super().__init__(*args, **kwargs)

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        # Not Jupyter's prepare: it would look for Jupyter's identity provider and token. A
        # websocket without a login gets 403 from ``get``, never a redirect it cannot follow.
        async def identify() -> None:
            self.current_user = await self.authenticate()

        await self._prepare_upgrade_refusal_in_get(identify)

    async def authenticate(self) -> Any:
        """The user making this request, or None (GET then redirects to a login, others 403)."""
        return dict(ANONYMOUS)

    def get_current_user(self) -> Any:
        # ``prepare`` sets ``current_user`` for every request; this is only reached if a caller
        # asks before that, and must not fall through to Jupyter's identity provider.
        return None

    def _named_paths(self, path: str) -> tuple[str, str]:
        # The app's root is the prefix itself: /user/alice/x reaches the app as /x, with
        # /user/alice as the context path (the named route would say /user/alice/<name>).
        _, raw = self._paths(path)
        return self.prefix.rstrip("/"), raw

    def set_default_headers(self) -> None:
        # Jupyter's defaults (a CSP whose report-uri points at a Jupyter API that isn't here)
        # would be imposed on every page of the app; the app's own headers are what it wants.
        pass


class AddSlashHandler(web.RequestHandler):
    """``<prefix without its slash>`` -> ``<prefix>``, keeping the query string as it came.

    JupyterHub links to a server as ``/user/alice`` at times. The redirect reveals nothing, so it
    is not authenticated; the page it leads to is. Permanent (301), as 4.x's: the prefix's
    address never changes."""

    def get(self) -> None:
        query = self.request.query
        self.redirect(self.request.path + "/" + (f"?{query}" if query else ""), permanent=True)

    def head(self) -> None:
        self.get()

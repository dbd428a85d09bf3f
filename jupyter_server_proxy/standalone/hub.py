"""JupyterHub OAuth for the standalone proxy, as ``jupyterhub-singleuser`` does it.

Imported only when authentication is on: this is the one module that needs the optional
``jupyterhub`` package (``pip install jupyter-server-proxy[standalone]``).

Rules:
- Identity comes from ``jupyterhub.services.auth``: a token (``Authorization`` header, or a URL
  ``token`` where the Hub allows one) or the OAuth cookie set by ``HubOAuthCallbackHandler``,
  checked against the access scopes the Hub grants for this server
  (``$JUPYTERHUB_OAUTH_ACCESS_SCOPES``). A browser without either is sent to the Hub's
  authorize URL; a websocket or a non-GET request gets 403.
- The Hub is asked without blocking the event loop (``get_user(sync=False)``); jupyterhub keeps
  the answer on the handler, so its synchronous ``get_current_user`` (which applies the scope
  rules) does not ask again.
- Hub credentials never reach the app: the OAuth cookie and a token that authenticated the
  request are removed before forwarding, as the extension removes Jupyter's.
- CSRF stays the app's business, as everywhere in this package: the Hub's XSRF check would
  refuse every form an app posts, since its pages cannot know the Hub's ``_xsrf``.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from jupyterhub import __version__ as jupyterhub_version  # type: ignore[import-untyped]
from jupyterhub.services.auth import (  # type: ignore[import-untyped]
    HubOAuth,
    HubOAuthCallbackHandler,
    HubOAuthenticated,
)
from traitlets.config import Configurable

from .proxy import StandaloneHandler


def make_hub_auth(parent: Configurable) -> Any:
    """A ``HubOAuth`` configured from the environment (and ``c.HubOAuth`` in a config file)."""
    return HubOAuth(parent=parent)


def callback_path(hub_auth: Any) -> str:
    """Where the Hub sends the browser back after login (``<prefix>oauth_callback``)."""
    return urlsplit(str(hub_auth.oauth_redirect_uri)).path


class HubStandaloneHandler(HubOAuthenticated, StandaloneHandler):  # type: ignore[misc]
    """``StandaloneHandler`` that lets in only whom the Hub allows to use this server."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # One HubOAuth for the whole app (HubOAuthenticated would make a global singleton).
        self.hub_auth = kwargs.pop("hub_auth")
        super().__init__(*args, **kwargs)

    @property
    def hub_users(self) -> set[str] | None:
        # Only consulted when the Hub passed no access scopes (a pre-2.0 Hub): then the one user
        # this server was spawned for, rather than every user of the Hub.
        user = self.settings.get("hub_user")
        return {user} if user else None

    async def authenticate(self) -> Any:
        await self.hub_auth.get_user(self, sync=False)
        return self.get_current_user()

    def check_xsrf_cookie(self) -> None:
        """The app's pages cannot know the Hub's ``_xsrf``; CSRF defence is the app's own."""

    def set_default_headers(self) -> None:
        # The Hub reads this after spawning to warn about version mismatches.
        self.set_header("X-JupyterHub-Version", jupyterhub_version)

    @functools.cached_property
    def _identity(self) -> tuple[str | None, str | None, bool]:
        # Overrides ProxyHandler's reading of Jupyter's identity provider (absent here) with the
        # Hub's: the token that authenticated this request, the OAuth cookie, and whether an
        # Authorization header did it. ProxyHandler strips exactly these before forwarding.
        token = self.hub_auth.get_token(self, in_cookie=False) or None
        by_header = bool(
            getattr(self, "_token_authenticated", False)
            and self.request.headers.get("Authorization")
        )
        return token, self.hub_auth.cookie_name, by_header


class StandaloneOAuthCallbackHandler(HubOAuthCallbackHandler):  # type: ignore[misc]
    """Finishes the Hub's OAuth flow: stores the token in a cookie, back to where the user was."""

    def initialize(self, hub_auth: Any) -> None:
        self.hub_auth = hub_auth

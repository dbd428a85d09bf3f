"""The options of ``jupyter-standaloneproxy``: the ``c.StandaloneProxyServer`` traits.

Rules:
- The options are those of jupyter-server-proxy 4.x (``--address``, ``--port``,
  ``--server-port``, ``--unix-socket``, ``--timeout``,
  ``--skip-authentication``/``--no-authentication``, ...), among them every key of a
  ``c.ServerProxy.servers`` entry; defaults come from JupyterHub's environment (``hubenv.py``).
- ``StandaloneOptions`` is a ``HasTraits`` mixin, not a ``Configurable``: its traits belong to
  the application class that mixes it in (``app.py``), so they are configured, listed by
  ``--help-all`` and written by ``--generate-config`` as ``c.StandaloneProxyServer.<name>``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from traitlets import (
    Any as AnyTrait,
)
from traitlets import (
    Bool,
    Callable,
    Dict,
    Float,
    HasTraits,
    Instance,
    Int,
    List,
    Unicode,
    Union,
    default,
    validate,
)

from . import hubenv


class StartupError(Exception):
    """A reason not to start, said in one line."""


class StandaloneOptions(HasTraits):
    """What ``jupyter-standaloneproxy`` runs and how it serves it."""

    command = Union(
        [List(Unicode()), Callable()],
        default_value=[],
        help="""The app's command (everything after '--' on the command line). {port},
        {unix_socket}, {base_url} and {public_url} (the Hub's $JUPYTERHUB_PUBLIC_URL when it
        gives one, else base_url) are filled in. A callable (as in 4.x) returns the list.""",
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

    # -- defaults from JupyterHub's environment ----------------------------------------------

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

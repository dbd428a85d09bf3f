"""Where apps and ad-hoc ports are reachable from the user's browser: public paths and URLs.

Rules:
1. A path form is always known: the server's ``base_url`` plus the app's own prefix
   (``/user/alice/rstudio/``). A full URL is known only when the public origin is: from
   ``c.ServerProxy.public_url``, else from JupyterHub's ``JUPYTERHUB_PUBLIC_URL``. Nothing is
   guessed from a request's ``Host``, which a proxy in front may have rewritten.
2. ``c.ServerProxy.public_url`` is the public URL of the server's root ``/``: a scheme, a host,
   an optional port, and optionally a path that a reverse proxy in front strips. The server's
   paths, ``base_url`` included, are appended to it.
3. ``JUPYTERHUB_PUBLIC_URL`` (JupyterHub >= 5; empty when the Hub has no ``public_url`` and no
   subdomains) is the public URL of the single-user server's ``base_url``. It is used only when
   its path is this server's ``base_url``: a server started by hand in a terminal of a Hub
   session inherits the variable, and its own ``base_url`` is elsewhere.
4. ``JUPYTER_SERVER_PROXY_URL_TEMPLATE`` holds ``{port}`` once, in place of the port of
   ``/proxy/<port>/``; ``public_url(port)`` fills it in, in the kernel that inherited it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

#: An app's public path (``/user/alice/rstudio/``), always set for the apps we start.
PREFIX_VAR = "JUPYTER_SERVER_PROXY_PREFIX"
#: An app's full public URL, set when the public origin is known.
URL_VAR = "JUPYTER_SERVER_PROXY_URL"
#: ``/proxy/{port}/`` as a full URL (or a path when the origin is unknown), for kernels and
#: terminals the server starts.
TEMPLATE_VAR = "JUPYTER_SERVER_PROXY_URL_TEMPLATE"
#: Where JupyterHub (>= 5) puts the public URL of a single-user server.
HUB_PUBLIC_URL_VAR = "JUPYTERHUB_PUBLIC_URL"

PORT_PLACEHOLDER = "{port}"


class BadPublicURL(ValueError):
    """A public URL that cannot be one: the message says why."""


class PublicURLUnavailable(RuntimeError):
    """``public_url()`` called where no Jupyter server left its template in the environment."""


def check_public_url(value: str) -> str:
    """``value`` as a public root URL without a trailing slash (``""`` stays ``""``), or
    ``BadPublicURL`` saying what is wrong with it."""
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check: it raises on a bad one
    except ValueError as e:
        raise BadPublicURL(f"{value!r} is not a URL: {e}") from e
    if parts.scheme not in ("http", "https"):
        raise BadPublicURL(f"{value!r} needs a scheme, http:// or https://")
    if not parts.hostname:
        raise BadPublicURL(f"{value!r} names no host")
    if parts.username is not None or parts.password is not None:
        # It is copied into every app's and kernel's environment: no credentials in it.
        raise BadPublicURL(f"{value!r} has a user name or password in it")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise BadPublicURL(f"{value!r} has a query or fragment; give scheme, host and path")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class PublicLocation:
    """Where a path of the server is, seen from the browser: its absolute ``path``, always,
    and its full ``url`` (``""`` when the public origin is unknown). Both end with ``/``."""

    path: str
    url: str = ""

    def under(self, relative: str) -> PublicLocation:
        """The location of ``relative`` (``rstudio/``, ``proxy/{port}/``) below this one."""
        relative = relative.lstrip("/")
        return PublicLocation(self.path + relative, self.url + relative if self.url else "")

    @property
    def best(self) -> str:
        """The full URL where known, else the path: what ``{public_url}`` and the port
        template hold."""
        return self.url or self.path


def server_root(
    base_url: str, public_url: str = "", env: Mapping[str, str] | None = None
) -> tuple[PublicLocation, str | None]:
    """Where the server's ``base_url`` is publicly, from the checked ``c.ServerProxy.public_url``
    (winning) or JupyterHub's variable in ``env``; and why the Hub's was not used, if it was
    there and unusable (for the log)."""
    path = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    if public_url:
        return PublicLocation(path, public_url.rstrip("/") + path), None
    hub_url = (env if env is not None else os.environ).get(HUB_PUBLIC_URL_VAR, "")
    if not hub_url:
        return PublicLocation(path), None
    try:
        checked = check_public_url(hub_url)
    except BadPublicURL as e:
        return PublicLocation(path), f"${HUB_PUBLIC_URL_VAR} not used: {e}"
    hub_path = urlsplit(checked).path + "/"
    if hub_path != path:
        return PublicLocation(path), (
            f"${HUB_PUBLIC_URL_VAR} not used: its path {hub_path!r} is not this server's "
            f"base_url {path!r}"
        )
    return PublicLocation(path, checked + "/"), None


def port_template(root: PublicLocation) -> str:
    """The value of ``JUPYTER_SERVER_PROXY_URL_TEMPLATE`` for a server whose ``base_url`` is at
    ``root``."""
    return root.under(f"proxy/{PORT_PLACEHOLDER}/").best


def public_url(port: int | str, env: Mapping[str, str] | None = None) -> str:
    """The URL (or, where the server does not know its public origin, the absolute path) at
    which the user's browser reaches ``port`` on this machine through the Jupyter server
    that started this kernel or terminal: ``/proxy/<port>/`` below its ``base_url``."""
    text = str(port)
    if isinstance(port, bool) or not text.isdecimal() or not 0 < int(text) < 65536:
        raise ValueError(f"port must be a number from 1 to 65535, not {port!r}")
    template = (env if env is not None else os.environ).get(TEMPLATE_VAR)
    if not template:
        raise PublicURLUnavailable(
            f"${TEMPLATE_VAR} is not set: public_url() works in kernels and terminals started "
            "by a Jupyter server with jupyter-server-proxy"
        )
    return template.replace(PORT_PLACEHOLDER, str(int(text)))

"""What JupyterHub tells a single-user server through its environment, read in one place.

Rules:
- Pure functions of an environment mapping (``os.environ`` in production, a dict in tests); no
  tornado and no jupyterhub here, so reading the environment never needs the optional package.
- JupyterHub >= 2 passes everything through variables, never on the command line (its
  ``Spawner.get_args`` returns only ``Spawner.args``), so the defaults of the CLI come from here.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

#: The variables HubOAuth cannot work without: the API to ask who a token belongs to, the token we
#: ask it with, and the OAuth client the Hub registered for this server.
AUTH_ENV = ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_CLIENT_ID")

#: Where a server listens when JupyterHub did not say (jupyter_server's default port).
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8888
_SCHEME_PORTS = {"http": 80, "https": 443}


def missing_auth_env(env: Mapping[str, str]) -> list[str]:
    """The names in ``AUTH_ENV`` that are unset or empty."""
    return [name for name in AUTH_ENV if not env.get(name)]


def normalise_prefix(prefix: str) -> str:
    """A URL prefix with one leading and one trailing slash, as Jupyter's ``base_url`` is."""
    return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"


def service_prefix(env: Mapping[str, str]) -> str:
    return normalise_prefix(env.get("JUPYTERHUB_SERVICE_PREFIX") or "/")


def service_address(env: Mapping[str, str]) -> str:
    url = env.get("JUPYTERHUB_SERVICE_URL")
    host = urlsplit(url).hostname if url else None
    return host or DEFAULT_ADDRESS


def service_port(env: Mapping[str, str]) -> int:
    url = env.get("JUPYTERHUB_SERVICE_URL")
    if not url:
        return DEFAULT_PORT
    parts = urlsplit(url)
    try:
        explicit = parts.port
    except ValueError:  # a malformed port: fall back rather than refuse to start
        explicit = None
    return explicit or _SCHEME_PORTS.get(parts.scheme, DEFAULT_PORT)


def _ssl_files(env: Mapping[str, str]) -> tuple[str, str, str]:
    return (
        env.get("JUPYTERHUB_SSL_KEYFILE", ""),
        env.get("JUPYTERHUB_SSL_CERTFILE", ""),
        env.get("JUPYTERHUB_SSL_CLIENT_CA", ""),
    )


def server_ssl_context(env: Mapping[str, str]) -> ssl.SSLContext | None:
    """TLS for our listening socket when the Hub runs with ``internal_ssl``: our certificate, and
    client certificates required from whoever connects (the Hub's proxy), as a single-user server
    does. None when the Hub gave no certificate."""
    keyfile, certfile, client_ca = _ssl_files(env)
    if not (keyfile and certfile):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca or None)
    context.load_cert_chain(certfile, keyfile)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_ssl_context(env: Mapping[str, str]) -> ssl.SSLContext | None:
    """TLS for our requests to the Hub's API (activity reports) under ``internal_ssl``."""
    keyfile, certfile, client_ca = _ssl_files(env)
    if not (keyfile and certfile):
        return None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=client_ca or None)
    context.load_cert_chain(certfile, keyfile)
    return context

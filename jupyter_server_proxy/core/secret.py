"""The per-run secret that lets an app tell this proxy from anyone else who reaches its port.

Rules:
1. Every run of an app this proxy starts (one with a ``command``) gets a fresh random secret in
   its environment (``SECRET_VAR``); every request and websocket handshake the proxy forwards to
   that run carries it in ``SECRET_HEADER``, with the Jupyter user's name in ``USER_HEADER``.
   Apps the proxy did not start, and ``/proxy/<port>/`` targets, never get either.
2. Both header names belong to the proxy: a client's own copies are dropped before forwarding
   (``core.headers.client_request_fields``), and overrides cannot set them.
3. ``verify`` is what an app calls: it reads the secret from the app's own environment and
   compares in constant time (``hmac.compare_digest``), so a stranger cannot learn the secret
   byte by byte from response times. No secret in the environment means nothing verifies.

This module is imported by the package root (``jupyter_server_proxy.verify``), which apps import
inside their own process: it uses the standard library only.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

#: The environment variable that holds the run's secret.
SECRET_VAR = "JUPYTER_SERVER_PROXY_SECRET"
#: The request header that carries the run's secret to the app.
SECRET_HEADER = "X-Jupyter-Server-Proxy-Secret"
#: The request header that carries the Jupyter user's name to the app.
USER_HEADER = "X-Jupyter-Server-Proxy-User"
#: Both names, lower-cased: the fields only this proxy sets.
IDENTITY_FIELDS = frozenset({SECRET_HEADER.lower(), USER_HEADER.lower()})

#: Printable ASCII but ``%`` passes a user's name as it is; anything else (non-ASCII, spaces,
#: control characters) is percent-encoded as UTF-8 (RFC 3986 §2.1), so every name fits in a
#: field value (RFC 9110 §5.5) and an app gets it back with ``urllib.parse.unquote``.
_NAME_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def new_secret() -> str:
    """A fresh secret for one run of an app: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def user_name(user: object) -> str | None:
    """The name of a handler's ``current_user``: jupyter_server 2's ``User`` (``.username``),
    a JupyterHub user model (a dict with ``name``) as plain-tornado subclasses keep it, or a
    plain string. None when it has no name."""
    name: object
    if isinstance(user, str):
        name = user
    elif isinstance(user, Mapping):
        name = user.get("name") or user.get("username")
    else:
        name = getattr(user, "username", None) or getattr(user, "name", None)
    return name if isinstance(name, str) and name else None


def identity_headers(secret: str, user: str | None) -> list[tuple[str, str]]:
    """The fields a request to a run of an app carries: its secret, and the user's name (its
    non-printable and non-ASCII characters percent-encoded) when there is one."""
    out = [(SECRET_HEADER, secret)]
    if user:
        out.append((USER_HEADER, quote(user, safe=_NAME_SAFE)))
    return out


def verify(headers: Any) -> bool:
    """Whether a request's headers carry this app's secret: call it in an app that
    jupyter-server-proxy starts, to refuse anyone who reached its port directly.

    ``headers`` is any mapping or list of ``(name, value)`` pairs: werkzeug's and Flask's
    ``request.headers``, ``http.server``'s ``self.headers``, tornado's, aiohttp's, a dict, or an
    ASGI scope's ``headers`` (bytes). Names are matched case-insensitively. True only if the
    field is there exactly once and equals ``JUPYTER_SERVER_PROXY_SECRET`` of this process's
    environment; False if that variable is unset or empty (the app was not started by the
    proxy)."""
    expected = os.environ.get(SECRET_VAR, "")
    if not expected:
        return False
    found = [v for n, v in _pairs(headers) if _text(n).strip().lower() == SECRET_HEADER.lower()]
    if len(found) != 1:
        return False
    # Bytes: compare_digest refuses a str with non-ASCII characters, which anyone can send.
    sent = _text(found[0]).strip().encode("utf-8", "replace")
    return hmac.compare_digest(sent, expected.encode("utf-8", "replace"))


def _pairs(headers: Any) -> Iterable[tuple[Any, Any]]:
    """Every (name, value) of ``headers``: its ``items()`` if it has them (a field repeated in
    tornado's headers then comes joined with commas, and does not verify), else the pairs."""
    items = getattr(headers, "items", None)
    pairs: Iterable[tuple[Any, Any]] = items() if callable(items) else headers
    return pairs


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)

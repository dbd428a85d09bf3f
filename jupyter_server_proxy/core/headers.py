"""Header rules for both directions of the proxy.

Rules:
1. Headers are lists of ``(name, value)`` pairs, never dicts, so repeated fields such as
   ``Set-Cookie`` survive in both directions (RFC 9110 §5.3 allows repetition only for list-valued
   fields and ``Set-Cookie``, RFC 6265 §3, which must never be folded into one line).
2. Hop-by-hop fields are dropped at each hop, per RFC 9110 §7.6.1: ``Connection`` and every field it
   names, plus ``Proxy-Connection``, ``Keep-Alive``, ``TE``, ``Transfer-Encoding`` and ``Upgrade``.
   ``Proxy-Authenticate``/``Proxy-Authorization`` (RFC 9110 §11.7) are meant for this proxy, so they
   are dropped too. Framing (``Transfer-Encoding``) is redone by each side's own HTTP stack.
3. Jupyter's own credentials never reach a backend: see ``strip_jupyter_credentials``. Anyone who
   can listen on a port must not be able to harvest a user's session (the peer's
   GHSA-q52h-2389-h4hv).
4. Field values containing CR, LF or NUL are refused outright (RFC 9110 §5.5): no header injection
   through ``request_headers_override`` or a backend.
5. The proxy's identity fields (``core/secret.py``) are its own: a client's copies are dropped
   with the fields its server answered (``client_request_fields``, which every route's
   headers pass through, a subclass's chosen ones too), and an override cannot set them. Only
   the handler of an app this proxy started adds them, after these rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import unquote_plus

from .secret import IDENTITY_FIELDS

Headers = list[tuple[str, str]]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "trailer",
    }
)

#: The three names the peer sends the context path under; apps read one or another.
CONTEXT_HEADERS = ("X-Forwarded-Context", "X-ProxyContextPath", "X-Forwarded-Prefix")
_CONTEXT_FIELDS = frozenset(h.lower() for h in CONTEXT_HEADERS)

#: jupyter_server names its login cookie ``username-<host with non-alphanumerics as ->``. Browsers
#: don't scope cookies by port, so cookies of *other* Jupyter servers on this host arrive too.
_JUPYTER_LOGIN_COOKIE = re.compile(r"^username-[A-Za-z0-9-]+$")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_TOKEN_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2 token


class HeaderInjection(ValueError):
    """A header name or value that would split or smuggle a message."""


def check_field(name: str, value: str) -> None:
    # fullmatch: ``$`` would also match before a final newline, letting "X\n" through.
    if not _TOKEN_NAME.fullmatch(name):
        raise HeaderInjection(f"invalid header name {name!r}")
    if _BAD_VALUE.search(value):
        raise HeaderInjection(f"header {name!r} has a CR, LF or NUL in its value")


def connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Names listed in every ``Connection`` field, lower-cased (RFC 9110 §7.6.1)."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def _lowered(headers: Iterable[tuple[str, str]]) -> tuple[Headers, list[str], frozenset[str]]:
    """(the fields, their names lower-cased, the hop-by-hop names among them): one pass that the
    filters below share, since they run on every request and response."""
    items = list(headers)
    lowered = [n.lower() for n, _ in items]
    hop = HOP_BY_HOP
    if "connection" in lowered:
        hop = hop | connection_tokens(items)
    return items, lowered, hop


def drop_hop_by_hop(headers: Iterable[tuple[str, str]]) -> Headers:
    items, lowered, hop = _lowered(headers)
    return [item for item, lname in zip(items, lowered, strict=True) if lname not in hop]


def is_websocket_upgrade(upgrade: str | None) -> bool:
    """Whether an ``Upgrade`` field value (repeats joined with commas) asks for a websocket."""
    return "websocket" in (t.strip().lower() for t in (upgrade or "").split(","))


def filter_cookie_header(value: str, drop: set[str]) -> str:
    """The ``Cookie`` value without the named cookies or Jupyter login/JupyterHub cookies."""
    kept = []
    for part in value.split(";"):
        name = part.split("=", 1)[0].strip()
        if not name:
            continue
        # JupyterHub names its cookies ``__Host-jupyterhub-*`` when it runs with
        # ``cookie_host_prefix_enabled`` (RFC 6265bis's host-only prefix).
        hub = name.startswith("jupyterhub-") or name.startswith("__Host-jupyterhub-")
        if name in drop or hub or _JUPYTER_LOGIN_COOKIE.match(name):
            continue
        kept.append(part.strip())
    return "; ".join(kept)


def _authorization_is_jupyters(
    value: str, server_token: str | None, header_authenticated: bool
) -> bool:
    # Split at any whitespace, as jupyter_server does (its pattern is ``(token|bearer)\s+(.+)``):
    # "token<TAB>secret" logs a user in, so it must be recognised here too.
    parts = value.split(None, 1)
    scheme = parts[0].lower() if parts else ""
    credential = parts[1].strip() if len(parts) > 1 else ""
    if scheme == "token":
        # "token" is Jupyter's and JupyterHub's own scheme; no other common app speaks it.
        return True
    if scheme == "bearer":
        return header_authenticated or (bool(server_token) and credential == server_token)
    return False


def strip_jupyter_credentials(
    headers: Iterable[tuple[str, str]],
    *,
    server_token: str | None,
    login_cookie: str | None,
    header_authenticated: bool = False,
) -> Headers:
    """Remove the credentials that log a user into Jupyter; keep everything else.

    Removed: the server's login cookie and any other ``username-*`` Jupyter login cookie, the
    ``jupyterhub-*`` cookies, an ``Authorization`` header with Jupyter's ``token`` scheme, or a
    bearer credential that is the server's token (or that authenticated this request), and the
    ``token`` parameters of a ``Referer``'s query.
    Kept: ``_xsrf`` (proxied tornado apps need their own) and every other cookie and header.
    """
    out: Headers = []
    for name, value in headers:
        kept = _without_credentials(
            name.lower(), value, server_token, login_cookie, header_authenticated
        )
        if kept is not None:
            out.append((name, kept))
    return out


def _without_credentials(
    lname: str,
    value: str,
    server_token: str | None,
    login_cookie: str | None,
    header_authenticated: bool,
) -> str | None:
    """The value of field ``lname`` without Jupyter's credentials; None: drop the field."""
    if lname == "cookie":
        return filter_cookie_header(value, {login_cookie} if login_cookie else set()) or None
    if lname == "authorization" and _authorization_is_jupyters(
        value, server_token, header_authenticated
    ):
        return None
    if lname == "referer" and "token" in value:
        return referer_without_token(value)
    return value


def referer_without_token(value: str) -> str:
    """A ``Referer`` without the ``token`` parameters of its query. The page it names may have
    been opened with Jupyter's token (``/lab?token=…``, a JupyterHub API token in a link),
    which would otherwise reach every app that page loads from. Every ``token`` parameter goes,
    whatever its value: the proxy cannot tell a Hub token from another, and a Referer is only
    informative (RFC 9110 §10.1.3 lets a sender trim it)."""
    base, mark, rest = value.partition("?")
    if not mark:
        return value
    query, hash_, fragment = rest.partition("#")  # no fragment is sent, but one may be forged
    kept = [p for p in query.split("&") if unquote_plus(p.partition("=")[0]) != "token"]
    return base + ("?" + "&".join(kept) if kept else "") + hash_ + fragment


def strip_token_query(query: str, server_token: str | None) -> str:
    """The raw query string without ``token=<the server's token>``; other parameters keep their
    exact bytes and order, and an app's own ``token`` with another value passes."""
    if not query or not server_token:
        return query
    kept = []
    for param in query.split("&"):
        name, _, value = param.partition("=")
        if unquote_plus(name) == "token" and unquote_plus(value) == server_token:
            continue
        kept.append(param)
    return "&".join(kept)


#: A websocket handshake's own fields, which the websocket client to the backend makes itself.
_HANDSHAKE_FIELDS = frozenset(
    {
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    }
)


#: Request fields that never go to a backend besides the hop-by-hop ones (rule 2): ``Expect`` is
#: answered by the proxy's own server (100-continue, RFC 9110 §10.1.1), which has read the body
#: by the time the backend is asked. (``Host`` is kept as the client sent it.)
ANSWERED_HERE = frozenset({"expect"})


#: What ``client_request_fields`` drops, lower-cased.
_NOT_FROM_CLIENTS = ANSWERED_HERE | IDENTITY_FIELDS


def client_request_fields(headers: Iterable[tuple[str, str]]) -> Headers:
    """The client's request fields, without those the proxy's server answered itself and
    without the proxy's identity fields (rule 5): a client must not pass for the proxy."""
    return [(n, v) for n, v in headers if n.lower() not in _NOT_FROM_CLIENTS]


def upstream_request_headers(
    headers: Iterable[tuple[str, str]],
    *,
    context_path: str | None,
    server_token: str | None,
    login_cookie: str | None,
    header_authenticated: bool = False,
    overrides: Mapping[str, str] | None = None,
    websocket: bool = False,
) -> Headers:
    """Headers to send to the backend for one client request.

    Order of rules: hop-by-hop removal, credential removal, then the context-path headers, then
    ``request_headers_override`` (so an app's override wins, as with the peer), except for the
    proxy's identity fields (rule 5), which an override cannot set. For websockets the
    handshake fields (``Sec-WebSocket-*``) are left to the websocket client, which makes its own.

    ``context_path`` is None on absolute routes (``absolute_url``, ``/proxy/absolute/...``): the
    backend already gets the full path, and an app that honours ``X-Forwarded-Prefix``
    (werkzeug's ProxyFix, Spring, Grafana) would put the prefix in front of it a second time.
    None of the three is sent then, not even one the client sent itself: they are this proxy's
    to set.
    """
    items, lowered, drop = _lowered(headers)
    drop = drop | _CONTEXT_FIELDS
    if websocket:
        drop = drop | _HANDSHAKE_FIELDS
    overridden = {k: v for k, v in (overrides or {}).items() if k.lower() not in IDENTITY_FIELDS}
    if overridden:
        drop = drop | {k.lower() for k in overridden}
    out: Headers = []
    for (name, value), lname in zip(items, lowered, strict=True):
        if lname in drop:
            continue
        kept = _without_credentials(lname, value, server_token, login_cookie, header_authenticated)
        if kept is not None:
            out.append((name, kept))
    if context_path is not None:
        out.extend((h, context_path) for h in CONTEXT_HEADERS)
    for name, value in overridden.items():
        check_field(name, value)
        out.append((name, value))
    return out


def chosen_request_headers(
    headers: Iterable[tuple[str, str]],
    *,
    server_token: str | None,
    login_cookie: str | None,
    header_authenticated: bool = False,
    websocket: bool = False,
) -> Headers:
    """Headers a handler subclass chose to send (4.x's ``proxy_request_headers()``), held to the
    rules every forwarded request follows: hop-by-hop fields (rule 2) and Jupyter's credentials
    (rule 3) removed, a websocket's handshake fields left to the websocket client, and a field
    that would split the message refused (rule 4). Nothing is added: what the subclass kept of
    the context-path headers and overrides is what is sent. Rule 3 holds even for a subclass
    that returns the client's own headers, as 4.x-era code does (``request.headers.copy()``)."""
    out = strip_jupyter_credentials(
        drop_hop_by_hop(headers),
        server_token=server_token,
        login_cookie=login_cookie,
        header_authenticated=header_authenticated,
    )
    if websocket:
        out = [(n, v) for n, v in out if n.lower() not in _HANDSHAKE_FIELDS]
    for name, value in out:
        check_field(name, value)
    return out


def downstream_response_headers(
    headers: Sequence[tuple[str, str]], *, status: int | None = None
) -> Headers:
    """Backend response headers fit to send to the client: hop-by-hop fields dropped, repeats
    kept, values with CR/LF/NUL refused (a backend must not split our response).

    With the response's ``status``: a 1xx or 204 loses any ``Content-Length``, whatever the
    backend sent, since such a response has no content and must not announce any (RFC 9110
    §8.6); a client that believed it would wait for bytes that never come."""
    items, lowered, drop = _lowered(headers)
    if status is not None and (status < 200 or status == 204):
        drop = drop | {"content-length"}
    out: Headers = []
    for item, lname in zip(items, lowered, strict=True):
        if lname not in drop:
            check_field(*item)
            out.append(item)
    return out

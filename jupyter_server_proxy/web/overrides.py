"""What a 4.x handler subclass's overrides return, checked and read as plain data.

4.x let subclasses change the upstream request through ``get_request_headers_override()``,
``proxy_request_headers()``, ``proxy_request_options()`` and ``get_client_uri()``. Their answers
are user code's: each is checked here, and anything unusable is a ``HookFailed`` that names the
class and what it returned, never a bare 500 or a request split by a stray CR/LF.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from ..core.errors import BadTarget
from ..core.headers import HeaderInjection, check_field
from ..core.hooks import HookFailed
from ..core.routing import Target, host_key, parse_host
from ..core.tls import TlsSettings

#: ``proxy_request_options()`` keys (4.x: tornado ``HTTPRequest`` arguments) that our client
#: honours, and the setting of ours each replaces for the request. ``request_timeout`` bounds the
#: backend's silence (``read_timeout``), not the whole exchange: a stream that keeps sending is
#: never cut.
OPTION_TIMEOUTS = {"connect_timeout": "connect_timeout", "request_timeout": "read_timeout"}
#: Keys that ask for what our client does anyway (4.x's own defaults); any other key or value
#: (``follow_redirects=True``, ``validate_cert``, ``auth_username``...) is ignored, with a
#: warning.
OPTIONS_AS_WE_DO: dict[str, object] = {"follow_redirects": False, "decompress_response": False}
#: What may stand in a request-target built from a subclass's URL: RFC 3986 reserved and
#: unreserved characters, and ``%`` so that its escapes stay as they are. Anything else (space,
#: CR, LF, non-ASCII) is percent-encoded, so a URL can never split the request line.
_TARGET_SAFE = "/:@!$&'()*+,;=-._~?%[]"


def header_items(headers: Any) -> list[tuple[Any, Any]] | None:
    """The fields of headers a subclass returned: tornado ``HTTPHeaders`` (anything with
    ``get_all()``, whose repeated fields stay apart) or a mapping; None for anything else."""
    get_all = getattr(headers, "get_all", None)
    if callable(get_all):
        return list(get_all())
    if isinstance(headers, Mapping):
        return list(headers.items())
    return None


def checked_headers(headers: Any, what: str, owner: str) -> dict[str, str]:
    """Header names must be strings; values strings or numbers (4.x wrote them with ``%s``).
    A field that would split the request is refused (RFC 9110 §5.5)."""
    expected = HookFailed(
        owner, f"its {what} returned {headers!r:.200}, expected a dict of strings"
    )
    items = header_items(headers)
    if items is None:
        raise expected
    out: dict[str, str] = {}
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, (str, int, float)):
            raise expected
        try:
            check_field(name, str(value))
        except HeaderInjection as e:
            raise HookFailed(owner, f"its {what} returned {e}") from e
        out[name] = str(value)
    return out


def request_timeouts(
    options: Any, owner: str, ignored: Callable[[str, object], None]
) -> dict[str, float]:
    """The timeouts (our setting names) that ``proxy_request_options()`` set; ``ignored`` is
    called for each key this proxy does not honour."""
    if not isinstance(options, Mapping):
        raise HookFailed(
            owner, f"its proxy_request_options() returned {options!r:.200}, expected a dict"
        )
    out: dict[str, float] = {}
    for key, value in options.items():
        ours = OPTION_TIMEOUTS.get(key)
        if ours is not None:
            if value is None:
                continue  # tornado's "the default"
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise HookFailed(
                    owner,
                    f"its proxy_request_options() gave {key}={value!r:.100}, expected seconds >= 0",
                )
            out[ours] = float(value)
        elif key not in OPTIONS_AS_WE_DO or OPTIONS_AS_WE_DO[key] != value:
            ignored(str(key), value)
    return out


def target_of_client_uri(
    uri: Any, target: Target, asked: tuple[str, str], owner: str
) -> tuple[Target, str]:
    """(target, request-target) of a subclass's ``get_client_uri()`` URL. Its path and query are
    the request-target (anything that could split the request line percent-encoded, the fragment
    dropped). Its host and port, if they differ from the ``asked`` ones the method was handed,
    are the target, as they were for 4.x's client (but not for a unix socket, which 4.x's
    resolver also used whatever the URL said); the same ones keep ``target`` (a named app's is
    an address, its ``asked`` host ``localhost``). ``https``/``wss`` ask for TLS (the target's
    own TLS settings if it has any, else the defaults: the system's CAs, the name checked), as
    4.x's client spoke it; ``http``/``ws`` to the asked host keep its configured TLS, if any."""

    def bad(why: str) -> HookFailed:
        return HookFailed(owner, f"its get_client_uri() returned {uri!r:.200}: {why}")

    if not isinstance(uri, str):
        raise bad("expected a URL string")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as e:
        raise bad(str(e)) from e
    scheme = parts.scheme.lower()
    if scheme not in ("http", "ws", "https", "wss"):
        raise bad("backends are reached over http://, https://, ws:// or wss://")
    secure = scheme in ("https", "wss")
    if secure and target.tls is None:
        target = dataclasses.replace(target, tls=TlsSettings())
    request_target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        request_target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    if target.unix_socket or not parts.hostname:
        return target, request_target
    try:
        host = parse_host(parts.hostname)
    except BadTarget as e:
        raise bad(e.message) from e
    port = port or (443 if secure else 80)
    if (host_key(host), str(port)) != (host_key(asked[0]), asked[1]):
        target = Target(host=host, port=port, tls=TlsSettings() if secure else None)
    return target, request_target

"""From a request's route arguments to a proxy target, and the paths on either side.

Rules:
- A host is a DNS name or an IP literal, nothing else: no ``@``, ``/``, ``%`` or spaces can smuggle
  credentials or a second path into the upstream URL. A port is a decimal in 1..65535.
- The path the backend gets is the path the client sent, byte for byte (``%2F`` stays ``%2F``):
  tornado hands handlers *decoded* route arguments, so the raw suffix is recovered from the raw
  request path (see ``raw_suffix``).
- The context path (what the client sees as the backend's root) never ends with ``/``.
- The allowlist is asked first, about the host exactly as the URL names it (see ``host_key``):
  a host outside it is 403 whatever its form, even one that is no valid host. Only an allowed
  target is then checked for syntax (4.x asks the allowlist and nothing else).
- A fragment is never forwarded: a request-target has none (RFC 9112 §3.2, RFC 3986 §3.5 says
  a client never sends it), yet tornado passes a raw ``#`` on. Everything from the first ``#``
  on is dropped, the query too when the ``#`` stands before it, as 4.x does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from .errors import BadTarget
from .tls import TlsSettings

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$"
)
# Characters that may stand unescaped in a path (RFC 3986 §3.3 pchar, plus "/").
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Target:
    """Where one request goes. Exactly one of ``port`` and ``unix_socket`` is set.
    ``address_check``: for a name that the allowlist lets through only by the address it
    resolves to, whether an address is allowed; the connection goes only to one that is.
    ``tls``: speak TLS to it, so (``core/tls.py``); None: plain TCP or unix socket."""

    host: str
    port: int | None = None
    unix_socket: str | None = None
    address_check: Callable[[str], bool] | None = field(default=None, compare=False, repr=False)
    tls: TlsSettings | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def authority(self) -> str:
        """``host[:port]`` as it stands in a URL (IPv6 literals in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def where(self) -> str:
        """How error messages name this target."""
        return f"unix socket {self.unix_socket}" if self.unix_socket else self.authority


def parse_port(port: str | int) -> int:
    text = str(port)
    # ``str.isdigit`` accepts non-ASCII digits ("٣"); a port is ASCII decimal only.
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise BadTarget(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


_COMMON_HOSTS = frozenset({"localhost", "127.0.0.1"})


def parse_host(host: str) -> str:
    """Validate a host from a URL; returns it without IPv6 brackets."""
    if host in _COMMON_HOSTS:
        return host
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        pass
    else:
        # Python accepts an IPv6 zone ID after "%" with any characters in it (CR, LF, "@"),
        # which would then stand in the Host header; a proxy target has no use for one.
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise BadTarget(f"{host!r}: IPv6 zone identifiers are not supported")
        return str(address)
    if host.startswith("[") or not _HOSTNAME.match(candidate):
        raise BadTarget(f"{host!r} is not a host name or IP address")
    return candidate.lower()


def host_key(host: str) -> str:
    """How the allowlist sees a host from a URL (or an allowlist entry), valid or not.

    Lower-cased, since a host name is case-insensitive (RFC 3986 §3.2.2); an IPv6 literal
    without its brackets and in canonical form, so ``[0::1]`` is ``::1``. Nothing is refused
    here: a malformed host is simply not on the list.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return str(ipaddress.IPv6Address(bare))
        except ValueError:
            pass
    return host.lower()


def raw_suffix(raw_path: str, decoded_suffix: str) -> str:
    """The part of ``raw_path`` (as received, percent-encoded) that decodes to ``decoded_suffix``.

    Route arguments arrive decoded, but backends must see ``%2F`` as ``%2F``. We take the shortest
    tail of the raw path that decodes to the argument. If none does (a subclass rewrote the path),
    the argument is re-encoded conservatively.
    """
    if not decoded_suffix:
        return ""
    start = len(raw_path)
    while True:
        start = raw_path.rfind("/", 0, start)
        if start < 0:
            break
        tail = raw_path[start:]
        if unquote(tail) == decoded_suffix:
            return tail
        if len(tail) > 3 * len(decoded_suffix) + 3:
            break
    return quote(decoded_suffix, safe=_PATH_SAFE)


def strip_fragment(raw_path: str) -> str:
    """``raw_path`` up to its first ``#``. Only a raw ``#`` counts: an escaped one (``%23``) is
    data and stays."""
    return raw_path.partition("#")[0]


def upstream_query(raw_path: str, query: str) -> str:
    """The query to forward for a request whose target tornado split into ``raw_path`` and
    ``query`` at the first ``?``. A ``#`` in the path starts the fragment, so what tornado took
    for a query is fragment too; otherwise the query ends at its own first ``#``."""
    if "#" in raw_path:
        return ""
    return strip_fragment(query)


def upstream_target_uri(path: str, query: str) -> str:
    """The request-target for the backend: origin-form (RFC 9112 §3.2.1), ``/`` if empty."""
    if not path.startswith("/"):
        path = "/" + path
    return path + ("?" + query if query else "")

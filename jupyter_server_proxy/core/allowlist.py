"""Which hosts and ports ``/proxy/<host>:<port>/`` may reach: ``c.ServerProxy.host_allowlist``.

An entry is one of:
- a host as a URL names it (``localhost``, ``10.0.0.5``, ``[fd00::5]``): matched as written,
  compared by ``host_key`` (case-insensitive; an IPv6 literal in canonical form). This is the
  one form 4.x knows, and it means what it meant there.
- a network in CIDR notation (``10.0.0.0/8``, ``fd00::/8``): an IP literal in it, or a name
  whose address is in it. A name's address is looked up when connecting, and the connection
  goes to the address that was checked, so a name cannot lead into a network not listed.
- a DNS suffix (``*.cluster.local``): a name ending in ``.cluster.local`` with one label or more
  before it; not ``cluster.local`` itself, and never an IP literal.

Any of them may end in ``:PORT`` or ``:LOW-HIGH`` (an IPv6 host in brackets, ``[fd00::5]:8787``;
a network after its prefix length, ``fd00::/8:8787``). An entry without a port allows every
port, as a 4.x entry does. An entry that is none of these is reported (``Allowlist.problems``,
naming it) and allows nothing. Nothing allows every host: there is no wildcard entry.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .routing import host_key

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


@dataclass(frozen=True)
class Entry:
    """One valid allowlist entry; exactly one of ``host``, ``network`` and ``suffix`` is set."""

    text: str
    host: str | None = None
    network: Network | None = None
    suffix: str | None = None  # with its leading dot: ".cluster.local"
    ports: tuple[int, int] | None = None  # inclusive; None: every port

    def allows_port(self, port: int | None) -> bool:
        if self.ports is None:
            return True
        return port is not None and self.ports[0] <= port <= self.ports[1]


def parse_entry(text: str) -> Entry:
    """The entry ``text`` stands for; ``ValueError`` naming it and what is wrong otherwise."""
    where, ports = _split_ports(text)
    if where.startswith("*."):
        suffix = where[1:].lower().rstrip(".")
        if not _NAME.match(suffix[1:]):
            raise ValueError(f"{text!r}: {where!r} is not a DNS suffix such as '*.cluster.local'")
        return Entry(text, suffix=suffix, ports=ports)
    if "*" in where:
        raise ValueError(f"{text!r}: a '*' may only stand first, as in '*.cluster.local'")
    if "/" in where:
        try:
            network = ipaddress.ip_network(where, strict=True)
        except ValueError as e:
            raise ValueError(f"{text!r}: not a network in CIDR notation ({e})") from None
        return Entry(text, network=network, ports=ports)
    bare = where[1:-1] if where.startswith("[") and where.endswith("]") else where
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        if where.startswith("[") or not _NAME.match(where.lower()):
            raise ValueError(f"{text!r}: not a host name, IP address or network") from None
    return Entry(text, host=host_key(where), ports=ports)


def _split_ports(text: str) -> tuple[str, tuple[int, int] | None]:
    """``(host part, port range)`` of an entry. A colon starts the ports only where it cannot
    belong to an IPv6 literal: after ``]``, after a network's prefix length, or in a name or
    IPv4 entry, which has no other colon."""
    if text.startswith("["):
        host, _, rest = text.partition("]")
        host += "]"
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError(f"{text!r}: only ':PORT' may follow ']'")
        return host, _port_range(text, rest[1:])
    if "/" in text:
        network, _, length = text.rpartition("/")
        length, colon, ports = length.partition(":")
        return f"{network}/{length}", _port_range(text, ports) if colon else None
    if text.count(":") == 1:
        host, _, ports = text.partition(":")
        return host, _port_range(text, ports)
    return text, None  # no colon, or an IPv6 literal without brackets (which has no port)


def _port_range(text: str, ports: str) -> tuple[int, int]:
    match = _PORTS.match(ports)
    if match is None:
        raise ValueError(f"{text!r}: {ports!r} is not a port or a range LOW-HIGH")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 0 < low <= high < 65536:
        raise ValueError(f"{text!r}: ports must lie in 1-65535, lowest first")
    return low, high


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        return None


def is_name(host: str) -> bool:
    """Whether ``host`` (as the URL names it) is a valid DNS name, not an IP literal: what may
    be resolved to be checked against network entries."""
    return _literal(host) is None and bool(_NAME.match(host.lower()))


def _port_number(port: str | int | None) -> int | None:
    """A port as the URL gives it, or None where it is none (such a port matches only entries
    that allow every port; the target's own check names the bad port)."""
    text = str(port) if port is not None else ""
    return int(text) if text.isascii() and text.isdigit() else None


@dataclass(frozen=True)
class Allowlist:
    entries: tuple[Entry, ...]
    #: One line per invalid entry, naming it and what is wrong.
    problems: tuple[str, ...] = ()
    #: The host entries without a port, as ``host_key``s: every request asks about one (4.x's
    #: form, and the default), so it is answered by a set lookup before any parsing.
    any_port_hosts: frozenset[str] = frozenset()

    def allows(self, host: str, port: str | int | None) -> bool:
        """Whether ``host`` (as the URL names it) with ``port`` is allowed as written: by a host
        or suffix entry, or, for an IP literal, by a network entry."""
        key = host_key(host)
        if key in self.any_port_hosts:
            return True
        number = _port_number(port)
        literal = _literal(host)
        for entry in self.entries:
            if not entry.allows_port(number):
                continue
            if entry.host is not None and entry.host == key:
                return True
            if entry.network is not None and literal is not None and literal in entry.network:
                return True
            if (
                entry.suffix is not None
                and literal is None
                and key.rstrip(".").endswith(entry.suffix)
            ):
                return True
        return False

    def may_resolve_into(self, port: str | int | None) -> bool:
        """Whether a name not allowed as written may still be, by the address it resolves to:
        some network entry covers ``port``."""
        number = _port_number(port)
        return any(e.network is not None and e.allows_port(number) for e in self.entries)

    def allows_address(self, address: str, port: str | int | None) -> bool:
        """Whether a resolved ``address`` lies in a network entry that covers ``port``."""
        literal = _literal(address)
        number = _port_number(port)
        return literal is not None and any(
            e.network is not None and e.allows_port(number) and literal in e.network
            for e in self.entries
        )


def allowlist_of(entries: Iterable[object]) -> Allowlist:
    """The allowlist the entries stand for; invalid ones are left out and named in ``problems``.
    Cached per distinct list: a handler subclass may change its list at any time (dask appends
    to it), so the list itself is the key."""
    texts = tuple(entries)
    try:
        return _parsed(texts)
    except TypeError:  # an unhashable entry (no string, then): parsed without the cache
        return _parse(texts)


def _parse(entries: tuple[object, ...]) -> Allowlist:
    valid: list[Entry] = []
    problems: list[str] = []
    for text in entries:
        if not isinstance(text, str):
            problems.append(f"c.ServerProxy.host_allowlist entry {text!r}: not a string")
            continue
        try:
            valid.append(parse_entry(text))
        except ValueError as e:
            problems.append(f"c.ServerProxy.host_allowlist entry {e}")
    hosts = frozenset(e.host for e in valid if e.host is not None and e.ports is None)
    return Allowlist(tuple(valid), tuple(problems), hosts)


_parsed = functools.lru_cache(maxsize=64)(_parse)

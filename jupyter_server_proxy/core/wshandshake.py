"""The two websocket opening handshakes the proxy takes part in (RFC 6455 §4).

Towards the client we are the server: its request is checked here before anything reaches the
backend. Towards the backend we are the client: we send a request of our own (a fresh key, the
client's subprotocols, no extensions, so frames can be relayed unchanged) and check its answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import UpstreamUnavailable
from .headers import Headers, check_field, drop_hop_by_hop
from .wsframes import accept_key, valid_key

#: Versions whose framing is the one RFC 6455 defines (7 and 8 were its last drafts; tornado
#: accepts them too).
CLIENT_VERSIONS = ("13", "8", "7")
#: The longest response head we wait for from a backend before calling it broken.
MAX_HEAD = 64 * 1024

# Handshake fields each side negotiates with us; every other field of the backend's 101 (its
# Set-Cookie above all) is passed on to the client.
_NEGOTIATED = frozenset(
    {
        "content-length",
        "date",
        "server",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "sec-websocket-version",
    }
)


def _get(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    return next((v for n, v in headers if n.lower() == name), None)


def _tokens(value: str | None) -> list[str]:
    return [t.strip() for t in (value or "").split(",") if t.strip()]


def client_problem(headers: Sequence[tuple[str, str]]) -> tuple[int, str] | None:
    """Why the client's upgrade request cannot be accepted, as (status, message); None if it can."""
    if "upgrade" not in (t.lower() for t in _tokens(_get(headers, "Connection"))):
        return 400, '"Connection" must name "Upgrade" in a websocket request'
    if _get(headers, "Sec-WebSocket-Version") not in CLIENT_VERSIONS:
        return 426, "unsupported websocket version: this server speaks RFC 6455 (version 13)"
    if not valid_key(_get(headers, "Sec-WebSocket-Key") or ""):
        return 400, "missing or malformed Sec-WebSocket-Key"
    return None


def client_protocols(headers: Sequence[tuple[str, str]]) -> list[str]:
    return [p for n, v in headers if n.lower() == "sec-websocket-protocol" for p in _tokens(v)]


def accept_headers(client_key: str, subprotocol: str | None, extra: Headers) -> Headers:
    """The 101's fields towards the client: ours, then what the backend's 101 carried besides."""
    out = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(client_key)),
    ]
    if subprotocol:
        out.append(("Sec-WebSocket-Protocol", subprotocol))
    return out + extra


def backend_request(
    target_uri: str, headers: Headers, key: str, protocols: Sequence[str], default_host: str
) -> bytes:
    """The upgrade request to the backend. ``headers`` are already past the proxy's header rules
    (no hop-by-hop or handshake fields, values checked); the handshake's own are added here."""
    fields = list(headers)
    if _get(fields, "Host") is None:
        fields.insert(0, ("Host", default_host))
    fields += [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if protocols:
        fields.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    for name, value in fields:
        check_field(name, value)
    lines = [f"GET {target_uri} HTTP/1.1", *(f"{n}: {v}" for n, v in fields), "", ""]
    return "\r\n".join(lines).encode("latin-1")


@dataclass(frozen=True)
class BackendAnswer:
    subprotocol: str | None
    #: Fields of the backend's 101 to pass to the client (see ``_NEGOTIATED``).
    headers: Headers


def parse_backend_answer(
    head: bytes, key: str, offered: Sequence[str], where: str
) -> BackendAnswer:
    """Check the backend's response head (up to and without the blank line) to our upgrade."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise UpstreamUnavailable(f"{where} answered the websocket upgrade with no HTTP response")
    status = int(parts[1])
    if status != 101:
        raise UpstreamUnavailable(f"{where} refused the websocket upgrade with HTTP {status}")
    fields: Headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            raise UpstreamUnavailable(f"{where} sent a malformed header line in its 101")
        fields.append((name, value.strip()))

    def bad(why: str) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"{where} sent a websocket handshake that is not valid: {why}")

    if (_get(fields, "Upgrade") or "").lower() != "websocket":
        raise bad('"Upgrade" is not "websocket"')
    if "upgrade" not in (t.lower() for t in _tokens(_get(fields, "Connection"))):
        raise bad('"Connection" does not name "Upgrade"')
    if _get(fields, "Sec-WebSocket-Accept") != accept_key(key):
        raise bad("wrong Sec-WebSocket-Accept")
    if _get(fields, "Sec-WebSocket-Extensions"):
        raise bad("it chose an extension we did not offer")
    subprotocol = _get(fields, "Sec-WebSocket-Protocol") or None
    if subprotocol is not None and subprotocol not in offered:
        raise bad(f"it chose the subprotocol {subprotocol!r}, which the client did not offer")
    extra = [(n, v) for n, v in drop_hop_by_hop(fields) if n.lower() not in _NEGOTIATED]
    return BackendAnswer(subprotocol, extra)

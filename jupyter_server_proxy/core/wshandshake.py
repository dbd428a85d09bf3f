"""The two websocket opening handshakes the proxy takes part in (RFC 6455 §4).

Towards the client we are the server: its request is checked here before anything reaches the
backend, its origin included. Towards the backend we are the client: we send a request of our
own (a fresh key, the client's subprotocols, no extensions, so frames can be relayed unchanged)
and check its answer, after any interim (1xx) responses, field by field: whatever the backend
sends, a fault is an ``UpstreamUnavailable`` (502) that names it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import UpstreamUnavailable
from .headers import Headers, check_field, drop_hop_by_hop
from .wsframes import accept_key, valid_key

#: Versions whose framing is the one RFC 6455 defines (7 and 8 were its last drafts; tornado
#: accepts them too).
CLIENT_VERSIONS = ("13", "8", "7")
#: The longest response head we wait for from a backend before calling it broken.
MAX_HEAD = 64 * 1024
#: Interim responses we skip before the 101 before calling the backend broken (tornado's own
#: HTTP client allows as many, ``http1connection._MAX_1XX_RESPONSES``).
MAX_INTERIM = 10

_STATUS_LINE = re.compile(r"HTTP/1\.[0-9] ([0-9]{3})(?: .*)?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2
# RFC 9110 §5.5: a field value is visible characters, obs-text, spaces and tabs; any other
# control character (tornado refuses to send one) makes the field malformed.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")

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


def same_origin(origin: str, host: str | None, fetch_site: str | None) -> bool:
    """Whether a browser's websocket comes from the page's own origin, by the rule tornado 6.6
    applies before it calls ``check_origin`` (``RequestHandler._check_cross_origin``); we apply
    it for every tornado, so 6.4 and 6.5 answer the same.

    - ``Sec-Fetch-Site: same-origin`` (or ``none``, the user's own navigation) says so: browsers
      set it and a page cannot (Fetch Metadata Request Headers, W3C).
    - Without it (an older browser, plain HTTP to a host other than localhost) the Origin's
      ``host[:port]`` must equal ``Host``, case aside (RFC 3986 §3.2.2). The scheme is not
      compared, as tornado doesn't: behind a TLS-terminating proxy it would take configuration.
    - ``same-site``, ``cross-site`` or anything else: not the same origin, whatever ``Origin``
      says; the application's own rule decides."""
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # "http://[::1" and the like: no origin a browser sends
        return False
    return bool(netloc) and netloc.lower() == (host or "").lower()


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


def _status(head: bytes) -> int | None:
    """The status code of a response head, or None if its first line is no HTTP/1.x status line
    (RFC 9112 §4: three ASCII digits)."""
    first = head.split(b"\r\n", 1)[0].decode("latin-1")
    match = _STATUS_LINE.fullmatch(first)
    return int(match.group(1)) if match else None


class AnswerReader:
    """Reads the backend's answer to our upgrade from bytes as they arrive, without I/O.

    A server may send any number of interim responses before its final one, and a client must
    skip those it does not expect (RFC 9110 §15.2): 100 Continue and 103 Early Hints come from
    real servers. So every 1xx head but a 101 is dropped, at most ``MAX_INTERIM`` of them; an
    interim response has no content (RFC 9110 §15.2), so its head is all of it. The first other
    head is the answer, returned with whatever came after it (frames the backend sent at once)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._buffer = bytearray()
        self._interim = 0

    def feed(self, data: bytes) -> tuple[bytes, bytes] | None:
        """(final head without its blank line, the bytes after it) once complete, else None."""
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if (end if end >= 0 else len(self._buffer)) > MAX_HEAD:
                too_long = f"sent a response head over {MAX_HEAD} bytes"
                raise UpstreamUnavailable(f"{self.where} {too_long}")
            if end < 0:
                return None
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            status = _status(head)
            if status is None or not 100 <= status < 200 or status == 101:
                return head, bytes(self._buffer)
            self._interim += 1
            if self._interim > MAX_INTERIM:
                raise UpstreamUnavailable(
                    f"{self.where} sent more than {MAX_INTERIM} interim (1xx) responses "
                    "before answering the websocket upgrade"
                )


def _field(line: str, where: str) -> tuple[str, str]:
    """One header line of a backend's 101 as (name, value); a line we could not pass on
    unchanged (RFC 9110 §5: a token, a colon, a value of visible characters; no obs-fold,
    RFC 9112 §5.2) is an error naming it."""
    name, sep, value = line.partition(":")
    if not sep or line[0] in " \t":
        raise UpstreamUnavailable(f"{where} sent a malformed header line in its 101: {line!r}")
    if not _TOKEN.fullmatch(name):
        raise UpstreamUnavailable(f"{where} sent a malformed header name in its 101: {name!r}")
    value = value.strip(" \t")
    if not _FIELD_VALUE.fullmatch(value):
        raise UpstreamUnavailable(
            f"{where} sent a malformed header in its 101: {name!r} has a control character "
            "in its value"
        )
    return name, value


def parse_backend_answer(
    head: bytes, key: str, offered: Sequence[str], where: str
) -> BackendAnswer:
    """Check the backend's final response head (up to and without the blank line) to our
    upgrade (``AnswerReader`` has skipped any interim ones)."""
    status = _status(head)
    if status is None:
        raise UpstreamUnavailable(f"{where} answered the websocket upgrade with no HTTP response")
    if status != 101:
        raise UpstreamUnavailable(f"{where} refused the websocket upgrade with HTTP {status}")
    lines = head.decode("latin-1").split("\r\n")
    fields = [_field(line, where) for line in lines[1:]]

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

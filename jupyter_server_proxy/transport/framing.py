"""How a response's body is delimited (RFC 9112 §6.3), and the framing a proxy must refuse.

Rules:
- ``Content-Length`` or ``Transfer-Encoding: chunked`` frame a body; 204 and 304 have none
  whatever their fields say; anything else runs until the backend closes the connection.
- Framing a proxy must not guess at is refused (RFC 9112 §6.1, §6.3: response smuggling):
  ``Transfer-Encoding`` with ``Content-Length`` and two ``Content-Length`` fields (both refused
  by the parser itself), and a transfer coding other than ``chunked``, which we would pass on
  undecoded (nginx refuses it too).
"""

from __future__ import annotations

from ..core.headers import Headers


class FramingRefused(Exception):
    """The answer's framing is one we will not pass on; the message says what the backend sent."""


def content_length(headers: Headers) -> int | None:
    """The ``Content-Length`` the parser accepted (it refuses a second, differing one)."""
    length = next((v for n, v in headers if n.lower() == "content-length"), None)
    return int(length) if length is not None and length.isdigit() else None


def delimited_by_close(status: int, headers: Headers, length: int | None) -> bool:
    """Whether a final answer's body ends only with the connection (RFC 9112 §6.3 item 8).
    Raises ``FramingRefused`` for a transfer coding we cannot pass on."""
    if length is not None:  # the parser refuses it together with Transfer-Encoding
        return False
    codings = [
        t.strip().lower()
        for n, v in headers
        if n.lower() == "transfer-encoding"
        for t in v.split(",")
    ]
    if codings and codings != ["chunked"]:
        # The parser would read "gzip" until the close and "gzip, chunked" as chunked; either
        # way the client would get bytes in a coding nobody announces to it.
        raise FramingRefused(f"sent a Transfer-Encoding we cannot pass on: {codings}")
    return not codings and status not in (204, 304)

"""Websocket frames as a relay sees them: boundaries, rules and the few frames we write ourselves.

The proxy relays websocket bytes as they are, frame for frame, without decoding payloads: the
client's frames are already masked (RFC 6455 §5.3 asks only that frames towards a server be
masked, with a key the client chose) and the backend's are unmasked, as the client expects. No
extension is negotiated on either side, so payload bytes mean the same on both.

What the relay must still know, and ``FrameScanner`` tracks from frame headers alone:
- where frames begin and end, so that a frame of ours (a keep-alive ping, a close) is written only
  between two relayed frames, never inside one;
- the rules of RFC 6455 §5.2–5.5 that a header shows: masking by direction, no reserved bits or
  opcodes, control frames unfragmented and at most 125 bytes, continuations only inside a message;
- each message's size, against the configured limit (checked at each frame's header, before any
  of that frame is forwarded);
- whether a close frame went by, after which nothing more may be sent that way (§5.5.1).

Payloads are the endpoints' business: whether a text message is valid UTF-8 is checked by the
browser and the app, as with any intermediary that does not terminate the websocket.

Rule: ``feed`` returns exactly the bytes that are safe to forward. A header split across reads is
held back until it is complete, so every forwarded byte belongs to a frame whose header was checked.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CONTROL = frozenset({CLOSE, PING, PONG})
_FIN = 0x80
_RSV = 0x70
_MASKED = 0x80

#: RFC 6455 §7.4.1 close codes.
NORMAL, GOING_AWAY, PROTOCOL_ERROR, TOO_BIG, INTERNAL_ERROR = 1000, 1001, 1002, 1009, 1011

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


@dataclass(frozen=True)
class Refusal:
    """A frame that breaks the rules: the close code and reason to end the connection with."""

    code: int
    reason: str


class FrameScanner:
    """Follows one direction of a websocket by its frame headers.

    Invariant: ``_remaining`` counts payload bytes of the current frame not yet seen; when it is 0
    the bytes forwarded so far end on a frame boundary.
    """

    __slots__ = (
        "_from_client",
        "_max_message",
        "_held",
        "_remaining",
        "_message",
        "_fragmented",
        "close_seen",
    )

    def __init__(self, *, from_client: bool, max_message_size: int) -> None:
        self._from_client = from_client
        self._max_message = max_message_size
        self._held = b""  # the start of a frame header that has not fully arrived
        self._remaining = 0
        self._message = 0  # payload bytes so far of the current data message
        self._fragmented = False  # a data message has begun and its final frame has not
        #: A close frame has been forwarded (or is being forwarded) in this direction.
        self.close_seen = False

    @property
    def at_boundary(self) -> bool:
        """The bytes forwarded so far end between two frames."""
        return self._remaining == 0

    @property
    def payload_left(self) -> int:
        """Payload bytes of the current frame not yet seen (0 at a boundary)."""
        return self._remaining

    def passed(self, count: int) -> None:
        """``count`` payload bytes of the current frame went by without ``feed`` (they were
        moved inside the kernel). Only payload may pass so: never a header."""
        if not 0 < count <= self._remaining:
            raise ValueError(f"{count} bytes cannot pass: {self._remaining} left in the frame")
        self._remaining -= count

    def feed(self, data: bytes) -> tuple[bytes, Refusal | None]:
        """Consume ``data``; return the bytes to forward now and, if a frame breaks the rules,
        why. On a refusal the forwarded bytes stop where the bad frame begins."""
        if self._held:
            data = self._held + data
            self._held = b""
        end = len(data)
        pos = min(self._remaining, end)
        self._remaining -= pos
        while pos < end:
            start = pos
            if end - pos < 2:
                self._held = data[start:]
                return data[:start], None
            first, second = data[pos], data[pos + 1]
            length = second & 0x7F
            header = 2 + (4 if second & _MASKED else 0)
            header += 2 if length == 126 else 8 if length == 127 else 0
            if end - pos < header:
                self._held = data[start:]
                return data[:start], None
            if length == 126:
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            refusal = self._check(first, bool(second & _MASKED), length)
            if refusal is not None:
                return data[:start], refusal
            pos += header
            taken = min(length, end - pos)
            pos += taken
            self._remaining = length - taken
        return data, None

    def _check(self, first: int, masked: bool, length: int) -> Refusal | None:
        if masked != self._from_client:
            return Refusal(
                PROTOCOL_ERROR,
                "a client's frames must be masked"
                if self._from_client
                else "a server's frames must not be masked",
            )
        if first & _RSV:
            return Refusal(PROTOCOL_ERROR, "reserved bits set without a negotiated extension")
        if length >> 63:
            return Refusal(PROTOCOL_ERROR, "frame length out of range")
        opcode = first & 0x0F
        final = bool(first & _FIN)
        if opcode in _CONTROL:
            if not final or length > 125:
                return Refusal(PROTOCOL_ERROR, "control frames must be whole and ≤ 125 bytes")
            if opcode == CLOSE:
                self.close_seen = True
            return None
        if opcode in (TEXT, BINARY):
            if self._fragmented:
                return Refusal(PROTOCOL_ERROR, "a new message began inside a fragmented one")
            self._message = length
        elif opcode == CONTINUATION:
            if not self._fragmented:
                return Refusal(PROTOCOL_ERROR, "a continuation frame outside a message")
            self._message += length
        else:
            return Refusal(PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
        self._fragmented = not final
        if self._message > self._max_message:
            return Refusal(TOO_BIG, f"message over the proxy's limit of {self._max_message} bytes")
        return None


def control_frame(opcode: int, payload: bytes = b"", *, masked: bool) -> bytes:
    """One control frame of ours; ``masked`` for frames towards a server (RFC 6455 §5.3)."""
    if opcode not in _CONTROL or len(payload) > 125:
        raise ValueError("a control frame has a control opcode and at most 125 bytes")
    if not masked:
        return bytes((_FIN | opcode, len(payload))) + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((_FIN | opcode, _MASKED | len(payload))) + key + body


def close_frame(code: int, reason: str, *, masked: bool) -> bytes:
    """A close frame; the reason is cut to fit 125 bytes at a character boundary."""
    encoded = reason.encode()[:123].decode(errors="ignore").encode()
    return control_frame(CLOSE, code.to_bytes(2, "big") + encoded, masked=masked)


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key`` (RFC 6455 §4.1: 16 random bytes, base64)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` that answers ``key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(key.encode() + _ACCEPT_GUID).digest()
    return base64.b64encode(digest).decode()


def valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.encode(), validate=True)) == 16
    except ValueError:
        return False

"""Websocket frames written and read by hand (RFC 6455 §5.2), for tests that talk to a server
over a raw socket: to send what a client library never would (a fragment, a bad opcode, a
frame split anywhere) and to see exactly what arrives."""

from __future__ import annotations

import asyncio
import os


def ws_frame_head(first: int, n: int, *, masked: bool) -> bytes:
    """A frame's head up to the masking key: ``first`` (FIN, RSV and opcode), the mask bit and
    the payload length ``n`` in the shortest of its three forms."""
    mask_bit = 0x80 if masked else 0
    if n < 126:
        return bytes((first, mask_bit | n))
    if n < 1 << 16:
        return bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    return bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")


def ws_frame(opcode: int, payload: bytes, *, masked: bool = True, final: bool = True) -> bytes:
    """One frame; a client's frames are masked (§5.3), a server's are not."""
    head = ws_frame_head((0x80 if final else 0) | opcode, len(payload), masked=masked)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def ws_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame a server sent: (opcode, payload)."""
    first, second = await reader.readexactly(2)
    assert not second & 0x80, "a server's frames are never masked (RFC 6455 §5.1)"
    n = second & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await reader.readexactly(n)

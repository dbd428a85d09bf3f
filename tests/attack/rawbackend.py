"""A small HTTP/1.1 and websocket backend on raw asyncio, for load tests: cheap per request, so
that the proxy, not the backend, is what a load test measures.

Every answer names the request it answers, so a client can tell its own answer from another's:
  /tag/<tag>        200, body ``<tag> <method> <body length> <crc32 of body>``; reads a body
                    framed by Content-Length or chunked (RFC 9112 §7.1)
  /big/<tag>/<n>    200 with n bytes, ``<tag> `` then "b" padding (clients leave mid-body)
  /hang             reads the request, never answers; counted in /stats while open
  /ws               a websocket (RFC 6455) that echoes each data frame back unmasked
  /stats            JSON: connections open now, hanging requests open now, requests served

Run: ``python rawbackend.py --port N``. It answers ``/stats`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import zlib

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_stats = {"open": 0, "hanging": 0, "served": 0, "websockets": 0}


class _Closed(Exception):
    pass


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return await reader.readexactly(int(headers.get("content-length", "0")))


def _answer(status: str, body: bytes, close: bool, ctype: str = "text/plain") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    )
    return head.encode() + body


async def _websocket(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
) -> None:
    accept = base64.b64encode(
        hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest()
    ).decode()
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    _stats["websockets"] += 1
    try:
        while True:
            first, second = await reader.readexactly(2)
            n = second & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            key = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
            data = await reader.readexactly(n)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(data))
            head = bytes((first, n)) if n < 126 else bytes((first, 126)) + n.to_bytes(2, "big")
            writer.write(head + payload)
            await writer.drain()
            if first & 0x0F == 0x8:  # close: echoed, then the TCP connection ends
                return
    finally:
        _stats["websockets"] -= 1


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    _stats["open"] += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            close = headers.get("connection", "").lower() == "close"
            parts = target.split("?", 1)[0].split("/")
            if parts[1] == "ws":
                await _websocket(reader, writer, headers)
                return
            body = await _read_body(reader, headers)
            _stats["served"] += 1
            if parts[1] == "tag":
                text = f"{parts[2]} {method} {len(body)} {zlib.crc32(body)}"
                writer.write(_answer("200 OK", text.encode(), close))
            elif parts[1] == "big":
                n = int(parts[3])
                prefix = f"{parts[2]} ".encode()
                writer.write(_answer("200 OK", prefix + b"b" * (n - len(prefix)), close))
            elif parts[1] == "hang":
                _stats["hanging"] += 1
                try:
                    await reader.read()  # until the proxy lets go of this connection
                finally:
                    _stats["hanging"] -= 1
                return
            elif parts[1] == "stats":
                writer.write(_answer("200 OK", json.dumps(_stats).encode(), close, "text/json"))
            else:
                writer.write(_answer("404 Not Found", b"no such route", close))
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        _stats["open"] -= 1
        writer.close()


async def _main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=2048)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(_main(parser.parse_args().port))

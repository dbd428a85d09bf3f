"""Raw asyncio HTTP/1.1 and websocket clients for the attack suite: cheap enough to run thousands
of requests from one test process, and able to send what a well-behaved library never would.

Also what the suite measures in a server process (descriptors and resident memory, from /proc).
"""

from __future__ import annotations

import asyncio
import base64
import os

from tests.conftest import JupyterServer


class Answer:
    """A response as the client saw it; ``status`` 0 when none arrived."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None


async def read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return status, headers


async def read_answer(reader: asyncio.StreamReader, *, head_request: bool = False) -> Answer:
    """One whole response, framed as RFC 9112 §6.3 says."""
    status, headers = await read_head(reader)
    answer = Answer(status, headers, b"")
    if head_request or status in (204, 304) or 100 <= status < 200:
        return answer
    if (answer.header("Transfer-Encoding") or "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        answer.body = b"".join(parts)
    elif answer.header("Content-Length") is not None:
        answer.body = await reader.readexactly(int(answer.header("Content-Length") or 0))
    else:
        answer.body = await reader.read()
    return answer


def request_bytes(
    server: JupyterServer,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    close: bool = False,
    auth: bool = True,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    if auth:
        lines.append(f"Authorization: token {server.token}")
    if close:
        lines.append("Connection: close")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def chunked(parts: list[bytes]) -> bytes:
    """A body in chunked coding (RFC 9112 §7.1), one chunk per part."""
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


async def fetch(
    server: JupyterServer, path: str, *, method: str = "GET", **kwargs: object
) -> Answer:
    """One request on a connection of its own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request_bytes(server, method, path, close=True, **kwargs))  # type: ignore[arg-type]
        return await asyncio.wait_for(read_answer(reader, head_request=method == "HEAD"), 60)
    finally:
        writer.transport.abort()


def ws_upgrade(server: JupyterServer, path: str, *, auth: bool = True) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return request_bytes(
        server,
        "GET",
        path,
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
        },
        auth=auth,
    )


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))

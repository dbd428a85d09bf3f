"""Lean load generators for the byte-heavy workloads: HTTP/1.1 and websocket clients on blocking
sockets that do only what the protocol needs.

Why not aiohttp (which still drives the small GETs): reading a body through its client costs
more CPU per megabyte than a proxy spends forwarding it, and its websocket client masks and
unmasks every message in the harness. On two shared cores that client became the bottleneck of
every target, so the table showed how fast aiohttp is rather than how the proxies differ. Here a
request head is written once, bodies are read with `recv_into` into one reused buffer and
dropped, the upload's chunk and each websocket frame are framed (and masked) once before the
clock starts. Every read has a socket timeout and every loop a deadline.

The framing and handshake checks here are written apart from ``jupyter_server_proxy.core`` on
purpose: a load generator that shared the code under test would agree with its mistakes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import time
from urllib.parse import urlsplit

#: Read buffer size; also the largest single read.
BUF = 1 << 20
#: RFC 6455 §1.3: the GUID the server appends to the key in its accept header.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _Reader:
    """Buffered reads from a socket: `fill`, `take` and `skip` without a copy per read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray(BUF)
        self.view = memoryview(self.buf)
        self.start = 0
        self.end = 0

    def _recv(self) -> None:
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.buf):  # keep what is unread, make room behind it
            self.buf[: self.end - self.start] = self.buf[self.start : self.end]
            self.end -= self.start
            self.start = 0
        n = self.sock.recv_into(self.view[self.end :])
        if not n:
            raise ConnectionError("the server closed the connection")
        self.end += n

    def take(self, n: int) -> bytes:
        if n > len(self.buf):  # a kept message larger than the buffer: grow it once
            self.view.release()
            self.buf.extend(bytes(n - len(self.buf)))
            self.view = memoryview(self.buf)
        while self.end - self.start < n:
            self._recv()
        self.start += n
        return bytes(self.view[self.start - n : self.start])

    def skip(self, n: int, deadline: float) -> None:
        """Consume `n` bytes: first what is buffered, then straight from the socket, never
        reading past them (what follows stays in the kernel)."""
        buffered = min(n, self.end - self.start)
        self.start += buffered
        n -= buffered
        while n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n} bytes still to read at the deadline")
            got = self.sock.recv_into(self.view, min(n, BUF))
            if not got:
                raise ConnectionError(f"the server closed the connection with {n} bytes to go")
            n -= got

    def head(self) -> tuple[int, dict[str, str]]:
        """Read an HTTP/1.1 response head: status and headers (lower-case names)."""
        while (at := self.buf.find(b"\r\n\r\n", self.start, self.end)) < 0:
            if self.end - self.start > 64 * 1024:
                raise ConnectionError("response head over 64 KiB")
            self._recv()
        lines = bytes(self.view[self.start : at]).decode("latin-1").split("\r\n")
        self.start = at + 4
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers


def _open(url: str, timeout: float) -> tuple[socket.socket, str, str]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if secure:  # only the `direct` target of `tlsdownload`: the bench's own backend, unverified
        sock = ssl._create_unverified_context().wrap_socket(sock, server_hostname=host)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return sock, parts.netloc, target


def _request_head(method: str, target: str, netloc: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _body_length(status: int, headers: dict[str, str], what: str) -> int:
    if status != 200:
        raise RuntimeError(f"{what} answered {status}")
    if "content-length" not in headers:
        raise RuntimeError(f"{what} answered without a Content-Length ({headers})")
    return int(headers["content-length"])


def download(url: str, headers: dict[str, str], size: int, deadline: float) -> int:
    """GET `url`, read its body (of Content-Length `size`) and drop it; bytes read."""
    sock, netloc, target = _open(url, timeout=30)
    with sock:
        sock.sendall(_request_head("GET", target, netloc, headers))
        reader = _Reader(sock)
        length = _body_length(*reader.head(), what=url)
        if length != size:
            raise RuntimeError(f"Content-Length {length}, expected {size}")
        reader.skip(length, deadline)
        return length


def upload(url: str, headers: dict[str, str], size: int, deadline: float) -> int:
    """POST `size` bytes as a chunked body in 1 MiB chunks; the byte count the server answers
    (its JSON ``{"received": n}``)."""
    chunk = 1 << 20
    whole = b"%x\r\n" % chunk + b"u" * chunk + b"\r\n"
    sock, netloc, target = _open(url, timeout=30)
    with sock:
        sock.sendall(
            _request_head("POST", target, netloc, {**headers, "Transfer-Encoding": "chunked"})
        )
        sent = 0
        while sent < size:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sent} of {size} bytes sent at the deadline")
            n = min(chunk, size - sent)
            sock.sendall(whole if n == chunk else b"%x\r\n" % n + b"u" * n + b"\r\n")
            sent += n
        sock.sendall(b"0\r\n\r\n")
        reader = _Reader(sock)
        length = _body_length(*reader.head(), what=url)
        answer = json.loads(reader.take(length))
        if not isinstance(answer, dict) or not isinstance(answer.get("received"), int):
            raise RuntimeError(f"{url} answered {answer!r:.200}, not a byte count")
        return answer["received"]


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455 §5.2): FIN, `opcode`, masked with a random key."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    mask = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return head + key + masked


class WebSocket:
    """One client websocket; `echo` sends a prepared frame and reads the echoed message."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 30) -> None:
        self.sock, netloc, target = _open(url.replace("ws://", "http://", 1), timeout)
        key = base64.b64encode(os.urandom(16))
        upgrade = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key.decode(),
            "Sec-WebSocket-Version": "13",
            **headers,
        }
        self.sock.sendall(_request_head("GET", target, netloc, upgrade))
        self.reader = _Reader(self.sock)
        status, answer = self.reader.head()
        if status != 101:
            self.sock.close()
            raise RuntimeError(f"websocket handshake answered {status}")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if answer.get("sec-websocket-accept") != accept:
            self.sock.close()
            raise RuntimeError("websocket handshake: wrong Sec-WebSocket-Accept")

    @staticmethod
    def frame(payload: bytes) -> bytes:
        return _ws_frame(0x2, payload)

    def receive(self, deadline: float, keep: bool = False) -> tuple[int, bytes]:
        """Read one data message: its length, and its payload when `keep` (else dropped).
        Pings are answered, pongs skipped, a close frame ends with an error naming its code."""
        total = 0
        kept = b""
        while True:
            b0, b1 = self.reader.take(2)
            if b1 & 0x80:
                raise ConnectionError("the server masked a frame (RFC 6455 §5.1)")
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self.reader.take(2), "big")
            elif n == 127:
                n = int.from_bytes(self.reader.take(8), "big")
            opcode = b0 & 0x0F
            if opcode == 0x8:
                body = self.reader.take(n)
                code = int.from_bytes(body[:2], "big") if n >= 2 else 1005
                raise ConnectionError(f"the server closed the websocket ({code} {body[2:]!r})")
            if opcode == 0x9:
                self.sock.sendall(_ws_frame(0xA, self.reader.take(n)))
                continue
            if opcode == 0xA:
                self.reader.skip(n, deadline)
                continue
            total += n
            if keep:
                kept += self.reader.take(n)
            else:
                self.reader.skip(n, deadline)
            if b0 & 0x80:
                return total, kept

    def close(self) -> None:
        """Send a close frame (1000) and wait briefly for the server's, then close the socket."""
        try:
            self.sock.sendall(_ws_frame(0x8, (1000).to_bytes(2, "big")))
            self.sock.settimeout(2)
            self.receive(time.monotonic() + 2)
        except (OSError, ConnectionError):
            pass  # the close frame (or the end of the connection) is what we waited for
        finally:
            self.sock.close()

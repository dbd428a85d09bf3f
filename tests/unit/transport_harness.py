"""An in-memory transport for byte-level tests of the HTTP client (``transport/``), after
httpcore's ``MockStream`` and h11's ``ConnectionPair``: no socket, no server. The test writes
the backend's side byte for byte, in whatever pieces it chooses, and reads what the client wrote.

``feed`` hands bytes to the protocol as asyncio's selector transport does for a
``BufferedProtocol`` (``get_buffer`` then ``buffer_updated``), and only while reading is not
paused: bytes fed while it is wait until the protocol resumes reading, as they would wait in the
kernel.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.connection import Connection
from jupyter_server_proxy.transport.pool import Upstream, UpstreamSettings, request_head
from jupyter_server_proxy.transport.response import Response

TARGET = Target(host="127.0.0.1", port=8888)
T = TypeVar("T")


class FakeTransport(asyncio.Transport):
    def __init__(self, protocol: Connection) -> None:
        super().__init__()
        self.protocol = protocol
        self.written = bytearray()
        self.reading = True
        self.closed = False
        self.pending: deque[bytes] = deque()
        #: One end of a socket pair stands for the connection's socket, so that ``quiet()``
        #: polls something real; the test writes into ``peer`` to leave bytes unread.
        self.sock, self.peer = socket.socketpair()

    # -- the client's side -----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "a write to a closed connection"
        self.written += data

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
        asyncio.get_running_loop().call_soon(self._pump)

    def is_reading(self) -> bool:
        return self.reading

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self._lost)

    def _lost(self) -> None:
        self.protocol.connection_lost(None)
        self.sock.close()
        self.peer.close()

    # -- the backend's side ----------------------------------------------------------------

    def feed(self, data: bytes, *, piece: int = 0) -> None:
        """The backend sends ``data``, arriving in reads of ``piece`` bytes (0: one read)."""
        step = piece or max(len(data), 1)
        for i in range(0, len(data), step):
            self.pending.append(data[i : i + step])
        self._pump()

    def _pump(self) -> None:
        while self.pending and self.reading and not self.closed:
            data = self.pending.popleft()
            buffer = self.protocol.get_buffer(len(data))
            buffer[: len(data)] = data
            self.protocol.buffer_updated(len(data))

    def end(self) -> None:
        """The backend closes its side (a FIN): EOF, then the connection is gone."""
        assert not self.pending, "EOF before the bytes sent ahead of it were read"
        if self.closed:
            return
        keep_open = self.protocol.eof_received()
        assert not keep_open
        self.abort()

    def reset(self) -> None:
        """The connection is gone without an EOF (a reset)."""
        self.pending.clear()
        self.abort()


def open_connection(pool: Upstream, target: Target = TARGET) -> tuple[Connection, FakeTransport]:
    """A connection of ``pool`` on a fake transport, as ``Upstream`` would have made it."""
    conn = Connection(pool, pool._key(target), target)
    transport = FakeTransport(conn)
    conn.connection_made(transport)
    pool._all.add(conn)
    return conn, transport


async def start(
    conn: Connection,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    read_timeout: float = 0,
) -> asyncio.Future[Response]:
    """Begin an exchange on ``conn`` (the request is written when this returns): the task
    ends with the final head."""
    head, chunked, last = request_head(method, conn.target, "/", headers or [], None)
    task = asyncio.ensure_future(
        conn.exchange(
            head,
            None,
            chunked=chunked,
            no_body_answer=method == "HEAD",
            last=last,
            read_timeout=read_timeout,
            url=f"http://{conn.key}/",
        )
    )
    await asyncio.sleep(0)
    return task


async def settle() -> None:
    """Let callbacks scheduled by the last step run (a few turns of the loop)."""
    for _ in range(5):
        await asyncio.sleep(0)


def run(test: Callable[[Upstream], Awaitable[T]], settings: UpstreamSettings | None = None) -> T:
    """Run ``test`` with a pool of its own, which is closed after it."""

    async def main() -> T:
        pool = Upstream(settings)
        try:
            return await test(pool)
        finally:
            await pool.close()
            await settle()

    return asyncio.run(main())

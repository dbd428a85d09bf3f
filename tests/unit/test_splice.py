"""Moving bytes between real sockets inside the kernel (``splice.py``): exactly the count asked
for, in order, with backpressure, and every descriptor it opened closed however it ends."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from jupyter_server_proxy.splice import AVAILABLE, End, Splice

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="splice(2) is Linux's")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
    return a, b


@contextmanager
def two_pairs(kind: str) -> Iterator[tuple[socket.socket, ...]]:
    """writer -> src (spliced) -> dst -> reader, all non-blocking."""
    make = tcp_pair if kind == "tcp" else socket.socketpair
    pairs = [make(), make()]
    socks = (*pairs[0], *pairs[1])
    for s in socks:
        s.setblocking(False)
    try:
        yield socks
    finally:
        for s in socks:
            s.close()


def start(src: int, dst: int, count: int) -> tuple[Splice, asyncio.Future[End], list[None]]:
    """A splice in the running loop: it, its ending, and one entry per read it reported."""
    ended: asyncio.Future[End] = asyncio.get_running_loop().create_future()
    reads: list[None] = []
    splice = Splice(src, dst, count, on_read=lambda: reads.append(None), on_end=ended.set_result)
    return splice, ended, reads


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_moves_exactly_the_count_and_leaves_what_follows(kind: str) -> None:
    """20 MiB of random bytes, more than every buffer on the way holds together, so the splice
    has to wait for the reader (backpressure) and for the writer; the bytes after the count
    stay in the source socket for its owner."""
    count = 20 << 20
    payload = os.urandom(count)
    after = b"the next frame header"

    async def go() -> None:
        loop = asyncio.get_running_loop()
        with two_pairs(kind) as (writer, src, dst, reader):
            before = open_fds()
            _, ended, reads = start(src.fileno(), dst.fileno(), count)
            sending = loop.create_task(loop.sock_sendall(writer, payload + after))
            got = bytearray()
            while len(got) < count:
                await asyncio.sleep(0.001 if len(got) < count // 2 else 0)  # a slow reader first
                got += await loop.sock_recv(reader, 1 << 20)
            assert await asyncio.wait_for(ended, 30) is End.DONE
            assert reads  # the relay's activity clock hears of spliced bytes too
            await asyncio.wait_for(sending, 30)
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
            rest = await asyncio.wait_for(loop.sock_recv(src, 1024), 30)
            assert rest == after
            assert open_fds() == before

    asyncio.run(go())


def test_source_ending_early_is_reported_and_cleaned_up() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        with two_pairs("tcp") as (writer, src, dst, reader):
            before = open_fds()
            _, ended, _ = start(src.fileno(), dst.fileno(), 1 << 20)
            await loop.sock_sendall(writer, b"only this")
            writer.shutdown(socket.SHUT_WR)
            assert await asyncio.wait_for(ended, 30) is End.SRC_ENDED
            assert await asyncio.wait_for(loop.sock_recv(reader, 100), 30) == b"only this"
            assert open_fds() == before

    asyncio.run(go())


def test_destination_gone_is_reported_and_cleaned_up() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        with two_pairs("tcp") as (writer, src, dst, reader):
            before = open_fds()
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            reader.close()  # with linger 0: a reset, so writing to dst fails
            _, ended, _ = start(src.fileno(), dst.fileno(), 8 << 20)
            sending = loop.create_task(loop.sock_sendall(writer, b"d" * (8 << 20)))
            assert await asyncio.wait_for(ended, 30) is End.DST_FAILED
            sending.cancel()
            assert open_fds() == before - 1  # the reader we closed

    asyncio.run(go())


def test_cancel_closes_everything_and_reports_nothing() -> None:
    async def go() -> None:
        with two_pairs("unix") as (_writer, src, dst, _reader):
            before = open_fds()
            splice, ended, _ = start(src.fileno(), dst.fileno(), 100)
            assert open_fds() == before + 4  # two duplicates and a pipe
            splice.cancel()
            splice.cancel()  # twice is harmless
            assert open_fds() == before
            await asyncio.sleep(0)
            assert not ended.done()
            # The originals are untouched: still usable by their owner.
            src.getsockname()

    asyncio.run(go())


def test_nothing_to_move_is_refused() -> None:
    async def go() -> None:
        with two_pairs("unix") as (_w, src, dst, _r), pytest.raises(ValueError):
            Splice(src.fileno(), dst.fileno(), 0, on_read=lambda: None, on_end=lambda _: None)

    asyncio.run(go())

"""A relay side on a real socket (``socketside.py``): writes with backpressure, closing after the
last byte, ends reported once, and moves of a payload inside the kernel that take exactly the
count asked for, wait for a slow reader and give back every descriptor."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from jupyter_server_proxy.core.wsframes import FrameScanner
from jupyter_server_proxy.relay.socketside import HIGH_WATER, SocketSide
from jupyter_server_proxy.relay.splicepipes import PIPES_KEPT, SPLICE_AVAILABLE
from tests.conftest import poll_until

needs_splice = pytest.mark.skipif(not SPLICE_AVAILABLE, reason="splice(2) is Linux's")


class Recorder:
    """The relay's end of a side: what the side reported."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.fulls: list[bool] = []  # each blocked() report
        self.ends = 0
        self.arrived = asyncio.Event()
        self.loop = asyncio.get_running_loop()  # the sides run on the test's loop

    def received(self, side: SocketSide, data: bytes) -> None:
        self.data += data
        self.arrived.set()

    def blocked(self, side: SocketSide, full: bool) -> None:
        self.fulls.append(full)

    def ended(self, side: SocketSide) -> None:
        self.ends += 1
        self.arrived.set()


def open_sockets() -> int:
    return sum(os.readlink(f"/proc/self/fd/{fd}").startswith("socket:") for fd in fds())


def open_pipes() -> int:
    return sum(os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:") for fd in fds())


def fds() -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            os.readlink(f"/proc/self/fd/{fd}")
        except FileNotFoundError:
            continue  # the descriptor listdir itself used
        found.append(fd)
    return found


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
    return a, b


@contextmanager
def chain(kind: str) -> Iterator[tuple[socket.socket, SocketSide, SocketSide, socket.socket]]:
    """writer -> [src side] ... [dst side] -> reader; the outer ends non-blocking."""
    make = tcp_pair if kind == "tcp" else socket.socketpair
    (writer, a), (b, reader) = make(), make()
    writer.setblocking(False)
    reader.setblocking(False)
    scanner = FrameScanner(from_client=True, max_message_size=1 << 30)
    src = SocketSide(a, scanner, masked=False)
    dst = SocketSide(b, scanner, masked=False)
    try:
        yield writer, src, dst, reader
    finally:
        src.abort()
        dst.abort()
        writer.close()
        reader.close()


@needs_splice
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_a_move_takes_exactly_its_count_and_the_side_reads_on(kind: str) -> None:
    """20 MiB of random bytes, more than every buffer on the way holds together, to a reader
    that is slow at first: the move stalls and resumes; the bytes after the count are read by
    the side itself."""
    count = 20 << 20
    payload = os.urandom(count)
    after = b"the next frame header"

    async def go() -> None:
        loop = asyncio.get_running_loop()
        with chain(kind) as (writer, src, dst, reader):
            relay = Recorder()
            src.attach(relay)
            dst.attach(relay)
            done, reads = asyncio.Event(), []
            src.move_to(dst, count, on_read=lambda: reads.append(1), on_done=done.set)
            assert not src.can_move_out()  # the move started
            sending = loop.create_task(loop.sock_sendall(writer, payload + after))
            got = bytearray()
            while len(got) < count:
                # The behaviour under test: a reader that is slow at first.
                await asyncio.sleep(0.001 if len(got) < count // 2 else 0)
                got += await loop.sock_recv(reader, 1 << 20)
            await asyncio.wait_for(done.wait(), 30)
            await asyncio.wait_for(sending, 30)
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
            assert reads  # the relay's activity clock hears of moved bytes too
            await asyncio.wait_for(relay.arrived.wait(), 30)
            assert relay.data == after and relay.ends == 0
            assert src.can_move_out() and dst.can_move_in()  # the move let go of both

    asyncio.run(go())


@needs_splice
def test_source_ending_inside_a_move_is_reported_once() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        sockets = open_sockets()
        with chain("tcp") as (writer, src, dst, reader):
            relay = Recorder()
            src.attach(relay)
            dst.attach(relay)
            src.move_to(dst, 1 << 20, on_read=lambda: None, on_done=lambda: None)
            assert not src.can_move_out()  # the move started
            await loop.sock_sendall(writer, b"only this")
            writer.shutdown(socket.SHUT_WR)
            await asyncio.wait_for(relay.arrived.wait(), 30)
            assert relay.ends == 1 and not relay.data
            assert await asyncio.wait_for(loop.sock_recv(reader, 100), 30) == b"only this"
        assert open_sockets() == sockets
        assert open_pipes() <= 2 * PIPES_KEPT  # only the few kept for the next move

    asyncio.run(go())


@needs_splice
def test_destination_gone_inside_a_move_is_reported_from_the_loop() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        with chain("tcp") as (writer, src, dst, reader):
            relay = Recorder()
            src.attach(relay)
            dst.attach(relay)
            reader.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            reader.close()  # linger 0: a reset, so writing to dst fails
            src.move_to(dst, 8 << 20, on_read=lambda: None, on_done=lambda: None)
            assert not src.can_move_out()  # the move started
            sending = loop.create_task(loop.sock_sendall(writer, b"d" * (8 << 20)))
            await asyncio.wait_for(relay.arrived.wait(), 30)
            assert relay.ends == 1
            sending.cancel()

    asyncio.run(go())


def test_writes_past_the_high_water_block_the_relay_until_drained() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        with chain("unix") as (_writer, _src, side, reader):
            relay = Recorder()
            side.attach(relay)
            block = b"w" * (256 << 10)
            written = 0
            while not relay.fulls:  # bounded: the socket's buffer is finite
                side.write(block)
                written += len(block)
                assert written < 256 << 20
            assert relay.fulls == [True]
            got = 0
            while got < written:
                got += len(await asyncio.wait_for(loop.sock_recv(reader, 1 << 20), 30))
            assert relay.fulls == [True, False]
            assert written > HIGH_WATER

    asyncio.run(go())


def test_close_sends_what_was_written_then_ends_the_connection() -> None:
    async def go() -> None:
        loop = asyncio.get_running_loop()
        with chain("tcp") as (_writer, _src, side, reader):
            relay = Recorder()
            side.attach(relay)
            data = os.urandom(4 << 20)  # more than the socket takes at once
            side.write(data)
            side.close()
            side.write(b"after close: dropped")
            got = bytearray()
            while chunk := await asyncio.wait_for(loop.sock_recv(reader, 1 << 20), 30):
                got += chunk
            assert got == data
            assert relay.ends == 0  # the relay closed it: nothing to report

    asyncio.run(go())


def test_close_gives_up_on_a_peer_that_stopped_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """A closing side whose peer reads nothing more does not hold its socket forever."""
    monkeypatch.setattr("jupyter_server_proxy.relay.socketside.FLUSH_LIMIT", 0.2)

    async def go() -> None:
        with chain("tcp") as (_writer, _src, side, reader):
            relay = Recorder()
            side.attach(relay)
            side.write(b"s" * (16 << 20))  # far more than the socket buffers take
            side.close()
            sockets = open_sockets()
            await poll_until(lambda: open_sockets() < sockets, "the side to give up", 10)
            assert open_sockets() == sockets - 1  # the side's socket is closed
            assert relay.ends == 0

    asyncio.run(go())

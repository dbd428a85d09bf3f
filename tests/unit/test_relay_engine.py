"""The engine's websocket relays on real sockets: where a relay runs (the relay thread, or the
server's loop when ``websocket_relay_thread`` is off), and stopping while relays start and end
on both threads, which must close every one of them and raise nothing."""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import threading
import time

import pytest

from jupyter_server_proxy.core.wsframes import CLOSE, TEXT, FrameScanner
from jupyter_server_proxy.relay.engine import Engine, EngineSettings
from jupyter_server_proxy.relay.pipe import socket_side
from jupyter_server_proxy.relay.socketside import SocketSide
from jupyter_server_proxy.relay.thread import AVAILABLE
from tests.conftest import poll_until
from tests.unit.test_core_websocket import frame

LIMIT = 1 << 20


class Pair:
    """One relayed websocket on unix socket pairs: the test holds the far ends."""

    def __init__(self, engine: Engine) -> None:
        self.client_far, client_near = socket.socketpair()
        backend_near, self.backend_far = socket.socketpair()
        self.activity_threads: set[int] = set()
        client = socket_side(client_near, b"", LIMIT)
        backend_scanner = FrameScanner(from_client=False, max_message_size=LIMIT)
        backend = SocketSide(backend_near, backend_scanner, masked=True)
        engine.relay(client, backend, on_activity=self._active)

    def _active(self) -> None:
        self.activity_threads.add(threading.get_ident())

    def close(self) -> None:
        self.client_far.close()
        self.backend_far.close()


def read_to_end(socks: list[socket.socket], limit: float = 30.0) -> dict[socket.socket, bytes]:
    """Everything each socket receives until its end, within ``limit`` seconds in all."""
    got = {s: b"" for s in socks}
    open_ = set(socks)
    deadline = time.monotonic() + limit
    while open_ and time.monotonic() < deadline:
        ready, _, _ = select.select(list(open_), [], [], deadline - time.monotonic())
        for s in ready:
            data = s.recv(65536)
            got[s] += data
            if not data:
                open_.discard(s)
    assert not open_, f"{len(open_)} of {len(socks)} connections were never closed"
    return got


def relayed(pair: Pair, payload: bytes) -> bytes:
    pair.client_far.sendall(frame(TEXT, payload, masked=True))
    want = frame(TEXT, payload, masked=True)
    pair.backend_far.settimeout(30)
    got = b""
    while len(got) < len(want):
        data = pair.backend_far.recv(65536)
        assert data, "the relay ended the connection"
        got += data
    return got


async def activity_seen(pair: Pair) -> None:
    """Wait (bounded) for the relay's activity callback: it runs after the frame was sent on,
    so the far side may have the frame a moment before the callback has run."""
    await poll_until(lambda: pair.activity_threads, "the relay to report activity", 5, 0.01)


@pytest.mark.skipif(not AVAILABLE, reason="the relay thread needs epoll")
def test_by_default_a_relay_between_plain_sockets_runs_on_the_relay_thread() -> None:
    async def go() -> None:
        engine = Engine()
        pair = Pair(engine)
        payload = b"to the backend"
        assert await asyncio.to_thread(relayed, pair, payload) == frame(TEXT, payload, masked=True)
        await activity_seen(pair)
        assert threading.get_ident() not in pair.activity_threads
        await engine.close()
        pair.close()

    asyncio.run(go())


def test_with_the_relay_thread_off_a_relay_runs_on_the_servers_loop() -> None:
    """``websocket_relay_thread = False``: frames still pass, and the relay's calls come on
    the loop that called ``relay`` (its activity callback proves which thread it ran on)."""

    async def go() -> None:
        engine = Engine(EngineSettings(websocket_relay_thread=False))
        pair = Pair(engine)
        payload = b"to the backend"
        assert await asyncio.to_thread(relayed, pair, payload) == frame(TEXT, payload, masked=True)
        await activity_seen(pair)
        assert pair.activity_threads == {threading.get_ident()}
        await engine.close()
        ends = await asyncio.to_thread(read_to_end, [pair.client_far, pair.backend_far])
        assert ends[pair.client_far][0] == 0x80 | CLOSE  # a close frame, then the end
        pair.close()

    asyncio.run(go())


@pytest.mark.parametrize("relay_thread", [True, False])
def test_stopping_while_relays_start_and_end_closes_every_one(
    relay_thread: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Relays that start before, during and after ``close``, while another thread hangs up
    half of them: every connection ends, with no error on either thread. (The set of relays is
    owned by one thread each, so this holds without the GIL too.)"""
    caplog.set_level(logging.ERROR)

    async def go() -> None:
        engine = Engine(EngineSettings(websocket_relay_thread=relay_thread))
        pairs = [Pair(engine) for _ in range(40)]
        hang_ups = pairs[::2]
        hanging_up = threading.Thread(target=lambda: [p.client_far.close() for p in hang_ups])
        hanging_up.start()
        closing = asyncio.ensure_future(engine.close())
        for _ in range(40):  # relays that start while ``close`` runs, and after
            pairs.append(Pair(engine))
            await asyncio.sleep(0)  # one turn of ``close`` between starts: the interleaving
        await closing
        pairs.append(Pair(engine))
        hanging_up.join()
        far_ends = [p.backend_far for p in pairs]
        far_ends += [p.client_far for p in pairs if p not in hang_ups]
        await asyncio.to_thread(read_to_end, far_ends)
        for p in pairs:
            p.close()

    asyncio.run(go())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

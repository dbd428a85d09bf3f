"""``within``: a time limit that keeps both the awaited result and a cancel of the caller.

The case that matters is the one ``asyncio.wait_for`` gets wrong before Python 3.12: the caller
is cancelled in the same turn of the loop as the awaited operation completes. The proxy meets it
when a client leaves just as the backend connection for its request is made; a lost cancel left
that request waiting on a backend that never answers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.connect import connect
from jupyter_server_proxy.transport.timelimit import within
from tests.conftest import poll_until


def test_a_cancel_in_the_turn_the_result_comes_is_raised() -> None:
    async def main() -> str:
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting = asyncio.create_task(within(done, 10))
        await asyncio.sleep(0)  # one turn: the task runs up to its wait on ``done``
        done.set_result("connection")
        waiting.cancel()
        try:
            return await waiting
        except asyncio.CancelledError:
            return "cancelled"

    assert asyncio.run(main()) == "cancelled"


def test_the_limit_raises_timeout_and_zero_means_none() -> None:
    async def main() -> tuple[bool, str]:
        never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        try:
            await within(never, 0.01)
            timed_out = False
        except asyncio.TimeoutError:
            timed_out = True
        soon = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.05, soon.set_result, "answer")
        return timed_out, await within(soon, 0)

    assert asyncio.run(main()) == (True, "answer")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_a_connect_cancelled_as_it_completes_raises_and_closes_what_it_opened(
    listener: socket.socket,
) -> None:
    """The cancel arrives in the turn between the connection being made and the connecting
    task waking up (a client that left at that moment): ``connect`` raises it and the new
    connection is closed, not handed back to a request nobody waits for."""

    class Canceller(asyncio.Protocol):
        def __init__(self, task: asyncio.Task[object]) -> None:
            self.task = task
            self.transport: asyncio.BaseTransport | None = None
            self.lost = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            asyncio.get_running_loop().call_soon(self.task.cancel)

        def connection_lost(self, exc: Exception | None) -> None:
            self.lost = True

    async def main() -> tuple[str, bool]:
        target = Target(host="127.0.0.1", port=listener.getsockname()[1])
        protocol: Canceller | None = None

        async def connecting() -> object:
            assert protocol is not None
            return await connect(target, protocol, 10, congestion_control="")

        task: asyncio.Task[object] = asyncio.create_task(connecting())
        protocol = Canceller(task)
        try:
            await task
            outcome = "connected"
        except asyncio.CancelledError:
            outcome = "cancelled"
        # The close is delivered within a few turns of the loop.
        await poll_until(lambda: protocol.lost, "the connection's close", 5, 0.01)
        return outcome, protocol.lost

    assert asyncio.run(main()) == ("cancelled", True)

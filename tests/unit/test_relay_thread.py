"""The relay's own loop (``thread.py``): readiness callbacks on its thread, only while
registered; timers in order, cancellable; calls from other threads; a failing callback is logged
and the loop goes on."""

from __future__ import annotations

import functools
import logging
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from jupyter_server_proxy.relay.thread import AVAILABLE, RelayLoop, shared_loop

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="the relay loop needs epoll")

WAIT = 10.0  # a bound, never a measurement


@pytest.fixture
def loop() -> RelayLoop:
    relay_loop = shared_loop()
    assert relay_loop is not None
    return relay_loop


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made: list[tuple[socket.socket, socket.socket]] = []
    yield made
    for a, b in made:
        a.close()
        b.close()


def on(loop: RelayLoop, fn: Callable[[], object]) -> None:
    """Run ``fn`` on the loop's thread and wait for it."""
    loop.run(fn).result(WAIT)


def test_the_shared_loop_is_one_thread_for_the_process(loop: RelayLoop) -> None:
    assert shared_loop() is loop
    names: list[str] = []
    on(loop, lambda: names.append(threading.current_thread().name))
    assert names == ["jupyter-server-proxy relay"]


def test_reader_and_writer_run_on_the_loop_thread_until_removed(
    loop: RelayLoop, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    a, b = socket.socketpair()
    pairs.append((a, b))
    a.setblocking(False)
    got = bytearray()
    arrived, writable = threading.Event(), threading.Event()

    def readable() -> None:
        got.extend(a.recv(100))
        arrived.set()

    def can_write() -> None:
        loop.remove_writer(a.fileno())  # else it would be called on every turn
        writable.set()

    on(loop, lambda: loop.add_reader(a.fileno(), readable))
    on(loop, lambda: loop.add_writer(a.fileno(), can_write))  # reader and writer on one fd
    assert writable.wait(WAIT)
    b.send(b"one")
    assert arrived.wait(WAIT) and bytes(got) == b"one"

    on(loop, lambda: loop.remove_reader(a.fileno()))
    arrived.clear()
    b.send(b"two")
    on(loop, lambda: None)  # a turn that would have seen it
    on(loop, lambda: None)
    assert not arrived.is_set() and bytes(got) == b"one"
    assert a.recv(100) == b"two"


def test_a_callback_removed_earlier_in_the_same_turn_is_not_called(
    loop: RelayLoop, pairs: list[tuple[socket.socket, socket.socket]]
) -> None:
    """Both sockets are readable when the loop next polls; whichever callback runs first
    removes the other's, which then must not run (its socket may be closed by then)."""
    (a, b), (c, d) = socket.socketpair(), socket.socketpair()
    pairs.extend([(a, b), (c, d)])
    b.send(b"x")
    d.send(b"x")
    calls: list[str] = []
    done = threading.Event()

    def first(name: str, other: socket.socket) -> Callable[[], None]:
        def callback() -> None:
            calls.append(name)
            loop.remove_reader(other.fileno())
            mine = a if name == "a" else c
            loop.remove_reader(mine.fileno())
            loop.call_soon(done.set)

        return callback

    def register() -> None:
        loop.add_reader(a.fileno(), first("a", c))
        loop.add_reader(c.fileno(), first("c", a))

    on(loop, register)
    assert done.wait(WAIT)
    on(loop, lambda: None)
    assert len(calls) == 1


def test_timers_run_in_time_order_and_a_cancelled_one_never(loop: RelayLoop) -> None:
    ran: list[str] = []
    done = threading.Event()

    def schedule() -> None:
        loop.call_later(0.05, lambda: ran.append("later"))
        cancelled = loop.call_later(0.01, lambda: ran.append("cancelled"))
        loop.call_later(0.0, lambda: ran.append("first"))
        loop.call_later(0.1, done.set)
        cancelled.cancel()

    on(loop, schedule)
    assert done.wait(WAIT)
    assert ran == ["first", "later"]


def test_calls_from_other_threads_run_in_order(loop: RelayLoop) -> None:
    got: list[int] = []
    done = threading.Event()
    for i in range(100):
        loop.call_soon_threadsafe(functools.partial(got.append, i))
    loop.call_soon_threadsafe(done.set)
    assert done.wait(WAIT)
    assert got == list(range(100))


def test_a_failing_callback_is_logged_and_the_loop_goes_on(
    loop: RelayLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def fail() -> None:
        raise ValueError("broken callback")

    with caplog.at_level(logging.ERROR, logger="jupyter_server_proxy.relay.thread"):
        loop.call_soon_threadsafe(fail)
        on(loop, lambda: None)  # runs after it: the loop lived on
    assert "broken callback" in caplog.text
    with pytest.raises(ValueError, match="broken callback"):
        loop.run(fail).result(WAIT)  # ``run`` hands the error to its caller instead

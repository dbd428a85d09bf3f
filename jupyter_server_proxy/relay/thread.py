"""A small event loop on a thread of its own, for websocket relays between two plain sockets.

Why: a relay of short messages spends its time waking up. Per round trip, a relay makes two
epoll_wait, two recv and two send calls, and can make no fewer; what is left to cut is the
loop's own work around them. asyncio's loop (selector lookups, handle objects, the ready queue,
the timer heap, context switches per callback) costs a short echo a tenth of its round trips
against a plain ``select.epoll`` loop (bench/README.md, "Design measurements").
This loop does only what a relay side needs: readiness callbacks, a few timers, and calls
posted from other threads.

The thread and the GIL: the thread sleeps in ``epoll_wait`` with the GIL released, so an idle
relay costs the server nothing. While the server's own loop runs a long callback, this thread
still gets the GIL at every switch interval (5 ms), where a relay on the server's loop would
wait for the callback to end.

Invariants:
- Everything registered here runs on this loop's thread; other threads only ever call
  ``call_soon_threadsafe`` (and ``run``, built on it): the one method that touches the posted
  calls' deque, whose ``append`` and ``popleft`` the standard library documents as thread-safe
  (a promise free-threaded builds keep), and the wake-up fd.
- A readiness callback runs only while registered: a callback removed by an earlier callback of
  the same turn is not called.
- An exception in a callback is logged and the loop goes on, as asyncio's loop does.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Whether this platform has what the loop needs (Linux's epoll and eventfd).
AVAILABLE = hasattr(select, "epoll") and hasattr(os, "eventfd")

_IN = select.EPOLLIN if AVAILABLE else 0
_OUT = select.EPOLLOUT if AVAILABLE else 0
#: An error or hang-up wakes both callbacks: each finds out what happened by its own call.
_ANY = select.EPOLLERR | select.EPOLLHUP if AVAILABLE else 0


class Timer:
    """A call at a time; ``cancel()`` before it is due and it never runs."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class RelayLoop:
    """Readiness callbacks, timers and cross-thread calls on one daemon thread."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wake, select.EPOLLIN)
        self._readers: dict[int, Callable[[], object]] = {}
        self._writers: dict[int, Callable[[], object]] = {}
        self._masks: dict[int, int] = {}
        self._ready: deque[Callable[[], object]] = deque()
        self._posted: deque[Callable[[], object]] = deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()  # ties in the timer heap go in the order of calls
        self._thread = threading.Thread(
            target=self._run, name="jupyter-server-proxy relay", daemon=True
        )
        self._thread.start()

    # -- the asyncio-shaped subset the relay uses (this thread only) -------------------------

    def add_reader(self, fd: int, callback: Callable[[], object]) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback: Callable[[], object]) -> None:
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    def call_soon(self, callback: Callable[[], object]) -> None:
        self._ready.append(callback)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = Timer(callback)
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), timer))
        return timer

    # -- from any thread ---------------------------------------------------------------------

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> None:
        self._posted.append(callback)
        os.eventfd_write(self._wake, 1)

    def run(self, fn: Callable[[], object]) -> concurrent.futures.Future[None]:
        """Call ``fn`` on the loop's thread; the future tells when it has returned."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()

        def call() -> None:
            try:
                fn()
            except BaseException as e:
                future.set_exception(e)
            else:
                future.set_result(None)

        self.call_soon_threadsafe(call)
        return future

    # -- the thread --------------------------------------------------------------------------

    def _update(self, fd: int) -> None:
        mask = (_IN if fd in self._readers else 0) | (_OUT if fd in self._writers else 0)
        old = self._masks.get(fd, 0)
        if mask == old:
            return
        if not mask:
            del self._masks[fd]
            self._epoll.unregister(fd)
            return
        if old:
            self._epoll.modify(fd, mask)
        else:
            self._epoll.register(fd, mask)
        self._masks[fd] = mask

    def _run(self) -> None:
        ready, posted, timers = self._ready, self._posted, self._timers
        while True:
            if ready or posted:
                timeout = 0.0
            elif timers:
                timeout = max(0.0, timers[0][0] - time.monotonic())
            else:
                timeout = -1.0
            events = self._epoll.poll(timeout)
            for fd, flags in events:
                if fd == self._wake:
                    os.eventfd_read(self._wake)
                    continue
                # Looked up when called, not now: an earlier callback may remove it.
                if flags & (_IN | _ANY):
                    self._call(self._readers.get(fd))
                if flags & (_OUT | _ANY):
                    self._call(self._writers.get(fd))
            if timers:
                now = time.monotonic()
                while timers and timers[0][0] <= now:
                    timer = heapq.heappop(timers)[2]
                    if not timer.cancelled:
                        ready.append(timer.callback)
            while posted:
                ready.append(posted.popleft())
            for _ in range(len(ready)):  # what these add waits for the next turn
                self._call(ready.popleft())

    @staticmethod
    def _call(callback: Callable[[], object] | None) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:
            log.exception("Exception in websocket relay callback %r", callback)


_shared: RelayLoop | None = None
_shared_lock = threading.Lock()


def _forget_in_child() -> None:
    """A forked child has no relay thread: it starts its own on first use."""
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()


if AVAILABLE:
    os.register_at_fork(after_in_child=_forget_in_child)


def shared_loop() -> RelayLoop | None:
    """The process's relay loop, started on first use; None where the platform has no epoll."""
    global _shared
    if not AVAILABLE:
        return None
    with _shared_lock:
        if _shared is None:
            _shared = RelayLoop()
        return _shared

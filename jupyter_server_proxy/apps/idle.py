"""When a running app has gone without traffic for its ``idle_timeout``.

Rules:
1. Traffic is what the web layer counts as the app's activity (its ``update_last_activity`` and
   ``exclude_last_activity_patterns`` rules): a counted request, at its start and at its end,
   and a websocket's messages (an open but silent websocket is no traffic). A counted response
   still streaming is traffic for as long as it lasts.
2. Stamping is a store of the loop's clock, nothing more: it runs on every request.
3. One timer per running app, on the loop: it fires when the app would be idle if nothing came
   since the last stamp, and then either finds it idle or sets itself for the new deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class IdleWatch:
    """The traffic stamps of one app, and the one timer that finds it idle."""

    def __init__(self, timeout: float, on_idle: Callable[[float], None]) -> None:
        """``on_idle(seconds)`` is called once, on the loop, when the app has had no traffic
        for ``timeout`` seconds (``seconds`` is how long); 0 never calls it."""
        self.timeout = timeout
        self._on_idle = on_idle
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._busy = 0

    def arm(self) -> None:
        """The app is running: the quiet time counts from now."""
        self.disarm()
        if self.timeout <= 0:
            return
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._handle = self._loop.call_at(self._last + self.timeout, self._check)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._loop = None

    def traffic(self) -> None:
        if self._loop is not None:
            self._last = self._loop.time()

    def began(self) -> None:
        """A counted response starts streaming (ended with ``ended``)."""
        self._busy += 1
        self.traffic()

    def ended(self) -> None:
        self._busy -= 1
        self.traffic()

    def _check(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        if self._busy:
            self._last = now
        quiet = now - self._last
        if quiet >= self.timeout:
            self._handle = None
            self._loop = None
            self._on_idle(quiet)
            return
        self._handle = loop.call_at(self._last + self.timeout, self._check)

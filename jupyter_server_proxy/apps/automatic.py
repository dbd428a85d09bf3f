"""The stops and starts nobody asked for: an idle app's stop, the restart under ``restart:
always``, and the crash loop that ends such restarts (the rules are ``policy.py``'s and
``idle.py``'s; this carries them out for one app).

Rule: all of it runs on the loop. ``halt`` cancels the timers (at a stop, an exit, a start); a
restart or idle stop under way is the supervisor's own start or stop, which its stop ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..core.errors import AppFailed
from .idle import IdleWatch
from .policy import CRASH_LOOP_EXITS, CRASH_LOOP_WINDOW, EndHistory
from .specs import ServerSpec
from .state import Reason


class Automatic:
    """One app's idle timer, its back-off before an automatic restart, and its recent ends."""

    def __init__(
        self,
        spec: ServerSpec,
        log: logging.Logger,
        *,
        start: Callable[[], Awaitable[Any]],
        stop: Callable[[Reason], Awaitable[None]],
    ) -> None:
        """``start`` starts the app as a request would; ``stop(reason)`` stops it."""
        self.spec = spec
        self.log = log
        self._start = start
        self._stop = stop
        self.idle = IdleWatch(spec.idle_timeout, self._went_idle)
        self._ends = EndHistory()
        #: The automatic restart that waits out its back-off.
        self._revive: asyncio.TimerHandle | None = None
        #: The restart that follows it, until its start has begun.
        self._restarting: asyncio.Task[None] | None = None
        self._idle_stop: asyncio.Task[None] | None = None
        #: Tasks of ours, held until they are done (the loop keeps only weak references).
        self._tasks: set[asyncio.Task[None]] = set()

    def halt(self) -> None:
        """No idle stop and no automatic restart until the app runs (or ends) again."""
        self.idle.disarm()
        if self._revive is not None:
            self._revive.cancel()
        self._revive = None
        # A stop that comes after the timer fired, before the restart's start began, must
        # win: the start would otherwise begin during the stop. (A start that has begun is
        # the supervisor's, which its stop cancels; this only lets go of it.)
        if self._restarting is not None:
            self._restarting.cancel()
        self._restarting = None

    def asked_to_start(self) -> None:
        """A start from the API or the UI: the count of recent ends begins again."""
        self._ends.clear()

    async def idle_stop_done(self) -> None:
        """Wait for an idle stop under way (a start after it must not overlap it)."""
        task = self._idle_stop
        if task is not None and not task.done():
            await asyncio.shield(task)

    def ended(self) -> bool:
        """The app ended by itself (its process exited, or a start failed). True: that makes a
        crash loop, and nothing restarts it. Otherwise, under ``always``, a restart follows
        after the back-off."""
        self.halt()
        now = time.monotonic()
        name = self.spec.name
        if self._ends.ended(now):
            self.log.error(
                "%s: ended %d times within %g s (a crash loop): not restarted until it is "
                "started from the API or the Running panel",
                name,
                CRASH_LOOP_EXITS,
                CRASH_LOOP_WINDOW,
            )
            return True
        if self.spec.restart == "always":
            delay = self._ends.backoff(now)
            self.log.info("%s: restart policy 'always': restarting in %g s", name, delay)
            self._revive = asyncio.get_running_loop().call_later(delay, self._restart_now)
        return False

    def _restart_now(self) -> None:
        self._revive = None
        self._restarting = self._keep(asyncio.ensure_future(self._restart_quietly()))

    async def _restart_quietly(self) -> None:
        # A failed start is logged by the supervisor, and counted through ``ended``.
        with contextlib.suppress(AppFailed):
            await self._start()

    def _went_idle(self, quiet: float) -> None:
        self.log.info(
            "%s: no traffic for %.0f s (idle_timeout %g s): stopping it",
            self.spec.name,
            quiet,
            self.spec.idle_timeout,
        )
        self._idle_stop = self._keep(asyncio.ensure_future(self._stop(Reason.IDLE)))

    def _keep(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

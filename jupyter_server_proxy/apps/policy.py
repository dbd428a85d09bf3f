"""What happens after an app ends by itself: its restart policy, the back-off between automatic
restarts, and the crash loop that stops them.

Rules:
1. ``on-request`` (the default, as 4.x): an app that ended is started again by the next request
   to it. ``always``: it is started again at once, after a back-off that doubles with each
   recent end (``BACKOFF_FIRST`` seconds, up to ``BACKOFF_CAP``). ``never``: it stays down; a
   request gets a 503 that says so, and only a start from the API (or the UI) starts it.
2. An app "ends by itself" when its process exits (reason ``exited``) or a start fails (reason
   ``start-failed``); a stop that was asked for (user, idle, shutdown) is no end of that kind.
3. A crash loop: ``CRASH_LOOP_EXITS`` such ends within ``CRASH_LOOP_WINDOW`` seconds, under any
   policy (under ``on-request`` each end took a request to start it again). It puts the app in
   ``failed`` with reason ``crash-loop``, and nothing but a start from the API restarts it: a
   request gets the failure, with the exit code and log, instead of another start. systemd's
   ``StartLimitBurst=5`` within ``StartLimitIntervalSec=10s`` is the same rule; a minute suits
   apps that take seconds to start.
No I/O here: the supervisor asks, and acts.
"""

from __future__ import annotations

from collections import deque
from typing import Literal, get_args

from .state import Reason

Restart = Literal["on-request", "always", "never"]
RESTART_POLICIES: tuple[str, ...] = get_args(Restart)

#: Ends by itself within ``CRASH_LOOP_WINDOW`` seconds that make a crash loop.
CRASH_LOOP_EXITS = 5
CRASH_LOOP_WINDOW = 60.0
#: Seconds before the first automatic restart under ``always``; doubled for each further end
#: within ``CRASH_LOOP_WINDOW``, up to ``BACKOFF_CAP``.
BACKOFF_FIRST = 0.5
BACKOFF_CAP = 30.0


class EndHistory:
    """When an app's recent runs ended by themselves (monotonic seconds)."""

    def __init__(self) -> None:
        self._ends: deque[float] = deque(maxlen=CRASH_LOOP_EXITS)

    def ended(self, now: float) -> bool:
        """Note an end at ``now``; whether it makes a crash loop."""
        self._ends.append(now)
        return len(self._ends) == CRASH_LOOP_EXITS and now - self._ends[0] <= CRASH_LOOP_WINDOW

    def backoff(self, now: float) -> float:
        """Seconds to wait before the next automatic restart."""
        recent = sum(1 for t in self._ends if now - t <= CRASH_LOOP_WINDOW)
        return min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** max(recent - 1, 0))

    def clear(self) -> None:
        """A start was asked for from the API: the count begins again."""
        self._ends.clear()


def holds(reason: Reason | None, restart: Restart) -> bool:
    """Whether a request may not start an app that is down for ``reason``: a crash loop, or
    an end by itself under ``never``. A start from the API is never held."""
    if reason is Reason.CRASH_LOOP:
        return True
    return restart == "never" and reason in (Reason.EXITED, Reason.START_FAILED)


def hold_message(reason: Reason | None, exit_code: int | None) -> str:
    """Why a held app is not started by a request, and what starts it."""
    if reason is Reason.CRASH_LOOP:
        why = f"it ended {CRASH_LOOP_EXITS} times within {CRASH_LOOP_WINDOW:g} s (a crash loop)"
    else:
        ended = "exited" if reason is Reason.EXITED else "failed to start"
        why = f"it {ended} and its restart policy is 'never'"
    code = f" (exit code {exit_code})" if exit_code is not None else ""
    return f"{why}{code}: start it again from the Running panel or the API"

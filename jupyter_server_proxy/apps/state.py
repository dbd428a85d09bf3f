"""The states of one supervised app, why it is not running, and the transitions allowed.

Rules:
1. An app's state changes only through ``check_transition``, which refuses a transition this
   table does not list and names the states that were expected.
2. Every state but STARTING and RUNNING carries the reason it is not running (``Reason``); each
   reason belongs to one state (``REASONS``), and the running states carry none.
"""

from __future__ import annotations

import enum


class AppState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"
    FAILED = "failed"


class Reason(enum.Enum):
    """Why an app is not running (the API's ``reason``)."""

    USER = "user"  # stopped through the API or the UI (DELETE, or a restart's stop)
    IDLE = "idle"  # stopped after ``idle_timeout`` seconds without traffic
    SHUTDOWN = "shutdown"  # stopped because the server stops
    EXITED = "exited"  # its process ended by itself
    START_FAILED = "start-failed"  # its start failed: it exited first, or was not ready in time
    CRASH_LOOP = "crash-loop"  # it ended by itself too often (``policy.CRASH_LOOP_EXITS``)


ALLOWED: dict[AppState, frozenset[AppState]] = {
    AppState.STOPPED: frozenset({AppState.STARTING, AppState.RUNNING}),
    AppState.STARTING: frozenset({AppState.RUNNING, AppState.FAILED, AppState.STOPPED}),
    AppState.RUNNING: frozenset({AppState.EXITED, AppState.STOPPED}),
    # EXITED -> FAILED: the exit that makes a crash loop.
    AppState.EXITED: frozenset(
        {AppState.STARTING, AppState.RUNNING, AppState.STOPPED, AppState.FAILED}
    ),
    AppState.FAILED: frozenset({AppState.STARTING, AppState.RUNNING, AppState.STOPPED}),
}

#: The reasons each state may carry; None: no reason (running, or never started).
REASONS: dict[AppState, frozenset[Reason | None]] = {
    AppState.STOPPED: frozenset({None, Reason.USER, Reason.IDLE, Reason.SHUTDOWN}),
    AppState.STARTING: frozenset({None}),
    AppState.RUNNING: frozenset({None}),
    AppState.EXITED: frozenset({Reason.EXITED}),
    AppState.FAILED: frozenset({Reason.START_FAILED, Reason.CRASH_LOOP}),
}


class IllegalTransition(RuntimeError):
    pass


def check_transition(app: str, old: AppState, new: AppState, reason: Reason | None = None) -> None:
    """Raise ``IllegalTransition`` unless app ``app`` may go from ``old`` to ``new`` (staying
    put is always allowed) for ``reason``, a reason state ``new`` can carry."""
    if new is not old and new not in ALLOWED[old]:
        expected = ", ".join(sorted(s.value for s in ALLOWED[old]))
        raise IllegalTransition(
            f"{app}: cannot go from {old.value} to {new.value} (expected one of: {expected})"
        )
    if reason not in REASONS[new]:
        allowed = ", ".join(sorted(str(r.value if r else None) for r in REASONS[new]))
        raise IllegalTransition(
            f"{app}: {new.value} cannot be for reason {reason.value if reason else None} "
            f"(expected one of: {allowed})"
        )

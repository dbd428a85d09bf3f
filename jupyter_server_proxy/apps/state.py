"""The states of one supervised app and the transitions allowed between them.

Rule: an app's state changes only through ``check_transition``, which refuses a transition this
table does not list and names the states that were expected.
"""

from __future__ import annotations

import enum


class AppState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"
    FAILED = "failed"


ALLOWED: dict[AppState, frozenset[AppState]] = {
    AppState.STOPPED: frozenset({AppState.STARTING, AppState.RUNNING}),
    AppState.STARTING: frozenset({AppState.RUNNING, AppState.FAILED, AppState.STOPPED}),
    AppState.RUNNING: frozenset({AppState.EXITED, AppState.STOPPED}),
    AppState.EXITED: frozenset({AppState.STARTING, AppState.RUNNING, AppState.STOPPED}),
    AppState.FAILED: frozenset({AppState.STARTING, AppState.RUNNING, AppState.STOPPED}),
}


class IllegalTransition(RuntimeError):
    pass


def check_transition(app: str, old: AppState, new: AppState) -> None:
    """Raise ``IllegalTransition`` unless app ``app`` may go from ``old`` to ``new`` (staying
    put is always allowed)."""
    if new is old or new in ALLOWED[old]:
        return
    expected = ", ".join(sorted(s.value for s in ALLOWED[old]))
    raise IllegalTransition(
        f"{app}: cannot go from {old.value} to {new.value} (expected one of: {expected})"
    )

"""The rules of an app's lifecycle beyond one run: the reason each state carries, the crash
loop and the back-off (``policy.py``), the idle timer (``idle.py``), the new spec keys and
their server-wide default, and the reason a server shutdown gives."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from typing import Any

import pytest
from traitlets import TraitError

from jupyter_server_proxy.apps.config import ServerProxy, load_specs
from jupyter_server_proxy.apps.idle import IdleWatch
from jupyter_server_proxy.apps.manager import AppManager
from jupyter_server_proxy.apps.policy import (
    BACKOFF_CAP,
    BACKOFF_FIRST,
    CRASH_LOOP_EXITS,
    CRASH_LOOP_WINDOW,
    EndHistory,
    hold_message,
    holds,
)
from jupyter_server_proxy.apps.state import AppState, IllegalTransition, Reason, check_transition
from jupyter_server_proxy.apps.validation import SpecError, validate_spec
from jupyter_server_proxy.transport.pool import Upstream
from tests.conftest import HERE, alive

ECHO = str(HERE / "backends" / "echo.py")


def test_each_reason_belongs_to_its_state() -> None:
    """A running app has no reason; a stopped one is stopped for user, idle or shutdown; an
    exit is exited; a failure is start-failed or crash-loop."""
    check_transition("a", AppState.RUNNING, AppState.STOPPED, Reason.IDLE)
    check_transition("a", AppState.EXITED, AppState.FAILED, Reason.CRASH_LOOP)
    with pytest.raises(IllegalTransition, match="failed cannot be for reason user"):
        check_transition("a", AppState.STARTING, AppState.FAILED, Reason.USER)
    with pytest.raises(IllegalTransition, match="running cannot be for reason exited"):
        check_transition("a", AppState.STARTING, AppState.RUNNING, Reason.EXITED)
    with pytest.raises(IllegalTransition, match="cannot go from stopped to exited"):
        check_transition("a", AppState.STOPPED, AppState.EXITED, Reason.EXITED)


def test_crash_loop_is_that_many_ends_within_the_window() -> None:
    """CRASH_LOOP_EXITS ends within CRASH_LOOP_WINDOW seconds make a crash loop; as many
    spread wider do not."""
    spread = EndHistory()
    step = CRASH_LOOP_WINDOW / (CRASH_LOOP_EXITS - 1) + 1
    assert not any(spread.ended(i * step) for i in range(3 * CRASH_LOOP_EXITS))
    packed = EndHistory()
    ends = [packed.ended(float(i)) for i in range(CRASH_LOOP_EXITS)]
    assert ends == [False] * (CRASH_LOOP_EXITS - 1) + [True]
    packed.clear()
    assert not packed.ended(float(CRASH_LOOP_EXITS))


def test_backoff_doubles_with_recent_ends_up_to_its_cap() -> None:
    history = EndHistory()
    history.ended(0.0)
    assert history.backoff(0.0) == BACKOFF_FIRST
    history.ended(1.0)
    assert history.backoff(1.0) == 2 * BACKOFF_FIRST
    history.ended(2.0)
    assert history.backoff(2.0) == 4 * BACKOFF_FIRST
    assert history.backoff(2.0 + CRASH_LOOP_WINDOW + 1) == BACKOFF_FIRST  # all long ago
    assert BACKOFF_FIRST * 2 ** (CRASH_LOOP_EXITS - 2) <= BACKOFF_CAP


def test_which_apps_a_request_may_not_start() -> None:
    """A crash loop holds under every policy; an end by itself holds only under never; a stop
    that was asked for never holds."""
    for policy in ("on-request", "always", "never"):
        assert holds(Reason.CRASH_LOOP, policy)
        for asked in (None, Reason.USER, Reason.IDLE, Reason.SHUTDOWN):
            assert not holds(asked, policy)
    assert holds(Reason.EXITED, "never") and holds(Reason.START_FAILED, "never")
    assert not holds(Reason.EXITED, "on-request") and not holds(Reason.EXITED, "always")
    assert "crash loop" in hold_message(Reason.CRASH_LOOP, 3)
    assert "exit code 3" in hold_message(Reason.CRASH_LOOP, 3)
    assert "'never'" in hold_message(Reason.EXITED, None)


def test_idle_timer_fires_once_quiet_and_never_while_a_response_streams() -> None:
    """The timer calls back once the app had no traffic for the timeout; a response in
    progress holds it off until it ends; 0 never arms it."""

    async def go() -> None:
        fired: list[float] = []
        quiet = asyncio.Event()

        def on_idle(seconds: float) -> None:
            fired.append(seconds)
            quiet.set()

        watch = IdleWatch(0.05, on_idle)
        watch.arm()
        watch.began()
        for _ in range(10):  # several timeouts pass while the response streams
            await asyncio.sleep(0.05)
            watch.traffic()
        await asyncio.sleep(0.2)
        assert not fired
        watch.ended()
        await asyncio.wait_for(quiet.wait(), 30)
        assert len(fired) == 1 and fired[0] >= 0.05
        never = IdleWatch(0, on_idle)
        never.arm()
        never.traffic()
        never.disarm()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("idle_timeout", -1),
        ("idle_timeout", "30"),
        ("idle_timeout", True),
        ("idle_timeout", math.nan),
        ("idle_timeout", math.inf),
        ("restart", "sometimes"),
        ("restart", None),
    ],
)
def test_bad_lifecycle_keys_name_app_and_key(key: str, value: Any) -> None:
    with pytest.raises(SpecError, match=rf"app 'a': {key} = .* is not valid"):
        validate_spec("a", {key: value})


def test_idle_timeout_default_comes_from_the_server_config() -> None:
    """An app without its own idle_timeout takes c.ServerProxy.idle_timeout; its own wins;
    the default default is 0 (never), with restart on-request."""
    spec, _ = validate_spec("a", {})
    assert spec.idle_timeout == 0 and spec.restart == "on-request"
    config = ServerProxy(
        idle_timeout=30, servers={"a": {"command": ["x"]}, "b": {"idle_timeout": 5}}
    )
    specs, problems = load_specs(config, plugins=[])
    assert not problems
    assert specs["a"].idle_timeout == 30 and specs["b"].idle_timeout == 5
    with pytest.raises(TraitError, match=r"ServerProxy\.idle_timeout"):
        ServerProxy(idle_timeout=-1)


def test_server_shutdown_is_the_reason_of_its_stop() -> None:
    spec, _ = validate_spec("e", {"command": [sys.executable, ECHO, "--port", "{port}"]})
    manager = AppManager(
        {"e": spec}, base_url="/", log=logging.getLogger("test"), upstream=Upstream()
    )

    async def go() -> None:
        app = manager.get("e")
        await app.ensure_ready()
        pid = app.pid
        await manager.stop_all()
        entry = app.info()
        assert entry["state"] == "stopped" and entry["reason"] == "shutdown"
        assert entry["stopped_at"] is not None and pid is not None and not alive(pid)

    asyncio.run(go())

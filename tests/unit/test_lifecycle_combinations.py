"""Where the lifecycle rules meet: a stop that lands between an automatic restart's timer and its
start, a stop that cancels a start others wait for, parameter values no process can be given,
and what ``jupyter server-proxy list`` says about an app's lifecycle keys."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from jupyter_server_proxy.apps.launch import command_and_environment
from jupyter_server_proxy.apps.manager import AppManager
from jupyter_server_proxy.apps.state import AppState, Reason
from jupyter_server_proxy.apps.supervisor import ManagedApp
from jupyter_server_proxy.apps.validation import validate_spec
from jupyter_server_proxy.cli import describe
from jupyter_server_proxy.core.errors import AppFailed
from jupyter_server_proxy.core.parameters import (
    BadParameter,
    ParametersInUse,
    check_schema,
    check_values,
)
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.pool import Upstream
from tests.conftest import HERE, alive, poll_until

ECHO = str(HERE / "backends" / "echo.py")
EXITS = str(HERE / "backends" / "exits.py")
LOG = logging.getLogger("test")


def app(raw: dict[str, object]) -> ManagedApp:
    spec, _ = validate_spec("t", raw)
    return ManagedApp(spec, base_url="/", log=LOG, upstream=Upstream(), stop_grace=2)


def test_a_stop_after_the_back_off_fired_wins_over_the_restart() -> None:
    """restart: always: a stop (DELETE) that comes after the back-off's timer fired, before the
    restart's start began, leaves the app stopped: the restart never starts a process."""
    a = app(
        {
            "command": [sys.executable, EXITS, "--port", "{port}", "--after", "0.1"],
            "timeout": 20,
            "restart": "always",
        }
    )

    async def go() -> None:
        await a.ensure_ready()
        first = a.pid
        await poll_until(lambda: a.state is AppState.EXITED, "the exit")
        auto = a._auto
        # The back-off's timer fires now: what it runs is the restart's start, due next.
        assert auto._revive is not None
        auto._revive.cancel()
        auto._restart_now()
        await a.stop()
        for _ in range(20):  # turns of the loop in which the restart would begin
            await asyncio.sleep(0)
        await asyncio.sleep(0.1)
        assert a.state is AppState.STOPPED and a.info()["reason"] == "user"
        assert a.pid is None and first is not None and not alive(first)
        await a.stop()

    asyncio.run(go())


def test_a_stop_during_a_start_fails_its_waiters_with_app_failed() -> None:
    """A stop that cancels a start under way answers every caller waiting for that start
    with ``AppFailed`` (a 503 that says it was stopped), not with their own cancellation."""
    a = app(
        {
            "command": [sys.executable, "-c", "import time; time.sleep(30)", "{port}"],
            "timeout": 40,
        }
    )

    async def go() -> None:
        waiters = [asyncio.ensure_future(a.ensure_ready()) for _ in range(3)]
        await poll_until(lambda: a.pid is not None, "the start")
        await a.stop()
        for waiter in waiters:
            with pytest.raises(AppFailed, match="stopped before it was ready"):
                await waiter
        assert a.state is AppState.STOPPED and a.info()["reason"] == Reason.USER.value

    asyncio.run(go())


def test_a_caller_that_gives_up_leaves_the_start_to_the_others() -> None:
    """A caller cancelled while it waits does not cancel the start another caller waits for."""
    a = app({"command": [sys.executable, ECHO, "--port", "{port}"], "timeout": 20})

    async def go() -> None:
        leaving = asyncio.ensure_future(a.ensure_ready())
        staying = asyncio.ensure_future(a.ensure_ready())
        await asyncio.sleep(0)
        leaving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        target = await staying
        assert target.port and a.state is AppState.RUNNING
        await a.stop()

    asyncio.run(go())


#: Leaves a daemon that ignores SIGTERM (so what the run left behind takes the stop grace to
#: stop), then serves as ``exits.py`` and exits by itself soon after.
LEAVES_A_DAEMON = (
    "import runpy, subprocess, sys\n"
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'], start_new_session=True)\n"
    f"sys.argv = [{EXITS!r}, '--port', sys.argv[1], '--after', '0.2']\n"
    f"runpy.run_path({EXITS!r}, run_name='__main__')\n"
)


def test_other_values_during_a_start_that_waits_are_refused() -> None:
    """A start that waits for what the last run left behind is a start under way (its state
    was still ``exited``): a start with other values is refused (409), and the instance runs
    with the values its start was given, as its API entry says."""
    spec, _ = validate_spec(
        "t",
        {
            "command": [sys.executable, "-c", LEAVES_A_DAEMON, "{port}", "{label}"],
            "timeout": 20,
            "instances": True,
            "parameters": {"type": "object", "properties": {"label": {"type": "string"}}},
        },
    )
    manager = AppManager({"t": spec}, base_url="/", log=LOG, upstream=Upstream(), stop_grace=2)

    async def go() -> None:
        a = manager.to_start("t@x", {"label": "A"})
        await a.start()
        await poll_until(lambda: a.state is AppState.EXITED, "the exit")
        manager.to_start("t@x", {"label": "A"})
        start = asyncio.ensure_future(a.start())
        # The start waits for the last run's daemon (its exit code is kept until it spawns),
        # and says it is starting.
        await poll_until(lambda: a.state is AppState.STARTING, "the start")
        assert a.info()["exit_code"] is not None
        with pytest.raises(ParametersInUse):
            manager.to_start("t@x", {"label": "B"})
        await start
        assert a.identity()["parameters"] == {"label": "A"} and a.info()["command"][-1] == "A"
        await manager.stop_all()

    asyncio.run(go())


@pytest.mark.parametrize("value", ["\ud800", "a\udcffb", "\udc80"])
def test_a_lone_surrogate_is_no_parameter_value(value: str) -> None:
    """JSON can carry a lone surrogate (``"\\ud800"``), which no argument or environment
    entry can hold: it is a bad value naming the parameter, not a start that fails later."""
    schema = check_schema({"type": "object", "properties": {"label": {"type": "string"}}})
    with pytest.raises(BadParameter, match="'label'.*lone surrogate"):
        check_values(schema, {"label": value}, "app 'tb'")
    assert check_values(schema, {"label": "ünï 🙂"}, "app 'tb'") == {"label": "ünï 🙂"}


def test_what_exec_cannot_be_given_fails_the_start() -> None:
    """A command or environment that exec refuses (here an environment name that a template
    in a key made with '=' in it) fails the start with ``AppFailed`` (503): the app is left
    failed, not starting, and no server error escapes."""
    a = app(
        {
            "command": [sys.executable, ECHO, "--port", "{port}"],
            "environment": {"{label}": "x"},
            "parameters": {"type": "object", "properties": {"label": {"type": "string"}}},
        }
    )
    a.parameters = {"label": "A=B"}

    async def go() -> None:
        with pytest.raises(AppFailed, match="could not run"):
            await a.ensure_ready()
        assert a.state is AppState.FAILED and a.info()["reason"] == "start-failed"

    asyncio.run(go())


@pytest.mark.parametrize("value", ["{port}", "{", "{port.__class__.__mro__}", "}}{{"])
def test_a_value_a_callable_asks_for_is_not_read_as_a_template(value: str) -> None:
    """A ``command`` or ``environment`` callable that asks for a launch parameter gets its
    value as text, and what it returns is not filled in again: the value's braces reach the
    app as they are (a second pass read ``{port}`` as the port, and ``{`` failed the start)."""
    spec, _ = validate_spec(
        "t",
        {
            "command": lambda label, port: ["app", str(port), label, "{base_url}"],
            "environment": lambda **kw: {"L": kw["label"]},
            "parameters": {"type": "object", "properties": {"label": {"type": "string"}}},
        },
    )
    target = Target(host="127.0.0.1", port=5)
    command, env = command_and_environment(spec, target, "/b/", None, {"label": value})
    assert command == ["app", "5", value, "{base_url}"] and env["L"] == value
    plain, _ = validate_spec("p", {"command": lambda port: ["app", "{port}", "{base_url}"]})
    assert command_and_environment(plain, target, "/b/")[0] == ["app", "5", "/b/"]


def test_list_shows_restart_and_idle_timeout() -> None:
    """``list`` shows each app's restart policy and idle timeout, as it shows its other keys."""
    kept, _ = validate_spec("a", {"command": ["x"], "restart": "always", "idle_timeout": 90})
    plain, _ = validate_spec("b", {"command": ["x"]})
    assert "  restart: always; idle_timeout: 90s" in describe(kept)
    assert "  restart: on-request; idle_timeout: none (0)" in describe(plain)

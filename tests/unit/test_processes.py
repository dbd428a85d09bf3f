"""ManagedApp with real child processes: one start for many waiters, port retry, a bounded log,
guarded state transitions, and nothing left running."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from jupyter_server_proxy.core.errors import AppFailed
from jupyter_server_proxy.processes import AppState, IllegalTransition, ManagedApp
from jupyter_server_proxy.specs import validate_spec
from tests.conftest import HERE, alive

ECHO = str(HERE / "backends" / "echo.py")
LOG = logging.getLogger("test")


def app(raw: dict[str, object], name: str = "t") -> ManagedApp:
    spec, _ = validate_spec(name, raw)
    return ManagedApp(spec, base_url="/", log=LOG, stop_grace=2)


def test_many_waiters_share_one_start() -> None:
    """Ten concurrent ensure_ready() calls start one process and all get the same target."""
    a = app({"command": [sys.executable, ECHO, "--port", "{port}"], "timeout": 20})

    async def go() -> None:
        targets = await asyncio.gather(*(a.ensure_ready() for _ in range(10)))
        assert len(set(targets)) == 1
        pid = a.pid
        assert pid is not None and alive(pid)
        await a.stop()
        assert not alive(pid) and a.state is AppState.STOPPED

    asyncio.run(go())


def test_port_taken_is_retried_on_another_port(tmp_path: Path) -> None:
    """If an app on a port we picked fails with 'address already in use', it gets another."""
    marker = tmp_path / "tried"
    script = tmp_path / "flaky.py"
    script.write_text(
        "import os, sys, runpy\n"
        f"marker = {str(marker)!r}\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').close()\n"
        "    print('OSError: [Errno 98] Address already in use', flush=True)\n"
        "    sys.exit(1)\n"
        f"sys.argv = [{ECHO!r}, '--port', sys.argv[1]]\n"
        f"runpy.run_path({ECHO!r}, run_name='__main__')\n"
    )
    a = app({"command": [sys.executable, str(script), "{port}"], "timeout": 20})

    async def go() -> None:
        target = await a.ensure_ready()
        assert target.port and a.state is AppState.RUNNING
        await a.stop()

    asyncio.run(go())
    assert marker.exists()


def test_other_early_exits_are_not_retried(tmp_path: Path) -> None:
    """An app that exits for another reason fails at once, with its code and log."""
    a = app({"command": [sys.executable, "-c", "print('bad config'); raise SystemExit(7)"]})

    async def go() -> None:
        with pytest.raises(AppFailed) as e:
            await a.ensure_ready()
        assert e.value.exit_code == 7 and "bad config" in e.value.log_tail
        assert a.state is AppState.FAILED and a.info()["exit_code"] == 7

    asyncio.run(go())


def test_log_is_a_bounded_ring() -> None:
    """Only the last log_lines lines are kept, however much the app prints."""
    code = "import sys\nfor i in range(5000): print(i)\nsys.exit(1)"
    a = app({"command": [sys.executable, "-c", code], "log_lines": 10})

    async def go() -> None:
        with pytest.raises(AppFailed):
            await a.ensure_ready()

    asyncio.run(go())
    assert a.log_tail() == [str(i) for i in range(4990, 5000)]


def test_templates_and_environment_reach_the_app(tmp_path: Path) -> None:
    """{port} and {base_url} are filled into the command and environment."""
    out = tmp_path / "env.txt"
    code = (
        "import os, sys, runpy\n"
        f"open({str(out)!r}, 'w').write(os.environ['MY_BASE'] + ' ' + sys.argv[1])\n"
        f"sys.argv = [{ECHO!r}, '--port', sys.argv[1]]\n"
        f"runpy.run_path({ECHO!r}, run_name='__main__')\n"
    )
    a = app(
        {
            "command": [sys.executable, "-c", code, "{port}"],
            "environment": {"MY_BASE": "{base_url}"},
            "timeout": 20,
        }
    )

    async def go() -> None:
        target = await a.ensure_ready()
        await a.stop()
        assert out.read_text() == f"/ {target.port}"

    asyncio.run(go())


def test_illegal_transitions_name_the_expected_states() -> None:
    a = app({"command": ["x"]})
    with pytest.raises(IllegalTransition) as e:
        a._to(AppState.EXITED)
    assert "stopped" in str(e.value) and "starting" in str(e.value)

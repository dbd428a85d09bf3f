"""ManagedApp with real child processes: one start for many waiters, port retry, a bounded log,
guarded state transitions, readiness probes through the proxy's client, and nothing left
running."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from jupyter_server_proxy.apps.state import AppState, IllegalTransition
from jupyter_server_proxy.apps.supervisor import ManagedApp
from jupyter_server_proxy.apps.validation import validate_spec
from jupyter_server_proxy.core.errors import AppFailed
from jupyter_server_proxy.transport.pool import Upstream
from tests.conftest import HERE, alive

ECHO = str(HERE / "backends" / "echo.py")
PROBED = str(HERE / "backends" / "probed.py")
LOG = logging.getLogger("test")


def app(raw: dict[str, object], name: str = "t") -> ManagedApp:
    spec, _ = validate_spec(name, raw)
    return ManagedApp(spec, base_url="/", log=LOG, upstream=Upstream(), stop_grace=2)


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


def probed(tmp_path: Path, where: str, *flags: str, **raw: object) -> tuple[ManagedApp, Path]:
    """An app from ``probed.py`` on a TCP port or a unix socket; the file of its request lines."""
    log = tmp_path / "requests.log"
    place = ["--port", "{port}"] if where == "tcp" else ["--unix-socket", "{unix_socket}"]
    command = [sys.executable, PROBED, *place, "--log", str(log), *flags]
    extra: dict[str, object] = {"unix_socket": True} if where == "unix" else {}
    return app({"command": command, **extra, **raw}), log


def requests_seen(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_only_ready_statuses_mean_ready(tmp_path: Path, where: str) -> None:
    """Answers outside ready_statuses (503 while warming up) are not ready; the first answer
    inside is. Every probe asks for ready_path."""
    a, log = probed(
        tmp_path,
        where,
        *("--warm-up", "3", "--status", "204"),
        ready_path="/health?deep=1",
        ready_statuses=[200, 204],
        timeout=20,
    )

    async def go() -> None:
        target = await a.ensure_ready()
        assert a.state is AppState.RUNNING
        assert (target.unix_socket is not None) == (where == "unix")
        await a.stop()

    asyncio.run(go())
    assert requests_seen(log) == ["GET /health?deep=1 HTTP/1.1"] * 4


@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_status_outside_ready_statuses_fails_at_the_timeout(tmp_path: Path, where: str) -> None:
    """An app that only ever answers with a status outside ready_statuses never becomes ready:
    its start fails at its timeout, and the reason names the status it got."""
    a, log = probed(
        tmp_path, where, "--status", "404", ready_path="/up", ready_statuses=[200], timeout=3
    )

    async def go() -> None:
        with pytest.raises(AppFailed) as e:
            await a.ensure_ready()
        assert "not ready after 3s" in e.value.reason
        assert "answered GET /up with 404, not one of 200" in e.value.reason
        assert a.state is AppState.FAILED and a.pid is None

    asyncio.run(go())
    assert len(requests_seen(log)) > 1  # polled until the timeout, not given up on at once


@pytest.mark.parametrize("where", ["tcp", "unix"])
def test_without_ready_statuses_any_answer_is_ready(tmp_path: Path, where: str) -> None:
    """With no ready_statuses, any HTTP answer counts, a 500 too: one probe is enough, and it
    leaves no connection in the pool (it asked for close)."""
    a, log = probed(tmp_path, where, "--status", "500", timeout=20)

    async def go() -> None:
        await a.ensure_ready()
        assert not a.upstream._idle
        await a.stop()

    asyncio.run(go())
    assert requests_seen(log) == ["GET / HTTP/1.1"]


def test_app_that_accepts_but_never_answers_fails_at_its_timeout(tmp_path: Path) -> None:
    """A probe waits for an answer no longer than the time left before the app's timeout: an
    app that accepts connections and never answers fails at its timeout, with a reason that
    says it did not answer (not that nothing listened)."""
    a, log = probed(tmp_path, "tcp", "--silent", timeout=3)

    async def go() -> None:
        with pytest.raises(AppFailed) as e:
            await a.ensure_ready()
        assert "not ready after 3s" in e.value.reason
        assert "did not answer GET / in time" in e.value.reason
        assert a.state is AppState.FAILED and a.pid is None

    asyncio.run(go())
    assert requests_seen(log)[:1] == ["GET / HTTP/1.1"]

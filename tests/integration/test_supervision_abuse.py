"""Process supervision under abuse: apps that exit at once, never listen, ignore SIGTERM, fork,
daemonize (fork, setsid, fork, ignore SIGTERM) or spawn a tree across process groups and
sessions. After a stop, a restart, ``POST /api/shutdown`` or SIGTERM to the server, no process
of any app's tree is alive.

The apps (``tests/backends/unruly.py``) write the pid of every process they make to a file, so
the tests know whom to look for. Waits are bounded polls for a condition.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import HERE, JupyterServer, _of_this_run, alive, free_port, wait_until
from tests.conftest import lifecycle as api

UNRULY = str(HERE / "backends" / "unruly.py")
#: Bounded wait for something that happens in the background (a daemon writing its pid).
WAIT = 30.0

#: name -> (flags, roles the app's processes write once they are all up)
APPS: dict[str, tuple[list[str], set[str]]] = {
    "exits": (["--daemonize", "--exit"], {"app", "daemon"}),
    "never-listens": (["--daemonize"], {"app", "daemon"}),
    "stubborn": (["--ignore-term", "--fork", "--port", "{port}"], {"app", "child"}),
    "daemonizes": (["--daemonize", "--port", "{port}"], {"app", "daemon"}),
    # Not "tree": that is Notebook's route, which an app may not take.
    "spawns-a-tree": (
        ["--tree", "--port", "{port}"],
        {"app", "group-leader", "session-leader", "bare"},
    ),
    "respawns": (["--respawn", "--port", "{port}"], {"app", "respawner"}),
}
RUNNING = ["stubborn", "daemonizes", "spawns-a-tree", "respawns"]


def config(pid_dir: Path) -> str:
    servers = {
        name: {
            "command": [sys.executable, UNRULY, "--pids", str(pid_dir / f"{name}.pids"), *flags],
            "timeout": 2 if name == "never-listens" else 20,
        }
        for name, (flags, _) in APPS.items()
    }
    return f"c.ServerProxy.stop_timeout = 0.5\nc.ServerProxy.servers = {servers!r}\n"


class Pids:
    """The processes an app wrote to its pid file, run after run."""

    def __init__(self, pid_dir: Path, name: str) -> None:
        self.path = pid_dir / f"{name}.pids"
        self.roles = APPS[name][1]

    def lines(self) -> list[tuple[str, int]]:
        if not self.path.exists():
            return []
        return [
            (r, int(p))
            for r, p in (line.split() for line in self.path.read_text().split("\n") if line)
        ]

    def wait_run(self, skip: int) -> list[int]:
        """The pids of one run (the lines after the first ``skip``), once all its roles wrote."""
        wait_until(lambda: {r for r, _ in self.lines()[skip:]} >= self.roles, f"{self.path.name}")
        return self.pids(skip)

    def pids(self, skip: int) -> list[int]:
        """Every pid written after the first ``skip`` lines (those written during a stop too)."""
        return [p for _, p in self.lines()[skip:]]

    def runs(self, skip: int) -> list[list[int]]:
        """The pids written after the first ``skip`` lines, run by run (each starts "app")."""
        runs: list[list[int]] = []
        for role, pid in self.lines()[skip:]:
            if role == "app" or not runs:
                runs.append([])
            runs[-1].append(pid)
        return runs


def none_alive(pids: list[int]) -> bool:
    return not [p for p in pids if alive(p)]


def assert_all_gone(pids: list[int]) -> None:
    wait_until(lambda: none_alive(pids), "every process of the app to be gone", timeout=WAIT)


def clean_up(pid_dir: Path) -> None:
    """What a failing test left running goes, so the next tests start clean."""
    for path in pid_dir.glob("*.pids"):
        for line in path.read_text().split("\n"):
            if line:
                pid = int(line.split()[1])
                if alive(pid) and _of_this_run(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def pid_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "pids"
    d.mkdir()
    yield d
    clean_up(d)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JupyterServer, Path]]:
    """One server for the tests that leave it running (a server takes seconds to start)."""
    root = tmp_path_factory.mktemp("shared")
    pid_dir = root / "pids"
    pid_dir.mkdir()
    s = JupyterServer(root, config(pid_dir)).start()
    yield s, pid_dir
    s.stop()
    clean_up(pid_dir)


@pytest.fixture
def server(pid_dir: Path, make_server: Callable[..., JupyterServer]) -> JupyterServer:
    """A server of the test's own, for the tests that stop it."""
    return make_server(config(pid_dir))


def start(server: JupyterServer, name: str) -> int:
    """Start an app through the lifecycle API; its HTTP status."""
    req = urllib.request.Request(
        server.url(f"server-proxy/api/servers/{name}"), method="POST", headers=server.auth
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


@pytest.mark.parametrize("name", ["exits", "never-listens"])
def test_failed_start_leaves_no_process(shared: tuple[JupyterServer, Path], name: str) -> None:
    """An app that exits at once, or never listens, after daemonizing: the start fails (503)
    and the daemon goes with it."""
    server, pid_dir = shared
    record = Pids(pid_dir, name)
    skip = len(record.lines())
    assert start(server, name) == 503
    pids = record.wait_run(skip)
    assert_all_gone(pids)


@pytest.mark.parametrize("name", RUNNING)
def test_stop_stops_every_process(shared: tuple[JupyterServer, Path], name: str) -> None:
    """DELETE on the lifecycle API stops every process of the app: those that ignore SIGTERM,
    left the process group or session, daemonized, run with a cleared environment, or fork a
    replacement when they get SIGTERM."""
    server, pid_dir = shared
    record = Pids(pid_dir, name)
    skip = len(record.lines())
    assert start(server, name) == 200
    pids = record.wait_run(skip)
    assert all(alive(p) for p in pids)
    assert api(server, name, "DELETE")["state"] == "stopped"
    assert_all_gone(record.pids(skip))


@pytest.mark.parametrize("name", RUNNING)
def test_restart_replaces_every_process(shared: tuple[JupyterServer, Path], name: str) -> None:
    """A restart stops every process of the old run before the new run starts; a stop then
    stops the new run's."""
    server, pid_dir = shared
    record = Pids(pid_dir, name)
    skip = len(record.lines())
    assert start(server, name) == 200
    record.wait_run(skip)
    assert api(server, f"{name}/restart", "POST")["state"] == "running"
    wait_until(lambda: len(record.runs(skip)) == 2, "the second run")
    old = record.runs(skip)[0]
    new = record.wait_run(skip + len(old))
    assert none_alive(old)
    assert all(alive(p) for p in new)
    api(server, name, "DELETE")
    assert_all_gone(record.pids(skip + len(old)))


def test_app_that_exits_takes_its_daemons_along(shared: tuple[JupyterServer, Path]) -> None:
    """When the app's own process dies, what it left behind is stopped too (it would hold the
    app's port and outlive the app's restart)."""
    server, pid_dir = shared
    record = Pids(pid_dir, "daemonizes")
    skip = len(record.lines())
    assert start(server, "daemonizes") == 200
    app, daemon = record.wait_run(skip)
    os.kill(app, signal.SIGKILL)
    wait_until(lambda: api(server, "daemonizes")["state"] == "exited", "app to be seen exited")
    assert_all_gone([app, daemon])


def start_every_app(server: JupyterServer, pid_dir: Path) -> None:
    pids = []
    for name in RUNNING:
        assert start(server, name) == 200
        pids += Pids(pid_dir, name).wait_run(0)
    assert all(alive(p) for p in pids)


def every_pid(pid_dir: Path) -> list[int]:
    return [p for name in RUNNING for p in Pids(pid_dir, name).pids(0)]


def test_api_shutdown_stops_every_tree(server: JupyterServer, pid_dir: Path) -> None:
    """POST /api/shutdown stops every process of every app, daemons included."""
    start_every_app(server, pid_dir)
    req = urllib.request.Request(server.url("api/shutdown"), method="POST", headers=server.auth)
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200
    assert server.proc is not None
    server.proc.wait(WAIT)
    assert_all_gone(every_pid(pid_dir))


def test_sigterm_to_the_server_stops_every_tree(server: JupyterServer, pid_dir: Path) -> None:
    """SIGTERM to the server process alone (not its group) stops every process of every app."""
    start_every_app(server, pid_dir)
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGTERM)
    server.proc.wait(WAIT)
    assert_all_gone(every_pid(pid_dir))


def test_standalone_sigterm_stops_the_daemons(tmp_path: Path, pid_dir: Path) -> None:
    """jupyter-standaloneproxy supervises its app the same way: SIGTERM to it stops the app's
    daemon too."""
    from tests.integration.test_standalone import hub_free_env, launch

    port = free_port()
    command = [sys.executable, UNRULY, "--pids", str(pid_dir / "daemonizes.pids")]
    command += ["--daemonize", "--port", "{port}"]
    proc = launch(
        tmp_path / "standalone.log",
        ["--port", str(port), "--skip-authentication", "--", *command],
        hub_free_env(),
    )
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/") or proc.poll() is not None, "app")
        pids = Pids(pid_dir, "daemonizes").wait_run(0)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(WAIT) == 0
        assert_all_gone(pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status == 200 and r.read() == b"unruly"
    except OSError:
        return False

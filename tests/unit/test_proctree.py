"""proctree: an app run's processes are found wherever they went (other process groups and
sessions, reparented daemons, cleared environments), identified by pid *and* start time, and
nothing outside the run is ever signalled. Real processes throughout."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_server_proxy.apps import proctree
from jupyter_server_proxy.apps.proctree import (
    ProcessTree,
    ProcStat,
    new_mark,
    now_ticks,
    parse_stat,
)
from jupyter_server_proxy.apps.supervisor import ManagedApp
from jupyter_server_proxy.apps.validation import validate_spec
from jupyter_server_proxy.transport.pool import Upstream
from tests.conftest import HERE, alive, wait_until

UNRULY = str(HERE / "backends" / "unruly.py")

pytestmark = pytest.mark.skipif(not proctree.SUPPORTED, reason="needs /proc")


class Run:
    """An unruly app started as the supervisor starts one: own session, marked environment."""

    def __init__(self, pids: Path, *flags: str, marked: bool = True) -> None:
        self.pids = pids
        self.mark = new_mark()
        env = dict(os.environ)
        if marked:
            env[proctree.MARK_VAR] = self.mark
        since = now_ticks()
        self.proc = subprocess.Popen(
            [sys.executable, UNRULY, "--pids", str(pids), *flags],
            env=env,
            start_new_session=True,
        )
        self.tree = ProcessTree(self.proc.pid, self.mark, since)

    def roles(self, *wanted: str) -> dict[str, int]:
        def lines() -> dict[str, int]:
            if not self.pids.exists():
                return {}
            return {
                r: int(p) for r, p in (ln.split() for ln in self.pids.read_text().split("\n") if ln)
            }

        wait_until(lambda: set(wanted) <= set(lines()), f"roles {wanted}")
        return lines()

    def stop(self) -> None:
        self.tree.kill_now()
        self.proc.wait(30)


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    made: list[Run] = []
    yield made
    for run in made:
        run.stop()
        for pid in (int(ln.split()[1]) for ln in run.pids.read_text().split("\n") if ln):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_parse_stat_survives_odd_command_names() -> None:
    """The command name may hold spaces and parentheses: fields are read after the last ')'."""
    line = "42 (a) b (c)) S 7 42 40 0 -1 4194560" + " 0" * 12 + " 12345 0 0\n"
    assert parse_stat(line) == ProcStat(pid=42, state="S", ppid=7, pgid=42, sid=40, start=12345)


def test_finds_daemons_and_trees_and_kills_them(tmp_path: Path, runs: list[Run]) -> None:
    """A daemon (setsid, reparented to init, ignores SIGTERM), a child in another process group,
    one in another session and one with our mark cleared are all members; kill_now ends them."""
    run = Run(tmp_path / "p", "--daemonize", "--tree", "--fork")
    runs.append(run)
    roles = run.roles("app", "daemon", "child", "group-leader", "session-leader", "bare")
    assert {s.pid for s in run.tree.members()} >= set(roles.values())
    daemon = proctree.read_stat(roles["daemon"])
    assert daemon is not None and daemon.sid != run.proc.pid  # it left the app's session
    run.tree.kill_now()
    wait_until(lambda: not any(alive(p) for p in roles.values()), "the whole tree gone")


def test_terminate_signals_each_process_once(tmp_path: Path, runs: list[Run]) -> None:
    """terminate() sends SIGTERM once per process, and counts those still running."""
    run = Run(tmp_path / "p", "--fork", "--ignore-term")
    runs.append(run)
    run.roles("app", "child")
    assert run.tree.terminate() == 2
    assert run.tree.terminate() == 2  # both ignore it; nothing is sent twice
    assert len(run.tree._terminated) == 2


def test_processes_outside_the_run_are_never_members(tmp_path: Path, runs: list[Run]) -> None:
    """Another app's tree (another mark), and this process, are not members and survive."""
    ours = Run(tmp_path / "ours", "--daemonize")
    theirs = Run(tmp_path / "theirs", "--daemonize")
    runs += [ours, theirs]
    mine = ours.roles("app", "daemon")
    other = theirs.roles("app", "daemon")
    members = {s.pid for s in ours.tree.members()}
    assert members.isdisjoint(other.values()) and os.getpid() not in members
    ours.tree.kill_now()
    wait_until(lambda: not any(alive(p) for p in mine.values()), "our tree gone")
    assert all(alive(p) for p in other.values())


def test_the_supervisor_itself_is_never_a_member(tmp_path: Path) -> None:
    """A process whose own environment carries the mark (a server started by an app of another
    server) never counts itself or its ancestors in."""
    mark = new_mark()
    code = (
        "import json, os\n"
        "from jupyter_server_proxy.apps.proctree import ProcessTree, now_ticks\n"
        f"tree = ProcessTree(os.getpid(), {mark!r}, now_ticks() - 1000)\n"
        "tree.kill_now()\n"
        "print(json.dumps([[s.pid for s in tree.members()], os.getpid(), os.getppid()]))\n"
    )
    env = dict(os.environ, **{proctree.MARK_VAR: mark})
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    members, pid, ppid = json.loads(out.stdout)
    assert pid not in members and ppid not in members


def test_a_stale_identity_is_not_signalled(tmp_path: Path) -> None:
    """send() checks the start time through a pidfd: a pid now held by another process (here:
    the same pid, another start time) gets no signal."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        now = proctree.read_stat(proc.pid)
        assert now is not None
        stale = ProcStat(now.pid, now.state, now.ppid, now.pgid, now.sid, now.start - 1)
        assert proctree.send(stale, signal.SIGKILL) is False
        assert proc.poll() is None
        assert proctree.send(now, signal.SIGKILL) is True
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait(30)


def test_a_process_older_than_the_run_is_not_a_member(tmp_path: Path, runs: list[Run]) -> None:
    """A process that started before the run is never its member, even carrying the mark and
    sitting under the run's root (a reused pid is always younger than the run it is
    mistaken for, so the reverse case is what the start time rules out)."""
    run = Run(tmp_path / "p", "--daemonize")
    runs.append(run)
    run.roles("app", "daemon")
    late = ProcessTree(run.proc.pid, run.mark, now_ticks() + 1000)
    assert late.members() == []


def test_kill_sync_stops_the_daemons_of_a_managed_app(tmp_path: Path) -> None:
    """ManagedApp.kill_sync (the at-exit path, no event loop needed) SIGKILLs the app's whole
    tree, daemons included."""
    pids = tmp_path / "p"
    spec, _ = validate_spec(
        "unruly",
        {
            "command": [
                sys.executable,
                UNRULY,
                "--pids",
                str(pids),
                "--daemonize",
                "--port",
                "{port}",
            ],
            "timeout": 20,
        },
    )
    app = ManagedApp(
        spec, base_url="/", log=logging.getLogger("test"), upstream=Upstream(), stop_grace=2
    )

    async def go() -> list[int]:
        await app.ensure_ready()
        wait_until(lambda: pids.exists() and "daemon" in pids.read_text(), "daemon")
        found = [int(ln.split()[1]) for ln in pids.read_text().split("\n") if ln]
        app.kill_sync()
        wait_until(lambda: not any(alive(p) for p in found), "the tree gone after kill_sync")
        await app.stop()
        return found

    assert not any(alive(p) for p in asyncio.run(go()))


def test_without_proc_a_run_is_its_process_group(
    tmp_path: Path, runs: list[Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no /proc (macOS, the BSDs), the run's process group is signalled, as in
    4.x: a child in the group goes, a daemon that called setsid() escapes (documented)."""
    monkeypatch.setattr(proctree, "SUPPORTED", False)
    run = Run(tmp_path / "p", "--fork", "--daemonize", "--ignore-term")
    runs.append(run)
    roles = run.roles("app", "child", "daemon")
    assert run.tree.terminate() == 1  # the group exists; everyone in it ignores SIGTERM
    run.tree.kill_now()
    run.proc.wait(30)
    wait_until(lambda: not alive(roles["child"]), "the group's child gone")
    assert alive(roles["daemon"])

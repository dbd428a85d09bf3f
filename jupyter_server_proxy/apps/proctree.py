"""Every process of one app run, wherever it went, so that it stops with the app.

An app is its whole process tree, not its process group. Launchers and servers that daemonize
(fork, ``setsid()``, fork again, exit the middle process, ignore SIGTERM) leave the group and
the session we gave the app, and the kernel hands them to init, so neither ``killpg`` nor a
walk down from the app's pid finds them. On Linux, ``/proc`` does.

Rules:
1. Membership. A process belongs to a run when it started no earlier than the run and any of
   these holds (each covers a way out of the others):
   - its environment carries the run's mark, ``JUPYTER_SERVER_PROXY_RUN=<token>`` (a fresh
     random token per start). The environment survives fork, exec, ``setsid()`` and
     reparenting, so a daemon's grandchild keeps it wherever it lands;
   - it is in the session or process group the root leads (the root is started with
     ``start_new_session``), even with its environment cleared;
   - its parent is a member (a walk down the ppid links, to a fixed point);
   - an earlier scan found it and it is the same process (pid and start time).
   Never a member: this process and its ancestors, whatever their environment says.
2. Identity is (pid, start time in clock ticks since boot), so a reused pid never matches. A
   signal goes through a pidfd opened *before* the start time is checked, so the check and the
   signal are about the same process.
3. Stopping (``stop``: SIGTERM, a grace period, SIGKILL) scans again each round, since a member
   may fork while it is being stopped; the rounds are bounded, and survivors are logged.
4. Not a child subreaper (``PR_SET_CHILD_SUBREAPER``): a Jupyter server also runs kernels and
   terminals, whose orphans would then become its zombies. Nobody could reap them, because
   ``waitpid(-1)`` would steal exit statuses that asyncio's child watcher and ``subprocess``
   wait for. The mark finds orphans wherever they are reparented, so a subreaper would add
   nothing here; and the orphans we kill are reaped by init (or the nearest subreaper above
   us), as every orphan is.
5. Where ``/proc`` is missing (macOS, the BSDs), ``SUPPORTED`` is false and a run is its process
   group, as in 4.x: a descendant that calls ``setsid()`` then escapes.

Limit: a descendant that clears its environment (or overwrites it in place, as
``setproctitle`` may) *and* leaves the root's session *and* loses its parent chain to the root
before any scan sees it is not found.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from typing import Any

MARK_VAR = "JUPYTER_SERVER_PROXY_RUN"
#: How often a stop looks again whether the app's processes are gone, and how many SIGKILL
#: rounds it makes (a process may fork while it is stopped) before it gives up and says so.
STOP_POLL = 0.05
KILL_ROUNDS = 100
#: After a process exited, how many polls its exit code gets to appear (the pipes' end will do
#: after that).
EXIT_POLLS = 100
SUPPORTED = os.path.isfile("/proc/self/stat") and os.path.isfile("/proc/self/environ")
_HZ = os.sysconf("SC_CLK_TCK") if SUPPORTED else 100


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that supervision needs (proc(5))."""

    pid: int
    state: str
    ppid: int
    pgid: int
    sid: int
    start: int  # clock ticks after boot

    @property
    def gone(self) -> bool:
        # Z: exited, waiting for its parent to reap it; X: being torn down.
        return self.state in ("Z", "X")


def parse_stat(text: str) -> ProcStat:
    # The command name (field 2) is in parentheses and may hold spaces and ")": split at the
    # last ")".
    head, _, rest = text.rpartition(")")
    fields = rest.split()
    return ProcStat(
        pid=int(head.split(" (", 1)[0]),
        state=fields[0],
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        start=int(fields[19]),
    )


def _read(path: str) -> bytes:
    # os.open/os.read: half the cost of open() for the hundreds of small files a scan reads.
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        for _ in range(64):  # /proc/<pid>/environ is at most a few MiB (ARG_MAX)
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_stat(_read(f"/proc/{pid}/stat").decode(errors="replace"))
    except (OSError, ValueError, IndexError):
        return None


def snapshot() -> dict[int, ProcStat]:
    """Every process now, by pid (those that vanish while we look are left out)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None:
                found[stat.pid] = stat
    return found


def now_ticks() -> int:
    """The current time on the clock of ``ProcStat.start`` (boot time, in clock ticks)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _HZ)


def new_mark() -> str:
    return secrets.token_hex(16)


def _ancestry() -> frozenset[int]:
    """This process and its ancestors: never signalled, whatever they carry."""
    pids = {0, 1, os.getpid()}
    pid = os.getppid()
    for _ in range(4096):  # a ppid chain is finite; the bound only guards a corrupt /proc
        if pid in pids:
            break
        pids.add(pid)
        stat = read_stat(pid)
        if stat is None:
            break
        pid = stat.ppid
    return frozenset(pids)


def open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid`` (it becomes readable when the process exits); None if there is no
    such process, or no pidfd here (not Linux, or a kernel older than 5.3)."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def send(stat: ProcStat, sig: signal.Signals) -> bool:
    """Signal the process ``stat`` describes, if that very process still runs."""
    fd = open_pidfd(stat.pid)
    if fd is None:
        fd = -1  # the start-time check below still rules out a reused pid, minus a tiny race
    try:
        now = read_stat(stat.pid)
        if now is None or now.start != stat.start or now.gone:
            return False
        with contextlib.suppress(ProcessLookupError):
            if fd >= 0:
                signal.pidfd_send_signal(fd, sig)
            else:
                os.kill(stat.pid, sig)
        return True
    finally:
        if fd >= 0:
            os.close(fd)


class ProcessTree:
    """The processes of one app run: its root (the process we spawned) and every descendant."""

    def __init__(self, root: int, mark: str, since: int) -> None:
        """``mark`` is the token in the run's environment; ``since`` is ``now_ticks()`` taken
        before the root was spawned."""
        self.root = root
        self._mark = f"{MARK_VAR}={mark}".encode()
        # One tick of slack: the two clocks round separately.
        self._since = since - 1
        self._never = _ancestry() if SUPPORTED else frozenset()
        self._known: dict[int, int] = {}
        root_stat = read_stat(root) if SUPPORTED else None
        self._root_start = root_stat.start if root_stat is not None else None
        if root_stat is not None:
            self._known[root] = root_stat.start
        self._terminated: set[tuple[int, int]] = set()

    # -- finding ---------------------------------------------------------------------------------

    def members(self) -> list[ProcStat]:
        """The run's processes now (zombies included), after a fresh scan of ``/proc``."""
        procs = snapshot()
        # The root's session and group are the run's while no other process holds its pid.
        root_now = procs.get(self.root)
        led = self._root_start is not None and (
            root_now is None or root_now.start == self._root_start
        )
        found: dict[int, ProcStat] = {}
        for pid, stat in procs.items():
            if pid in self._never or stat.start < self._since:
                continue
            if (
                self._known.get(pid) == stat.start
                or (led and self.root in (stat.sid, stat.pgid))
                or self._marked(pid)
            ):
                found[pid] = stat
        children: dict[int, list[ProcStat]] = {}
        for stat in procs.values():
            children.setdefault(stat.ppid, []).append(stat)
        stack = list(found)
        while stack:
            for child in children.get(stack.pop(), ()):
                if (
                    child.pid not in found
                    and child.pid not in self._never
                    and child.start >= self._since
                ):
                    found[child.pid] = child
                    stack.append(child.pid)
        self._known.update((pid, stat.start) for pid, stat in found.items())
        return sorted(found.values(), key=lambda s: s.pid)

    def _marked(self, pid: int) -> bool:
        try:
            return self._mark in _read(f"/proc/{pid}/environ").split(b"\0")
        except OSError:  # gone, or not ours to read
            return False

    def pids(self) -> list[int]:
        """The pids of the run's live processes (for messages)."""
        return [s.pid for s in self.members() if not s.gone] if SUPPORTED else [self.root]

    # -- stopping --------------------------------------------------------------------------------

    def terminate(self) -> int:
        """SIGTERM each live member once (a second SIGTERM means "hurry" to some apps); return
        how many members are still running."""
        if not SUPPORTED:
            if not self._terminated:
                self._terminated.add((self.root, 0))
                _killpg(self.root, signal.SIGTERM)
            return 1 if _killpg(self.root, 0) else 0
        live = [s for s in self.members() if not s.gone]
        for stat in live:
            key = (stat.pid, stat.start)
            if key not in self._terminated and send(stat, signal.SIGTERM):
                self._terminated.add(key)
        return len(live)

    def kill(self) -> int:
        """SIGKILL every live member, and the process groups members lead (so that a child
        forked this instant goes too); return how many were live."""
        if not SUPPORTED:
            return 1 if _killpg(self.root, signal.SIGKILL) else 0
        live = [s for s in self.members() if not s.gone]
        for stat in live:
            # A leader's pid (its group's id) stays taken until its parent reaps it, so the
            # group signalled right after is still the leader's.
            if send(stat, signal.SIGKILL) and stat.pgid == stat.pid:
                _killpg(stat.pgid, signal.SIGKILL)
        return len(live)

    def kill_now(self, rounds: int = 100, interval: float = 0.01) -> None:
        """``kill()`` until nothing of the run is left, without an event loop (at exit)."""
        if not SUPPORTED:
            # Nobody reaps at exit, so the group outlives its last process as a zombie: once.
            self.kill()
            return
        for _ in range(rounds):
            if not self.kill():
                return
            time.sleep(interval)


# -- stopping with an event loop ---------------------------------------------------------------


async def stop(
    tree: ProcessTree,
    proc: asyncio.subprocess.Process,
    grace: float,
    log: logging.Logger,
    name: str,
) -> None:
    """SIGTERM every process of the run, SIGKILL whatever is left after the grace period."""
    deadline = time.monotonic() + grace
    root = asyncio.ensure_future(exited(proc))
    try:
        while tree.terminate():
            if time.monotonic() >= deadline:
                log.warning("%s: still running after SIGTERM; killing", name)
                break
            # Most apps are one process: look again as soon as it exits, else every poll.
            if root.done():
                await asyncio.sleep(STOP_POLL)
            else:
                await asyncio.wait({root}, timeout=STOP_POLL)
    finally:
        root.cancel()
    for _ in range(KILL_ROUNDS):
        if not tree.kill():
            return
        await asyncio.sleep(STOP_POLL)
    log.error("%s: processes survive SIGKILL (pids: %s)", name, tree.pids())


async def exited(proc: asyncio.subprocess.Process) -> int:
    """The process's exit code, once it has exited.

    ``proc.wait()`` alone is not enough: before Python 3.12 it also waits until the stdout and
    stderr pipes close, and a daemon that inherited them keeps them open as long as it runs.
    So the exit itself is awaited, through a pidfd (readable once the process exits; Linux),
    and then the exit code, which the child watcher sets moments later when it reaps it. With
    no pidfd, the exit code is polled for a while before the pipes' end is awaited.
    """
    wait = asyncio.ensure_future(proc.wait())
    try:
        if proc.returncode is None:
            fd = open_pidfd(proc.pid)
            if fd is not None:
                try:
                    await _readable(fd, wait)
                finally:
                    os.close(fd)
            for _ in range(EXIT_POLLS):
                if proc.returncode is not None:
                    return proc.returncode
                await asyncio.wait({wait}, timeout=STOP_POLL)
        return await wait
    finally:
        wait.cancel()


async def _readable(fd: int, other: asyncio.Future[Any]) -> None:
    """Until ``fd`` is readable or ``other`` is done."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, on_readable)
    try:
        await asyncio.wait({ready, other}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        loop.remove_reader(fd)


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True

"""One supervised app: its process, its state and its log.

Rules:
1. Process state lives here and only here, in an explicit ``AppState`` with guarded transitions
   (``state.py``).
2. A child process is a resource (anyio's ``Process.aclose``): every start has a matching stop that
   waits for the exit, escalating SIGTERM -> SIGKILL after a grace period, and removes the
   private socket directory. Nothing we start outlives the server.
3. An app is its whole process tree (``proctree.py``), daemons that left its process group and
   session included. The tree is stopped with the app: on stop, restart, a failed start, server
   shutdown, and when the app's own process exits (what it left behind would hold its port).
4. Concurrent ``ensure_ready()`` callers share one start. A caller that gives up (cancelled) does
   not cancel the start for the others: the start runs in its own task. A start that a stop
   cancels fails its callers with ``AppFailed`` (a 503 that says so).
5. A start is: where to listen and what to run (``launch.py``), the spawn, draining its output
   (``logtail.py``), then polling until it answers (``readiness.py``).
6. Why an app is not running is its ``Reason`` (``state.py``), set with the state. What happens
   after it ends by itself (restart policy, back-off, crash loop) is ``policy.py``'s rule, and
   when it is idle ``idle.py``'s; this class carries them out. ``ensure_ready`` is what a
   proxied request calls, and respects them; ``start`` is a start asked for from the API.
7. ``exit_code``, ``command`` and the log of the last run stay until the next run starts.
8. Each run gets a fresh secret in its environment (``core/secret.py``), which the proxy sends
   with every request to that run; ``secret`` is the running run's, for the web layer only.
   It is in no ``info()``, log line or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timezone
from typing import Any

from ..core.errors import AppFailed
from ..core.publicurl import PublicLocation
from ..core.routing import Target
from ..core.secret import SECRET_VAR, new_secret
from ..transport.pool import Upstream
from . import launch, proctree
from .automatic import Automatic
from .identity import Identity
from .logtail import LogTail
from .policy import hold_message, holds
from .proctree import ProcessTree
from .readiness import TAIL_LINES, wait_ready
from .specs import ServerSpec
from .state import AppState, Reason, check_transition


def _utc(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


_UP = (AppState.STARTING, AppState.RUNNING)


async def _joined(
    start: asyncio.Task[Target], app: str, command: list[str], logs: LogTail
) -> Target:
    """The target of a start, for one of its callers (rule 4). ``wait``, not the task: a
    caller that gives up must not cancel the start the others wait for. A start that a stop
    cancelled is an answer for its callers, an ``AppFailed`` (503), not their cancellation."""
    await asyncio.wait({start})
    if start.cancelled():
        reason = "it was stopped before it was ready"
        raise AppFailed(app, reason, command=command, log_tail=logs.lines(TAIL_LINES))
    return start.result()


class ManagedApp(Identity):
    """One named app (or instance, ``Identity``): its process, its state and its log."""

    def __init__(
        self,
        spec: ServerSpec,
        *,
        base_url: str,
        log: logging.Logger,
        upstream: Upstream,
        stop_grace: float = 5.0,
        public: PublicLocation | None = None,
    ) -> None:
        self.spec = spec
        self.base_url = base_url
        #: Where the browser reaches the app (default: ``<base_url><name>/``, no origin).
        self.public = public
        self.log = log
        #: The proxy's pooled client (its engine's), which the readiness probe uses.
        self.upstream = upstream
        self.stop_grace = stop_grace
        self._state = AppState.STOPPED
        self._proc: asyncio.subprocess.Process | None = None
        self._tree: ProcessTree | None = None
        self._starting: asyncio.Task[Target] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._logs = LogTail(spec.name, log, spec.log_lines)
        self._socket_dir: str | None = None
        self._target: Target | None = None
        self._started_at: float | None = None
        self._exit_code: int | None = None
        self._command: list[str] = []
        self._secret: str | None = None
        self._reason: Reason | None = None
        self._stopped_at: float | None = None
        self._auto = Automatic(spec, log, start=self.ensure_ready, stop=self.stop)
        #: Where the web layer stamps the app's traffic (``idle.py``).
        self.idle = self._auto.idle

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> AppState:
        return self._state

    def _to(self, new: AppState, reason: Reason | None = None) -> None:
        check_transition(self.spec.name, self._state, new, reason)
        if new in _UP:
            self._stopped_at = None
        elif self._state in _UP:
            self._stopped_at = time.time()  # when it went down; later reasons keep the time
        self._state, self._reason = new, reason

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def secret(self) -> str | None:
        """The running run's secret, which every request forwarded to it carries; None when no
        run of ours is up (an app without a command is not ours: it gets none)."""
        return self._secret if self._state is AppState.RUNNING else None

    def info(self) -> dict[str, Any]:
        target = self._target
        running = self._state is AppState.RUNNING
        return {
            "name": self.spec.name,
            "state": self._state.value,
            "pid": self.pid,
            "port": target.port if target else None,
            "unix_socket": target.unix_socket if target else None,
            "started_at": _utc(self._started_at) if running else None,
            "exit_code": self._exit_code,
            "command": list(self._command),
            "reason": self._reason.value if self._reason else None,
            "stopped_at": _utc(self._stopped_at),
            "restart": self.spec.restart,
            "idle_timeout": self.spec.idle_timeout,
        }

    def log_tail(self, n: int | None = None) -> list[str]:
        return self._logs.lines(n)

    # -- starting -----------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        """Whether a request may not start the app (``policy.holds``): only the API can."""
        return holds(self._reason, self.spec.restart)

    async def start(self) -> Target:
        """A start asked for from the API or the UI: it also starts an app that ``held``
        keeps from requests, and the crash count begins again."""
        self._auto.asked_to_start()
        return await self.ensure_ready(asked=True)

    async def ensure_ready(self, *, asked: bool = False) -> Target:
        """The app's target once it answers; starts it (once) if it isn't running, unless it
        is ``held`` and the start was not ``asked`` for from the API (``AppFailed`` says why)."""
        if self._state is not AppState.RUNNING and self.held and not asked:
            raise AppFailed(
                self.spec.name,
                hold_message(self._reason, self._exit_code),
                command=self._command,
                log_tail=self._logs.lines(TAIL_LINES),
                exit_code=self._exit_code,
            )
        await self._auto.idle_stop_done()  # the stop goes first, then a new start
        if self._state is AppState.RUNNING and self._target is not None:
            return self._target
        if not self.spec.command:
            # Nothing to supervise: the peer's "proxy to a fixed port/socket" form.
            self._target = launch.fixed_target(self.spec)
            self._to(AppState.RUNNING)
            return self._target
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
        return await _joined(self._starting, self.spec.name, self._command, self._logs)

    async def _start(self) -> Target:
        self._auto.halt()
        # STARTING from here: a start that waits for the last run's leftovers is under way.
        self._to(AppState.STARTING)
        watch = self._watch
        if watch is not None and not watch.done():
            await watch  # what the last run left behind goes first: it may hold the port
        picks_its_port = launch.picks_its_port(self.spec)
        attempts = 1 + (launch.PORT_RETRIES if picks_its_port else 0)
        error: AppFailed | None = None
        for _ in range(attempts):
            try:
                target = await self._start_once()
            except AppFailed as e:
                error = e
                if not (picks_its_port and launch.port_was_taken(self.log_tail(20))):
                    break
                self.log.info("%s: port was taken, trying another", self.spec.name)
                continue
            self._to(AppState.RUNNING)
            self.idle.arm()
            return target
        assert error is not None
        self._to(AppState.FAILED, Reason.START_FAILED)
        self._ended_by_itself()
        raise error

    async def _start_once(self) -> Target:
        target, self._socket_dir = launch.new_target(self.spec)
        try:
            command, env = launch.command_and_environment(
                self.spec, target, self.base_url, self.public, self._launch_values()
            )
            # Set after the spec's own environment, so the secret the proxy sends always wins.
            self._secret = env[SECRET_VAR] = new_secret()
            self._command = command
            self._logs.clear()
            self._exit_code = None
            self.log.info("%s: starting %s", self.spec.name, " ".join(command))
            self._proc, self._tree = await launch.spawn(self.spec.name, command, env)
        except AppFailed:
            self._remove_socket_dir()
            raise
        self._started_at = time.time()
        proc = self._proc
        self._logs.follow(proc)
        self._target = target
        try:
            await wait_ready(
                self.spec,
                self.upstream,
                proc,
                target,
                command=command,
                logs=self._logs,
                secret=self._secret,
            )
        except BaseException as e:
            if isinstance(e, AppFailed) and e.exit_code is not None:
                self._exit_code = e.exit_code
            await self._terminate()
            raise
        self._watch = asyncio.ensure_future(self._watch_exit(proc))
        self.log.info("%s: ready (pid %s)", self.spec.name, proc.pid)
        return target

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        code = await proctree.exited(proc)
        if self._proc is proc and self._state is AppState.RUNNING:
            self._exit_code = code
            self.log.warning("%s: exited with code %s", self.spec.name, code)
            self._to(AppState.EXITED, Reason.EXITED)
            # Before the cleanup's awaits: a request meanwhile sees a crash loop at once.
            self._ended_by_itself()
            if self._tree is not None:
                await proctree.stop(self._tree, proc, self.stop_grace, self.log, self.spec.name)
            await self._logs.settle()
            self._remove_socket_dir()

    def _ended_by_itself(self) -> None:
        if self._auto.ended():
            self._to(AppState.FAILED, Reason.CRASH_LOOP)

    # -- stopping -----------------------------------------------------------------------------

    async def stop(self, reason: Reason = Reason.USER) -> None:
        """Stop the app (idempotent): SIGTERM to its group, SIGKILL after the grace period.
        ``reason``: user, idle or shutdown."""
        self._auto.halt()
        starting = self._starting
        if starting is not None and not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, AppFailed):
                await starting
        await self._terminate()
        if self._state is not AppState.STOPPED:
            self._to(AppState.STOPPED, reason)

    async def restart(self) -> Target:
        """A restart asked for from the API or the UI."""
        await self.stop()
        return await self.start()

    async def _terminate(self) -> None:
        proc = self._proc
        watch = self._watch
        self._watch = None
        if watch is not None and not watch.done():
            watch.cancel()
        if proc is not None:
            running = proc.returncode is None
            if self._tree is not None:
                await proctree.stop(self._tree, proc, self.stop_grace, self.log, self.spec.name)
            await proctree.exited(proc)
            if running:
                self._exit_code = proc.returncode
        await self._logs.close()
        self._remove_socket_dir()

    def _remove_socket_dir(self) -> None:
        launch.remove_socket_dir(self._socket_dir)
        self._socket_dir = None

    def kill_sync(self) -> None:
        """Last resort when no event loop runs (atexit): SIGKILL the app's whole tree, remove
        the socket directory."""
        if self._tree is not None:
            self._tree.kill_now()
        self._remove_socket_dir()

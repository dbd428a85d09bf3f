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
   not cancel the start for the others: the start runs in its own task.
5. A start is: where to listen and what to run (``launch.py``), the spawn, draining its output
   (``logtail.py``), then polling until it answers (``readiness.py``).
6. Each run gets a fresh secret in its environment (``core/secret.py``), which the proxy sends
   with every request to that run; ``secret`` is the running run's, for the web layer only.
   It is in no ``info()``, log line or error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..core.errors import AppFailed
from ..core.instancenames import join_name
from ..core.parameters import Value
from ..core.publicurl import PublicLocation
from ..core.routing import Target
from ..core.secret import SECRET_VAR, new_secret
from ..transport.pool import Upstream
from . import launch, proctree
from .logtail import LogTail
from .proctree import ProcessTree
from .readiness import wait_ready
from .specs import ServerSpec
from .state import AppState, check_transition


class ManagedApp:
    """One named app: its process, its state and its log."""

    def __init__(
        self,
        spec: ServerSpec,
        *,
        base_url: str,
        log: logging.Logger,
        upstream: Upstream,
        stop_grace: float = 5.0,
        public: PublicLocation | None = None,
        instance: str | None = None,
        parameters: Mapping[str, Value] | None = None,
    ) -> None:
        #: The app's name, and which of its instances this is (None: the default one). An
        #: instance runs a copy of the spec named ``<name>@<instance>``, its addressable name,
        #: which its logs, errors and entry show.
        self.app_name, self.instance = spec.name, instance
        if instance is not None:
            spec = dataclasses.replace(spec, name=join_name(spec.name, instance))
        #: The launch parameters the next start uses (None: not known yet, ``AppManager``
        #: sets them before it starts the app); ``_ran_with`` those of the last start.
        self.parameters: dict[str, Value] | None = (
            dict(parameters) if parameters is not None else None
        )
        self._ran_with: dict[str, Value] = {}
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

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> AppState:
        return self._state

    def _to(self, new: AppState) -> None:
        check_transition(self.spec.name, self._state, new)
        self._state = new

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
        started = (
            datetime.fromtimestamp(self._started_at, timezone.utc).isoformat()
            if self._started_at is not None and self._state is AppState.RUNNING
            else None
        )
        return {
            "name": self.spec.name,
            "state": self._state.value,
            "pid": self.pid,
            "port": target.port if target else None,
            "unix_socket": target.unix_socket if target else None,
            "started_at": started,
            "exit_code": self._exit_code,
            "command": list(self._command),
            "app": self.app_name,
            "instance": self.instance,
            "parameters": dict(self._ran_with),
        }

    def log_tail(self, n: int | None = None) -> list[str]:
        return self._logs.lines(n)

    # -- starting -----------------------------------------------------------------------------

    async def ensure_ready(self) -> Target:
        """The app's target once it answers; starts it (once) if it isn't running."""
        if self._state is AppState.RUNNING and self._target is not None:
            return self._target
        if not self.spec.command:
            # Nothing to supervise: the peer's "proxy to a fixed port/socket" form.
            self._target = launch.fixed_target(self.spec)
            self._to(AppState.RUNNING)
            return self._target
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
        # shield: a caller that gives up must not cancel the start the others wait for.
        return await asyncio.shield(self._starting)

    async def _start(self) -> Target:
        watch = self._watch
        if watch is not None and not watch.done():
            await watch  # what the last run left behind goes first: it may hold the port
        self._to(AppState.STARTING)
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
            return target
        assert error is not None
        self._to(AppState.FAILED)
        raise error

    async def _start_once(self) -> Target:
        target, self._socket_dir = launch.new_target(self.spec)
        try:
            command, env = launch.command_and_environment(
                self.spec, target, self.base_url, self.public, self.parameters
            )
            self._ran_with = dict(self.parameters or {})
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
            self._to(AppState.EXITED)
            if self._tree is not None:
                await proctree.stop(self._tree, proc, self.stop_grace, self.log, self.spec.name)
            await self._logs.settle()
            self._remove_socket_dir()

    # -- stopping -----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop the app (idempotent): SIGTERM to its group, SIGKILL after the grace period."""
        starting = self._starting
        if starting is not None and not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, AppFailed):
                await starting
        await self._terminate()
        if self._state is not AppState.STOPPED:
            self._to(AppState.STOPPED)

    async def restart(self) -> Target:
        await self.stop()
        return await self.ensure_ready()

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

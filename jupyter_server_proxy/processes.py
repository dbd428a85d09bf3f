"""Supervised app processes: one state machine per named app, and the manager that owns them all.

Rules:
1. Process state lives here and only here, in an explicit ``AppState`` with guarded transitions.
2. A child process is a resource (anyio's ``Process.aclose``): every start has a matching stop that
   waits for the exit, escalating SIGTERM -> SIGKILL after a grace period, and removes the
   private socket directory. Nothing we start outlives the server.
3. An app is its whole process tree (``proctree.py``), daemons that left its process group and
   session included. The tree is stopped with the app: on stop, restart, a failed start, server
   shutdown, and when the app's own process exits (what it left behind would hold its port).
4. Concurrent ``ensure_ready()`` callers share one start. A caller that gives up (cancelled) does
   not cancel the start for the others: the start runs in its own task.
5. Readiness is polled at a short fixed interval (no doubling waits): an HTTP request to
   ``ready_path`` (any response counts unless ``ready_statuses`` says otherwise), or for raw-socket
   apps a successful connect. Both go through the proxy's own client (``upstream.py``), the one
   that will carry the app's traffic. Each probe is bounded by the time left before ``timeout``,
   so an app that accepts connections but never answers fails at its ``timeout``, not later.
   A probe asks for ``Connection: close``: it leaves no idle connection behind, which a
   single-threaded app would otherwise sit on, deaf to the next client.
6. An app's stdout and stderr are drained continuously into a bounded ring buffer (and the server
   log), so a chatty app never blocks on a full pipe and a failure page can show the tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import shutil
import socket
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from . import proctree
from .core.errors import AppFailed, UpstreamTimeout, UpstreamUnavailable
from .core.routing import Target
from .proctree import MARK_VAR, ProcessTree, new_mark, now_ticks
from .specs import ServerSpec
from .transport.connect import connect
from .transport.pool import Upstream
from .transport.timelimit import within
from .utils import HookFailed, resolve

#: Readiness poll interval (seconds): short and fixed, so a fast app is seen within 5 ms. It is
#: measured from the start of one probe to the start of the next, so the probe's own cost (a
#: refused connect on loopback, a fraction of a millisecond) does not add up over a start.
POLL_INTERVAL = 0.005
#: How many times a TCP app started on a port we picked is retried if that port was taken.
PORT_RETRIES = 2
_PORT_TAKEN = ("address already in use", "eaddrinuse", "port is already", "bind")


class AppState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"
    FAILED = "failed"


_ALLOWED: dict[AppState, frozenset[AppState]] = {
    AppState.STOPPED: frozenset({AppState.STARTING, AppState.RUNNING}),
    AppState.STARTING: frozenset({AppState.RUNNING, AppState.FAILED, AppState.STOPPED}),
    AppState.RUNNING: frozenset({AppState.EXITED, AppState.STOPPED}),
    AppState.EXITED: frozenset({AppState.STARTING, AppState.RUNNING, AppState.STOPPED}),
    AppState.FAILED: frozenset({AppState.STARTING, AppState.RUNNING, AppState.STOPPED}),
}


class IllegalTransition(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    ) -> None:
        self.spec = spec
        self.base_url = base_url
        self.log = log
        #: The proxy's pooled client (its engine's), which the readiness probe uses.
        self.upstream = upstream
        self.stop_grace = stop_grace
        self._state = AppState.STOPPED
        self._proc: asyncio.subprocess.Process | None = None
        self._tree: ProcessTree | None = None
        self._starting: asyncio.Task[Target] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._socket_dir: str | None = None
        self._target: Target | None = None
        self._started_at: float | None = None
        self._exit_code: int | None = None
        self._command: list[str] = []
        self._lines: deque[str] = deque(maxlen=spec.log_lines)

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> AppState:
        return self._state

    def _to(self, new: AppState) -> None:
        if new is self._state:
            return
        if new not in _ALLOWED[self._state]:
            expected = ", ".join(sorted(s.value for s in _ALLOWED[self._state]))
            raise IllegalTransition(
                f"{self.spec.name}: cannot go from {self._state.value} to {new.value} "
                f"(expected one of: {expected})"
            )
        self._state = new

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

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
        }

    def log_tail(self, n: int | None = None) -> list[str]:
        lines = list(self._lines)
        return lines if n is None else lines[-n:]

    # -- starting -----------------------------------------------------------------------------

    async def ensure_ready(self) -> Target:
        """The app's target once it answers; starts it (once) if it isn't running."""
        if self._state is AppState.RUNNING and self._target is not None:
            return self._target
        if not self.spec.command:
            # Nothing to supervise: the peer's "proxy to a fixed port/socket" form.
            self._target = self._fixed_target()
            self._to(AppState.RUNNING)
            return self._target
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
        # shield: a caller that gives up must not cancel the start the others wait for.
        return await asyncio.shield(self._starting)

    def _fixed_target(self) -> Target:
        sock = self.spec.unix_socket
        if isinstance(sock, str):
            return Target(host="localhost", unix_socket=sock)
        return Target(host="127.0.0.1", port=self.spec.port or None)

    async def _start(self) -> Target:
        watch = self._watch
        if watch is not None and not watch.done():
            await watch  # what the last run left behind goes first: it may hold the port
        self._to(AppState.STARTING)
        attempts = 1 + (PORT_RETRIES if self._picks_its_port() else 0)
        error: AppFailed | None = None
        for _ in range(attempts):
            try:
                target = await self._start_once()
            except AppFailed as e:
                error = e
                if not (self._picks_its_port() and self._port_was_taken()):
                    break
                self.log.info("%s: port was taken, trying another", self.spec.name)
                continue
            self._to(AppState.RUNNING)
            return target
        assert error is not None
        self._to(AppState.FAILED)
        raise error

    def _picks_its_port(self) -> bool:
        return not self.spec.unix_socket and not self.spec.port

    def _port_was_taken(self) -> bool:
        tail = " ".join(self.log_tail(20)).lower()
        return any(marker in tail for marker in _PORT_TAKEN[:3])

    def _new_target(self) -> Target:
        sock = self.spec.unix_socket
        if sock is True:
            self._socket_dir = tempfile.mkdtemp(prefix=f"jupyter-server-proxy-{self.spec.name}-")
            os.chmod(self._socket_dir, 0o700)
            return Target(host="localhost", unix_socket=os.path.join(self._socket_dir, "socket"))
        if isinstance(sock, str) and sock:
            return Target(host="localhost", unix_socket=sock)
        return Target(host="127.0.0.1", port=self.spec.port or free_port())

    def _values(self, target: Target) -> dict[str, Any]:
        return {
            "port": target.port if target.port is not None else "",
            "unix_socket": target.unix_socket or "",
            "base_url": self.base_url,
        }

    async def _start_once(self) -> Target:
        target = self._new_target()
        values = self._values(target)
        owner = f"app {self.spec.name!r}"
        try:
            raw = self.spec.command
            command = [
                str(c)
                for c in resolve(
                    raw if callable(raw) else list(raw), values, owner=owner, key="command"
                )
            ]
            env_extra = resolve(self.spec.environment, values, owner=owner, key="environment")
        except HookFailed as e:  # a template or callable in the user's spec
            self._cleanup_socket_dir()
            raise AppFailed(self.spec.name, e.reason) from e
        if not command or any(c is None for c in command):
            self._cleanup_socket_dir()
            raise AppFailed(self.spec.name, "its command is empty after filling in templates")
        self._command = command
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in dict(env_extra or {}).items()})
        mark = new_mark()
        env[MARK_VAR] = mark  # every descendant inherits it: how daemons are found again
        since = now_ticks()
        self._lines.clear()
        self._exit_code = None
        self.log.info("%s: starting %s", self.spec.name, " ".join(command))
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                # Its own session and group: what a stop signals where there is no /proc.
                start_new_session=True,
            )
        except OSError as e:
            self._cleanup_socket_dir()
            raise AppFailed(
                self.spec.name,
                f"could not run {command[0]!r}: {e.strerror or e}",
                command=command,
            ) from e
        self._started_at = time.time()
        proc = self._proc
        self._tree = ProcessTree(proc.pid, mark, since)
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.ensure_future(self._drain(proc.stdout, "stdout")),
            asyncio.ensure_future(self._drain(proc.stderr, "stderr")),
        ]
        self._target = target
        try:
            await self._wait_ready(proc, target)
        except BaseException:
            await self._terminate()
            raise
        self._watch = asyncio.ensure_future(self._watch_exit(proc))
        self.log.info("%s: ready (pid %s)", self.spec.name, proc.pid)
        return target

    async def _drain(self, stream: asyncio.StreamReader, name: str) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the reader's limit: take what there is
                line = await stream.read(64 * 1024)
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\r\n")
            self._lines.append(text)
            self.log.info("[%s %s] %s", self.spec.name, name, text)

    async def _wait_ready(self, proc: asyncio.subprocess.Process, target: Target) -> None:
        deadline = time.monotonic() + self.spec.timeout
        while True:
            if proc.returncode is not None:
                await self._settle_readers()
                self._exit_code = proc.returncode
                raise AppFailed(
                    self.spec.name,
                    f"exited with code {proc.returncode} before it was ready",
                    command=self._command,
                    log_tail=self.log_tail(40),
                    exit_code=proc.returncode,
                )
            probed_at = time.monotonic()
            # The last probe before the deadline still gets a poll interval to be answered.
            why_not = await self._probe(target, max(deadline - probed_at, POLL_INTERVAL))
            if why_not is None:
                return
            if time.monotonic() >= deadline:
                raise AppFailed(
                    self.spec.name,
                    f"not ready after {self.spec.timeout:g}s ({why_not})",
                    command=self._command,
                    log_tail=self.log_tail(40),
                )
            # A probe that took longer than the interval is followed at once: probes still
            # start at most one per interval, as each takes that long itself.
            await asyncio.sleep(max(probed_at + POLL_INTERVAL - time.monotonic(), 0))

    async def _settle_readers(self) -> None:
        # The process is gone; let the readers take what is left in the pipes (bounded).
        with contextlib.suppress(asyncio.TimeoutError):
            await within(asyncio.gather(*self._readers, return_exceptions=True), 2)

    async def _probe(self, target: Target, bound: float) -> str | None:
        """One readiness check within ``bound`` seconds: ``None`` if the app is ready, else
        what it did instead, for the failure message."""
        path = self.spec.ready_path
        try:
            return await within(self._check(target), bound)
        except asyncio.TimeoutError:
            if self.spec.raw_socket_proxy:
                return f"{target.where} did not accept a connection in time"
            return f"{target.where} did not answer GET {path} in time"
        except (UpstreamUnavailable, UpstreamTimeout) as e:
            return e.message

    async def _check(self, target: Target) -> str | None:
        if self.spec.raw_socket_proxy:  # not HTTP: a connect is all that can be asked
            tuning = self.upstream.settings.loopback_congestion_control
            # bounded by _probe
            transport = await connect(target, asyncio.Protocol(), 0, congestion_control=tuning)
            transport.close()
            return None
        path = self.spec.ready_path
        host = "localhost" if target.unix_socket else f"localhost:{target.port}"
        headers = [("Host", host), ("User-Agent", "jupyter-server-proxy"), ("Connection", "close")]
        response = await self.upstream.request("GET", target, path, headers, None)
        # The status is all a probe needs: releasing the response without its body closes the
        # connection (it asked for close anyway), so the pool never holds a half-read one.
        response.release()
        statuses = self.spec.ready_statuses
        if not statuses or response.status in statuses:
            return None
        wanted = ", ".join(map(str, statuses))
        return f"{target.where} answered GET {path} with {response.status}, not one of {wanted}"

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        code = await proctree.exited(proc)
        if self._proc is proc and self._state is AppState.RUNNING:
            self._exit_code = code
            self.log.warning("%s: exited with code %s", self.spec.name, code)
            self._to(AppState.EXITED)
            if self._tree is not None:
                await proctree.stop(self._tree, proc, self.stop_grace, self.log, self.spec.name)
            await self._settle_readers()
            self._cleanup_socket_dir()

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
        await self._settle_readers()
        for task in self._readers:
            task.cancel()
        self._readers = []
        self._cleanup_socket_dir()

    def _cleanup_socket_dir(self) -> None:
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def kill_sync(self) -> None:
        """Last resort when no event loop runs (atexit): SIGKILL the app's whole tree, remove
        the socket directory."""
        if self._tree is not None:
            self._tree.kill_now()
        self._cleanup_socket_dir()


class AppManager:
    """Owns every ``ManagedApp`` of a server; the single place their lifetimes end."""

    def __init__(
        self,
        specs: Mapping[str, ServerSpec],
        *,
        base_url: str,
        log: logging.Logger,
        upstream: Upstream,
        stop_grace: float = 5.0,
    ) -> None:
        self.apps: dict[str, ManagedApp] = {
            name: ManagedApp(
                spec, base_url=base_url, log=log, upstream=upstream, stop_grace=stop_grace
            )
            for name, spec in specs.items()
        }

    def get(self, name: str) -> ManagedApp:
        return self.apps[name]

    async def stop_all(self) -> None:
        """Stop every app concurrently; never raises (it runs during server shutdown)."""
        results = await asyncio.gather(
            *(app.stop() for app in self.apps.values()), return_exceptions=True
        )
        for app, result in zip(self.apps.values(), results, strict=True):
            if isinstance(result, BaseException):
                app.log.error("%s: error while stopping: %s", app.spec.name, result)

    def kill_all_sync(self) -> None:
        for app in self.apps.values():
            app.kill_sync()

"""Waiting for a started app to be ready: polling it until it answers, exits, or runs out of time.

Rules:
1. Readiness is polled: an HTTP request to ``ready_path`` (any response counts unless
   ``ready_statuses`` says otherwise), or for raw-socket apps a successful connect. Both go
   through the proxy's own client (``Upstream``), the one that will carry the app's traffic.
2. Polls start 1 ms apart, and the interval grows with the time the start has taken
   (``interval``): what polling adds to a start is at most a quarter of a percent of its length,
   while an app that takes minutes is probed 20 times a second, not a thousand (not doubling
   waits, which can add as much as the start took).
3. The wait ends early for what makes a probe worth doing at once: the app's exit, and for an
   app on a unix socket, something created in the socket's directory (``pathwatch.py``). A
   socket that does not exist yet is not probed (a stat says so), and when it appears the
   intervals start again from 1 ms.
4. Each probe is bounded by the time left before ``timeout``, so an app that accepts
   connections but never answers fails at its ``timeout``, not later.
5. A probe asks for ``Connection: close``: it leaves no idle connection behind, which a
   single-threaded app would otherwise sit on, deaf to the next client.
6. A probe carries the run's secret (``core/secret.py``), as the proxy's requests do: an app
   that refuses requests without it is still seen to be ready.
7. An app that exits first, or is not ready in time, is an ``AppFailed`` with the reason, the
   command and the tail of its log (and the exit code, when it exited). So is an app over TLS
   whose certificate does not verify, at once: waiting would not change it.
"""

from __future__ import annotations

import asyncio
import os
import time

from ..core.errors import AppFailed, CertificateRefused, UpstreamTimeout, UpstreamUnavailable
from ..core.routing import Target
from ..core.secret import identity_headers
from ..transport.connect import connect
from ..transport.pool import Upstream
from ..transport.timelimit import within
from . import proctree
from .logtail import LogTail
from .pathwatch import watch_directory
from .specs import ServerSpec

#: Seconds between the first probes: an app that starts fast is seen within about a
#: millisecond of listening. A refused connect on loopback and the wake-up before it cost the
#: server's event loop about 0.1 ms, a tenth of the loop while probes are this close.
FIRST_INTERVAL = 0.001
#: Then the interval is this fraction of the time the start has taken so far, so polling adds
#: at most this fraction to any start (5 ms to one of 2 s), and the number of probes grows
#: with the logarithm of the start's length: 400 in the first 0.4 s, about 1,300 more to 10 s.
INTERVAL_FRACTION = 0.0025
#: ... and never more than this: an app that takes minutes is probed 20 times a second.
MAX_INTERVAL = 0.05
#: Lines of the app's log that a failure carries.
TAIL_LINES = 40


def interval(elapsed: float) -> float:
    """Seconds from one probe's start to the next, ``elapsed`` seconds into the wait (rule 2)."""
    return min(max(FIRST_INTERVAL, elapsed * INTERVAL_FRACTION), MAX_INTERVAL)


class _Alarm:
    """A sleep that something else can end early (rule 3); a ring that comes while nobody
    sleeps ends the next sleep at once, so no wake-up is lost between two probes."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._rung = False
        self._sleeper: asyncio.Future[None] | None = None

    def ring(self) -> None:
        self._rung = True
        sleeper = self._sleeper
        if sleeper is not None and not sleeper.done():
            sleeper.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if not self._rung:
            sleeper: asyncio.Future[None] = self._loop.create_future()
            self._sleeper = sleeper
            timer = self._loop.call_later(seconds, self.ring)
            try:
                await sleeper
            finally:
                timer.cancel()
                self._sleeper = None
        self._rung = False


async def wait_ready(
    spec: ServerSpec,
    upstream: Upstream,
    proc: asyncio.subprocess.Process,
    target: Target,
    *,
    command: list[str],
    logs: LogTail,
    secret: str | None = None,
) -> None:
    """Return once the app at ``target`` is ready; raise ``AppFailed`` if it exits first or is
    not ready within ``spec.timeout``."""
    began = time.monotonic()
    deadline = began + spec.timeout
    alarm = _Alarm()
    exit_watch = asyncio.ensure_future(proctree.exited(proc))

    def exited(task: asyncio.Future[int]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: the loop polls ``returncode`` whatever it says
        alarm.ring()

    exit_watch.add_done_callback(exited)
    socket = target.unix_socket
    watch = watch_directory(os.path.dirname(socket), alarm.ring) if socket else None
    #: When the current run of intervals began (rule 3: again when the socket appears).
    since: float | None = began
    try:
        while True:
            if proc.returncode is not None:
                await logs.settle()
                raise AppFailed(
                    spec.name,
                    f"exited with code {proc.returncode} before it was ready",
                    command=command,
                    log_tail=logs.lines(TAIL_LINES),
                    exit_code=proc.returncode,
                )
            probed_at = time.monotonic()
            # A stat of a local path: a microsecond, it never waits on a device or a network.
            if socket and not os.path.exists(socket):  # noqa: ASYNC240
                since = None
                why_not = f"{target.where} does not exist"
                # Watched, the socket's creation wakes the wait: the next look is for the rest.
                wait = MAX_INTERVAL if watch is not None else interval(probed_at - began)
            else:
                if since is None:
                    since = probed_at
                wait = interval(probed_at - since)
                # The last probe before the deadline still gets an interval to be answered.
                bound = max(deadline - probed_at, wait)
                try:
                    maybe = await probe(spec, upstream, target, bound, secret)
                except CertificateRefused as e:
                    # The app answers, with a certificate its settings do not trust: waiting
                    # would only delay the same answer until ``timeout``.
                    raise AppFailed(
                        spec.name,
                        e.message,
                        command=command,
                        log_tail=logs.lines(TAIL_LINES),
                    ) from e
                if maybe is None:
                    return
                why_not = maybe
            if time.monotonic() >= deadline:
                raise AppFailed(
                    spec.name,
                    f"not ready after {spec.timeout:g}s ({why_not})",
                    command=command,
                    log_tail=logs.lines(TAIL_LINES),
                )
            # Measured from one probe's start to the next, so the probe's own cost does not add
            # up over a start; one that took longer than the interval is followed at once.
            await alarm.sleep(max(min(probed_at + wait, deadline) - time.monotonic(), 0))
    finally:
        exit_watch.cancel()
        if watch is not None:
            watch.close()


async def probe(
    spec: ServerSpec, upstream: Upstream, target: Target, bound: float, secret: str | None = None
) -> str | None:
    """One readiness check within ``bound`` seconds: ``None`` if the app is ready, else what it
    did instead, for the failure message."""
    try:
        return await within(check(spec, upstream, target, secret), bound)
    except asyncio.TimeoutError:
        if spec.raw_socket_proxy:
            return f"{target.where} did not accept a connection in time"
        return f"{target.where} did not answer GET {spec.ready_path} in time"
    except CertificateRefused:
        raise
    except (UpstreamUnavailable, UpstreamTimeout) as e:
        return e.message


async def check(
    spec: ServerSpec, upstream: Upstream, target: Target, secret: str | None = None
) -> str | None:
    """One readiness check, unbounded (``probe`` bounds it)."""
    if spec.raw_socket_proxy:  # not HTTP: a connect is all that can be asked
        tuning = upstream.settings.loopback_congestion_control
        transport = await connect(target, asyncio.Protocol(), 0, congestion_control=tuning)
        transport.close()
        return None
    path = spec.ready_path
    host = "localhost" if target.unix_socket else f"localhost:{target.port}"
    headers = [("Host", host), ("User-Agent", "jupyter-server-proxy"), ("Connection", "close")]
    if secret:
        headers += identity_headers(secret, None)
    response = await upstream.request("GET", target, path, headers, None)
    # The status is all a probe needs: releasing the response without its body closes the
    # connection (it asked for close anyway), so the pool never holds a half-read one.
    response.release()
    statuses = spec.ready_statuses
    if not statuses or response.status in statuses:
        return None
    wanted = ", ".join(map(str, statuses))
    return f"{target.where} answered GET {path} with {response.status}, not one of {wanted}"

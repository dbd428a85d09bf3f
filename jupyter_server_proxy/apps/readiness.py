"""Waiting for a started app to be ready: polling it until it answers, exits, or runs out of time.

Rules:
1. Readiness is polled at a short fixed interval (no doubling waits): an HTTP request to
   ``ready_path`` (any response counts unless ``ready_statuses`` says otherwise), or for
   raw-socket apps a successful connect. Both go through the proxy's own client
   (``Upstream``), the one that will carry the app's traffic.
2. Each probe is bounded by the time left before ``timeout``, so an app that accepts
   connections but never answers fails at its ``timeout``, not later.
3. A probe asks for ``Connection: close``: it leaves no idle connection behind, which a
   single-threaded app would otherwise sit on, deaf to the next client.
4. A probe carries the run's secret (``core/secret.py``), as the proxy's requests do: an app
   that refuses requests without it is still seen to be ready.
5. An app that exits first, or is not ready in time, is an ``AppFailed`` with the reason, the
   command and the tail of its log (and the exit code, when it exited).
"""

from __future__ import annotations

import asyncio
import time

from ..core.errors import AppFailed, UpstreamTimeout, UpstreamUnavailable
from ..core.routing import Target
from ..core.secret import identity_headers
from ..transport.connect import connect
from ..transport.pool import Upstream
from ..transport.timelimit import within
from .logtail import LogTail
from .specs import ServerSpec

#: Readiness poll interval (seconds): short and fixed, so a fast app is seen within 5 ms. It is
#: measured from the start of one probe to the start of the next, so the probe's own cost (a
#: refused connect on loopback, a fraction of a millisecond) does not add up over a start.
POLL_INTERVAL = 0.005
#: Lines of the app's log that a failure carries.
TAIL_LINES = 40


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
    deadline = time.monotonic() + spec.timeout
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
        # The last probe before the deadline still gets a poll interval to be answered.
        bound = max(deadline - probed_at, POLL_INTERVAL)
        why_not = await probe(spec, upstream, target, bound, secret)
        if why_not is None:
            return
        if time.monotonic() >= deadline:
            raise AppFailed(
                spec.name,
                f"not ready after {spec.timeout:g}s ({why_not})",
                command=command,
                log_tail=logs.lines(TAIL_LINES),
            )
        # A probe that took longer than the interval is followed at once: probes still
        # start at most one per interval, as each takes that long itself.
        await asyncio.sleep(max(probed_at + POLL_INTERVAL - time.monotonic(), 0))


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

"""The proxy engine's shared state: its settings and its connection pools.

One ``Engine`` lives in the tornado application's settings (``web/settings.py``): the extension
puts one there, configured from ``c.ServerProxy``; a plain tornado app that mounts a
``ProxyHandler`` subclass (dask's scheduler does) gets one with the defaults on first use.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..core.headers import Headers
from ..core.routing import Target
from ..core.tls import TlsSettings
from ..transport.pool import Upstream, UpstreamSettings
from .pipe import BackendConnection, PipeSettings, Side, WebSocketPipe, connect_backend
from .socketside import Loop, SocketSide
from .thread import RelayLoop, shared_loop

#: How long stopping waits for the relay thread to have closed its websockets (seconds).
CLOSE_WAIT = 10.0
#: The reason both ends of a relayed websocket hear when the server stops.
SHUTDOWN_REASON = "server shutting down"


@dataclass(frozen=True)
class EngineSettings(UpstreamSettings):
    websocket_max_message_size: int = 1 << 30
    #: Seconds between keep-alive pings to an idle websocket client; 0 disables them.
    websocket_ping_interval: float = 30.0
    #: Seconds a pinged client may stay silent; 0: max(3 ping intervals, 30 s).
    websocket_ping_timeout: float = 0.0
    #: Relay websockets between two plain sockets on the relay thread (``thread.py``);
    #: False: on the server's loop, as with a TLS client.
    websocket_relay_thread: bool = True
    #: The largest response body held in memory for a ``rewrite_response`` hook (bytes).
    rewrite_buffer_limit: int = 64 << 20
    #: TLS for ``/proxy/`` targets by ``host:port`` or ``host`` (``core.tls.tls_for``).
    upstream_tls: Mapping[str, TlsSettings] = field(default_factory=dict)


class _Pipes:
    """The websockets relayed on one loop, so that stopping can close them with a reason.

    Invariant: an instance is touched only on its loop's thread. Other threads reach it by a call
    posted to that loop, never directly: a free-threaded Python (PEP 703) makes no promise that a
    set operation is atomic against another thread's copy of the set."""

    def __init__(self) -> None:
        self._running: set[WebSocketPipe] = set()
        self._closed = False

    def start(self, pipe: WebSocketPipe) -> None:
        """Start ``pipe``; once ``close`` has run, it is closed as soon as it starts."""
        self._running.add(pipe)  # first: starting may end it, and its end removes it
        pipe.start()
        if self._closed:
            pipe.shutdown(SHUTDOWN_REASON)

    def ended(self, pipe: WebSocketPipe) -> None:
        self._running.discard(pipe)

    def close(self) -> None:
        self._closed = True
        for pipe in list(self._running):  # each one's end removes it from the set
            pipe.shutdown(SHUTDOWN_REASON)


class Engine:
    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings = settings or EngineSettings()
        self.upstream = Upstream(settings)
        self._pipe_settings = PipeSettings(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_message_size=settings.websocket_max_message_size,
            ping_interval=settings.websocket_ping_interval,
            ping_timeout=settings.websocket_ping_timeout
            or max(3 * settings.websocket_ping_interval, 30.0),
            loopback_congestion_control=settings.loopback_congestion_control,
        )
        # Websockets being relayed, in two sets, each owned by one thread (see ``_Pipes``):
        # ``_local`` by the server's loop, where ``relay`` and ``close`` are called;
        # ``_threaded`` by the relay thread, which hears of a new pipe, and of stopping, by a
        # call posted to its loop.
        self._local = _Pipes()
        self._threaded = _Pipes()
        self._relay_loop: RelayLoop | None = None  # the relay thread's loop, once used
        self._closed = False  # ``close`` has begun: a new relay stays on the server's loop

    async def open_websocket(
        self, target: Target, target_uri: str, headers: Headers, protocols: Sequence[str]
    ) -> BackendConnection:
        return await connect_backend(target, target_uri, headers, protocols, self._pipe_settings)

    def relay(self, client: Side, backend: Side, *, on_activity: Callable[[], None]) -> None:
        """Relay between two connected sides; call on the server's loop. Between two plain
        sockets (neither end on TLS) the relay runs on the relay thread (``thread.py``) unless
        the settings say otherwise, so ``on_activity`` must be safe to call from there: the
        handlers' only hands a stamp to the server's loop."""
        relay_loop = None
        if (
            self.settings.websocket_relay_thread
            and not self._closed
            and isinstance(client, SocketSide)
            and isinstance(backend, SocketSide)
        ):
            relay_loop = self._relay_loop = shared_loop()
        pipes = self._local if relay_loop is None else self._threaded
        loop: Loop = relay_loop or asyncio.get_running_loop()
        pipe = WebSocketPipe(
            client, backend, self._pipe_settings, loop, on_activity=on_activity, on_done=pipes.ended
        )
        if relay_loop is None:
            pipes.start(pipe)
        else:  # handed over: from here on the pipe and its sides are the relay thread's
            relay_loop.call_soon_threadsafe(functools.partial(pipes.start, pipe))

    async def close(self) -> None:
        """Close every websocket with a reason, each on its own loop, then the pools. A relay
        that starts later is closed as it starts."""
        self._closed = True
        self._local.close()
        if self._relay_loop is not None:
            # Bounded: the relay's callbacks never block, but a stop must not hang.
            done = asyncio.wrap_future(self._relay_loop.run(self._threaded.close))
            await asyncio.wait([done], timeout=CLOSE_WAIT)
        await self.upstream.close()

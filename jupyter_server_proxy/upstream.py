"""Pooled HTTP client to backends, over TCP and unix sockets (websockets: ``wspipe.py``).

Rules:
- One keep-alive pool for all TCP backends and one per unix socket; connections are reused across
  requests and users' tabs. Pool decisions are aiohttp's; I/O errors are translated into our error
  types here and nowhere else (httpcore's "exceptions are mapped at the boundary").
- Bytes pass untouched: no automatic decompression, no added ``Accept-Encoding``/``User-Agent``, and
  URLs are taken as already encoded, so ``%2F`` reaches the backend as ``%2F``.
- A request without a body that fails on a reused connection the backend had already closed is
  retried once on a fresh one (the race RFC 9112 §9.3.1 warns of); nothing with a body is retried.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from .core.errors import ProxyError, UpstreamTimeout, UpstreamUnavailable
from .core.routing import Target

_NEVER_ADD = ("Accept-Encoding", "User-Agent", "Content-Type")
#: How much of a backend's response may wait in memory before we stop reading its socket. Large
#: enough that a fast backend isn't paused every 64 KiB; small enough to stay bounded per request.
READ_BUFFER = 1 << 20


@dataclass(frozen=True)
class UpstreamSettings:
    connect_timeout: float = 10.0
    #: Seconds the backend may stay silent while we wait for or read its response; 0 is forever.
    read_timeout: float = 300.0
    limit_per_host: int = 64
    websocket_max_message_size: int = 1 << 30


def translate(error: BaseException, target: Target) -> ProxyError:
    """The one map from client-library errors to ours (and so to an HTTP status)."""
    where = target.where
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return UpstreamUnavailable(f"{where} closed the connection before it answered")
    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ClientOSError)):
        return UpstreamUnavailable(f"could not connect to {where}: {error.strerror or error}")
    if isinstance(error, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return UpstreamTimeout(f"{where} did not answer within the configured timeout")
    return UpstreamUnavailable(f"{where}: {error}")


class Upstream:
    """Owns the connection pools. Create one per server; ``close()`` on shutdown."""

    def __init__(self, settings: UpstreamSettings | None = None) -> None:
        self.settings = settings or UpstreamSettings()
        self._tcp: aiohttp.ClientSession | None = None
        self._unix: dict[str, aiohttp.ClientSession] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None,
            connect=self.settings.connect_timeout,
            sock_read=self.settings.read_timeout or None,
        )

    def _session(self, target: Target) -> aiohttp.ClientSession:
        if target.unix_socket is None and self._tcp is not None and not self._tcp.closed:
            return self._tcp  # the hot path: one shared pool for every TCP backend
        common = {
            "auto_decompress": False,
            "skip_auto_headers": _NEVER_ADD,
            "timeout": self._timeout(),
            "cookie_jar": aiohttp.DummyCookieJar(),
            "read_bufsize": READ_BUFFER,
        }
        if target.unix_socket:
            session = self._unix.get(target.unix_socket)
            if session is None or session.closed:
                self._prune_unix()
                connector = aiohttp.UnixConnector(
                    path=target.unix_socket, limit=0, limit_per_host=self.settings.limit_per_host
                )
                session = aiohttp.ClientSession(connector=connector, **common)  # type: ignore[arg-type]
                self._unix[target.unix_socket] = session
            return session
        if self._tcp is None or self._tcp.closed:
            tcp = aiohttp.TCPConnector(
                limit=0, limit_per_host=self.settings.limit_per_host, use_dns_cache=True
            )
            self._tcp = aiohttp.ClientSession(connector=tcp, **common)  # type: ignore[arg-type]
        return self._tcp

    def _prune_unix(self) -> None:
        """Close the pools of sockets that are gone (an app stopped; its socket dir went with it),
        so restarts don't pile up pools."""
        for path in [p for p in self._unix if not os.path.exists(p)]:
            task = asyncio.ensure_future(self._unix.pop(path).close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @staticmethod
    def url(target: Target, target_uri: str, scheme: str = "http") -> URL:
        """``target_uri`` is origin-form and already percent-encoded; keep it byte for byte."""
        path, _, query = target_uri.partition("?")
        host = "localhost" if target.unix_socket else target.host
        return URL.build(
            scheme=scheme,
            host=host,
            port=None if target.unix_socket else target.port,
            path=path,
            query_string=query,
            encoded=True,
        )

    async def request(
        self,
        method: str,
        target: Target,
        target_uri: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes] | bytes | None,
    ) -> aiohttp.ClientResponse:
        """Send the request and return once the response head arrived; the caller streams the body
        and must ``release()`` or ``close()`` the response."""
        session = self._session(target)
        url = self.url(target, target_uri)
        hdrs = CIMultiDict(headers)
        attempts = 2 if body is None else 1
        for attempt in range(attempts):
            try:
                return await session.request(
                    method,
                    url,
                    headers=hdrs,
                    data=body,
                    allow_redirects=False,
                    compress=None,
                    chunked=None,
                )
            except aiohttp.ServerDisconnectedError as e:
                if attempt + 1 < attempts:
                    continue
                raise translate(e, target) from e
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                raise translate(e, target) from e
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        sessions = [s for s in [self._tcp, *self._unix.values()] if s is not None]
        self._tcp = None
        self._unix.clear()
        for session in sessions:
            await session.close()

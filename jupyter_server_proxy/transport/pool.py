"""Pooled HTTP/1.1 client to backends, over TCP and unix sockets, plain or TLS (websockets:
``relay/pipe.py``).

Why our own client (on asyncio protocols and the ``httptools`` parser) rather than a general one:
a proxy needs little of a general client (no cookies, redirects, decompression or URL handling)
and pays for all of it on every request. Here a request is one write of bytes we built, the
response head is parsed in C, and body bytes are handed to the client side from the socket
callback itself, with no task switch per read.

Rules:
- Keep-alive pools per backend (``host:port`` or unix socket path, and its TLS settings: a TLS
  connection is never handed out for a plain one, nor the reverse); an idle connection the backend
  closes leaves the pool when its close arrives. At most ``limit_per_host`` idle connections are
  kept per backend; concurrency is not capped (each request already holds a client connection).
  The pool's decisions use the connection's public side only (``is_reusable`` as an exchange
  ends, ``closed`` and ``quiet`` as an idle one is taken, ``close``).
- Bytes pass untouched: the request target is sent as received (``%2F`` stays ``%2F``), bodies
  and their ``Content-Encoding`` are not touched, nothing is added but ``Host`` when missing.
- A request body is streamed with the client's ``Content-Length`` when it gave one, else with
  chunked coding (RFC 9112 §7.1).
- A request without a body that fails on a reused connection before any byte of an answer is
  retried once on a fresh one (the race RFC 9112 §9.3.1 warns of); nothing with a body is.
- Every wait is bounded: connecting by ``connect_timeout``, the backend's silence by
  ``read_timeout`` (``connection.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from ..core.errors import UpstreamUnavailable
from ..core.headers import connection_tokens
from ..core.routing import Target
from .connect import connect
from .connection import Connection
from .errors import ClosedUnanswered
from .loopback import DEFAULT as DEFAULT_CONGESTION_CONTROL
from .reading import READ_BUFFER
from .response import Response
from .tls import TLS_CLOSE_HINT


@dataclass(frozen=True)
class UpstreamSettings:
    connect_timeout: float = 10.0
    #: Seconds the backend may stay silent while we wait for or read its response; 0 is forever.
    read_timeout: float = 300.0
    limit_per_host: int = 64
    #: Bytes of a response head (status line and fields, with the 1xx heads before it), and of
    #: what a chunked body sends between two data bytes (chunk-size lines, trailers). 64 KiB is
    #: tornado's ``max_header_size``, which 4.x (on tornado's client) applied to backends; nginx
    #: (``proxy_buffer_size``, 4-8 KiB) and Varnish (``http_resp_size``, 32 KiB) are stricter.
    max_response_header_size: int = 64 << 10
    #: Header fields in one response head (or trailer section): Apache's ``LimitRequestFields``
    #: (100); Varnish allows a backend's response 64 (``http_max_hdr``). It bounds the per-field
    #: work of a head made of many tiny fields, which the size alone lets through by the thousand.
    max_response_header_count: int = 100
    #: What replaces a pacing congestion control (bbr) on our connections to loopback backends;
    #: "" keeps the host's choice (``loopback.py``).
    loopback_congestion_control: str = DEFAULT_CONGESTION_CONTROL


_NO_BODY_ANSWER = frozenset({"HEAD"})


def request_head(
    method: str,
    target: Target,
    target_uri: str,
    headers: Sequence[tuple[str, str]],
    body: AsyncIterator[bytes] | bytes | None,
) -> tuple[bytes, bool, bool]:
    """The request's head as sent, whether its body goes chunked, and whether it says
    ``Connection: close``."""
    fields = list(headers)
    names = {n.lower() for n, _ in fields}
    if "host" not in names:
        fields.insert(0, ("Host", "localhost" if target.unix_socket else target.authority))
    chunked = False
    if isinstance(body, bytes):
        fields = [(n, v) for n, v in fields if n.lower() != "content-length"]
        fields.append(("Content-Length", str(len(body))))
    elif body is not None and "content-length" not in names:
        chunked = True
        fields.append(("Transfer-Encoding", "chunked"))
    lines = [f"{method} {target_uri} HTTP/1.1", *[f"{n}: {v}" for n, v in fields], "", ""]
    return "\r\n".join(lines).encode("latin-1"), chunked, "close" in connection_tokens(fields)


class Upstream:
    """Owns the connection pools. Create one per server; ``close()`` on shutdown."""

    def __init__(self, settings: UpstreamSettings | None = None) -> None:
        self.settings = settings or UpstreamSettings()
        self._idle: dict[str, list[Connection]] = {}
        #: Where every connection's reads land (see ``reading.py``).
        self.read_buffer = memoryview(bytearray(READ_BUFFER))
        self._all: set[Connection] = set()

    @staticmethod
    def _address(target: Target) -> str:
        return f"unix:{target.unix_socket}" if target.unix_socket else target.authority

    @classmethod
    def _key(cls, target: Target) -> str:
        """The pool a connection to ``target`` is kept in: its address and its TLS settings, so
        a TLS and a plain connection to one address (or two with other TLS settings, another
        client certificate, say) never stand in for each other."""
        address = cls._address(target)
        return address if target.tls is None else f"{address} {target.tls!r}"

    async def _connect(self, target: Target, key: str, timeout: float) -> Connection:
        conn = Connection(
            self,
            key,
            target,
            buffer=self.read_buffer,
            max_head=self.settings.max_response_header_size,
            max_fields=self.settings.max_response_header_count,
        )
        await connect(
            target,
            conn,
            timeout,
            congestion_control=self.settings.loopback_congestion_control,
        )
        self._all.add(conn)
        return conn

    def _take_idle(self, key: str) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.quiet():
                return conn
            conn.close()
        return None

    def give_back(self, conn: Connection) -> None:
        """Keep ``conn`` (idle after a reusable exchange) for the next request to its backend."""
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) < self.settings.limit_per_host:
            idle.append(conn)
        else:
            conn.close()

    def forget(self, conn: Connection) -> None:
        """``conn`` closed: it leaves the pool."""
        self._all.discard(conn)
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.key]

    async def request(
        self,
        method: str,
        target: Target,
        target_uri: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes] | bytes | None,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> Response:
        """Send the request and return once the response head arrived; the caller takes the
        body and must ``release()`` the response. The two timeouts, when given, replace the
        settings' for this request only (a handler's ``proxy_request_options``)."""
        if connect_timeout is None:
            connect_timeout = self.settings.connect_timeout
        if read_timeout is None:
            read_timeout = self.settings.read_timeout
        key = self._key(target)
        head, chunked, last = request_head(method, target, target_uri, headers, body)
        url = f"{target.scheme}://{self._address(target)}{target_uri}"
        attempts = 2 if body is None else 1
        for attempt in range(attempts):
            conn = self._take_idle(key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(target, key, connect_timeout)
            try:
                return await conn.exchange(
                    head,
                    body,
                    chunked=chunked,
                    no_body_answer=method in _NO_BODY_ANSWER,
                    last=last,
                    read_timeout=read_timeout,
                    url=url,
                )
            except ClosedUnanswered as e:
                conn.finish_exchange()
                if reused and attempt + 1 < attempts:
                    continue
                raise UpstreamUnavailable(
                    f"{target.where} closed the connection before it answered",
                    details=(TLS_CLOSE_HINT,) if target.tls else (),
                ) from e
            except BaseException:
                conn.finish_exchange()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()

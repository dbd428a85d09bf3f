"""A backend's answer as ``Upstream.request`` returns it: the final head at once, the body on
demand, and ``release()`` to end the exchange (which decides the connection's reuse)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ..core.errors import UpstreamUnavailable
from ..core.headers import Headers

#: Takes each read of the body; an awaitable it returns means "busy": reading stops until it
#: is done (backpressure).
Sink = Callable[[bytes], "Awaitable[None] | None"]


class Exchange(Protocol):
    """What an answer needs of the connection it came on (``connection.Connection``)."""

    async def deliver(self, sink: Sink) -> None: ...

    def finish_exchange(self) -> None: ...


class Response:
    """A backend's final answer; complete when built (``url`` is where the request went)."""

    def __init__(
        self,
        conn: Exchange,
        status: int,
        reason: str,
        headers: Headers,
        content_length: int | None,
        url: str,
    ) -> None:
        self._conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        self.content_length = content_length
        self.url = url

    async def stream_to(self, sink: Sink) -> None:
        """Pass the body to ``sink`` read by read until it ends. Raises ``BodyBroken`` if the
        backend breaks off, or what the sink raised."""
        await self._conn.deliver(sink)

    async def read_all(self, limit: int, too_big: str) -> bytes:
        """The whole body; ``UpstreamUnavailable(too_big)`` past ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0

        def keep(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > limit:
                raise UpstreamUnavailable(too_big)
            parts.append(chunk)

        await self._conn.deliver(keep)
        return b"".join(parts)

    def release(self) -> None:
        """Done with this exchange: the connection goes back to the pool if it can be reused."""
        self._conn.finish_exchange()

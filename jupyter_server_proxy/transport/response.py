"""A backend's answer as ``Upstream.request`` returns it: the final head at once, the body on
demand, and ``release()`` to end the exchange (which decides the connection's reuse)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..core.errors import UpstreamUnavailable
from ..core.headers import Headers

if TYPE_CHECKING:
    from .connection import Connection

#: Takes each read of the body; an awaitable it returns means "busy": reading stops until it
#: is done (backpressure).
Sink = Callable[[bytes], "Awaitable[None] | None"]


class Response:
    """A backend's final answer; complete when built (``url`` is where the request went)."""

    def __init__(
        self,
        conn: Connection,
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

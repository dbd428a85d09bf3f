"""A request body on its way from the client's connection to the backend's: a bounded channel.

The handler puts each chunk tornado reads; the upstream client takes them as it can write them.
At most ``capacity`` chunks wait in between, so a slow backend stops us reading the client
(backpressure) and memory stays bounded. Puts and takes that need not wait cost no task switch,
which matters at a chunk per socket read.

``abandon()`` is for when the exchange has ended early (the backend answered before the body was
all sent, or failed): waiting puts return and later ones drop their chunk, so the client's upload
drains instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator


class BodyChannel:
    def __init__(self, capacity: int) -> None:
        self._items: deque[bytes] = deque()
        self._capacity = capacity
        self._ended = False
        self._abandoned = False
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None

    async def put(self, chunk: bytes) -> None:
        while len(self._items) >= self._capacity and not self._abandoned:
            self._putter = asyncio.get_running_loop().create_future()
            await self._putter
        if self._abandoned:
            return
        self._items.append(chunk)
        _wake(self._getter)

    def end(self) -> None:
        """The client's body is complete."""
        self._ended = True
        _wake(self._getter)

    def abandon(self) -> None:
        self._abandoned = True
        self._items.clear()
        _wake(self._putter)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            while not self._items:
                if self._ended or self._abandoned:
                    return
                self._getter = asyncio.get_running_loop().create_future()
                await self._getter
            item = self._items.popleft()
            _wake(self._putter)  # room again: the client's next chunk may be read now
            yield item


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)

"""A time limit on one await that loses neither its result nor a cancel.

``asyncio.wait_for`` before Python 3.12 runs the awaitable as a task of its own and, when a
cancel of the caller meets that task's completion, returns the result as if nobody had
cancelled (bpo-42130, gh-86296). A proxy meets this whenever a client leaves just as the backend
connection for its request is opened: the one cancel that would have freed the request is
swallowed, and the request waits on a backend that may never answer (seen under load in
``tests/attack/test_load.py``). ``within`` awaits in the caller's own task instead, so a cancel
reaches the awaited coroutine, which cleans up after itself (``create_connection`` closes the
socket it opened).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


if sys.version_info >= (3, 11):

    async def within(awaitable: Awaitable[T], seconds: float) -> T:
        """``await awaitable``, raising ``asyncio.TimeoutError`` after ``seconds`` (0: no limit).
        A cancel of the caller is always raised, never taken for the limit."""
        if not seconds:
            return await awaitable
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10, which has no asyncio.timeout

    async def within(awaitable: Awaitable[T], seconds: float) -> T:
        """As above; without ``Task.uncancel`` a cancel that comes in the same turn as the limit
        is raised as the limit (the one loss left on 3.10)."""
        if not seconds:
            return await awaitable
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if expired:
                raise asyncio.TimeoutError() from None
            raise
        finally:
            timer.cancel()

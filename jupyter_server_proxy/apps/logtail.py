"""An app's stdout and stderr: drained continuously into a bounded ring buffer and the server log.

Rule: both pipes are read for as long as the process has them open, so a chatty app never
blocks on a full pipe; the last ``log_lines`` lines are kept for the log view and failure pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from ..transport.timelimit import within

#: How long the readers get, once the process is gone, to take what is left in the pipes.
SETTLE_TIME = 2


class LogTail:
    """The output of one app's current run (cleared at each start)."""

    def __init__(self, app: str, log: logging.Logger, lines: int) -> None:
        self.app = app
        self.log = log
        self._lines: deque[str] = deque(maxlen=lines)
        self._readers: list[asyncio.Task[None]] = []

    def lines(self, n: int | None = None) -> list[str]:
        lines = list(self._lines)
        return lines if n is None else lines[-n:]

    def clear(self) -> None:
        self._lines.clear()

    def follow(self, proc: asyncio.subprocess.Process) -> None:
        """Start draining the pipes of a process started with stdout and stderr as PIPE."""
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.ensure_future(self._drain(proc.stdout, "stdout")),
            asyncio.ensure_future(self._drain(proc.stderr, "stderr")),
        ]

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
            self.log.info("[%s %s] %s", self.app, name, text)

    async def settle(self) -> None:
        """The process is gone: let the readers take what is left in the pipes (bounded)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await within(asyncio.gather(*self._readers, return_exceptions=True), SETTLE_TIME)

    async def close(self) -> None:
        """Settle, then stop reading."""
        await self.settle()
        for task in self._readers:
            task.cancel()
        self._readers = []

"""A scripted HTTP/1.1 backend on raw asyncio streams: it answers each request with the exact
bytes a test dictates, so tests can send what misbehaving and hostile servers send.

Rules:
- It runs on the test's own event loop (``await ScriptedBackend.start()``), on loopback.
- Each request is answered by the script registered for its path (the path the backend sees),
  or by the built-in answers: ``/ok`` ("ok") and ``/tag/<n>`` ("tag <n>"). A script is a list
  of steps, run in order: ``bytes`` are written and drained; ``Gap`` pauses, so that the proxy
  most likely reads what came before on its own (a way to split reads, never something a test
  asserts on); ``Wait`` waits for an event the test sets; ``Stream`` writes one piece many times;
  ``CLOSE`` closes the connection. After the last step the connection waits for the next request.
- It records every connection it accepted and every request (with the connection it came on),
  and when the other side closed each connection, so a test can tell whether the proxy reused a
  connection and whether it dropped one it must not reuse.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Gap:
    seconds: float = 0.05


@dataclass(frozen=True)
class Wait:
    event: asyncio.Event


@dataclass(frozen=True)
class Stream:
    """``piece`` written ``times`` times; how much went out is in ``Conn.streamed``."""

    piece: bytes
    times: int


class _Close:
    def __repr__(self) -> str:
        return "CLOSE"


CLOSE = _Close()
Step = bytes | Gap | Wait | Stream | _Close
Script = Sequence[Step]
#: A script chosen per request: called with the request's path.
Router = Callable[[str], Script | None]

_TAG = re.compile(r"^/tag/(\d+)$")


def answer(body: bytes, *extra: str) -> bytes:
    """A well-formed keep-alive answer with ``Content-Length``."""
    fields = "".join(f"{h}\r\n" for h in extra)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (fields.encode(), len(body), body)


@dataclass
class Conn:
    number: int
    #: Set when the connection ended (the other side closed it, or the script did).
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    streamed: int = 0


@dataclass
class ScriptedBackend:
    scripts: dict[str, Script] = field(default_factory=dict)
    router: Router | None = None
    conns: list[Conn] = field(default_factory=list)
    #: (connection number, request line) of every request received.
    requests: list[tuple[int, str]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> ScriptedBackend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def script_for(self, path: str) -> Script:
        if path in self.scripts:
            return self.scripts[path]
        if self.router is not None:
            script = self.router(path)
            if script is not None:
                return script
        if path == "/ok":
            return [answer(b"ok")]
        tag = _TAG.match(path)
        if tag:
            return [answer(b"tag " + tag.group(1).encode())]
        return [b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(len(self.conns) + 1)
        self.conns.append(conn)
        try:
            await self._exchanges(conn, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # ``stop()`` ends connections still waiting; end quietly, or asyncio's stream
            # server logs the cancelled handler as an error.
            pass
        finally:
            conn.gone.set()
            writer.close()
            self._tasks.discard(task)

    async def _exchanges(
        self, conn: Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the proxy closed the connection
            line, _, rest = head.decode("latin-1").partition("\r\n")
            length = re.search(r"(?im)^content-length:\s*(\d+)", rest)
            if length:
                await reader.readexactly(int(length.group(1)))
            elif re.search(r"(?im)^transfer-encoding:\s*chunked", rest):
                await reader.readuntil(b"0\r\n\r\n")
            self.requests.append((conn.number, line))
            path = line.split(" ")[1]
            for step in self.script_for(path):
                if isinstance(step, bytes):
                    writer.write(step)
                    await writer.drain()
                elif isinstance(step, Gap):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Wait):
                    await step.event.wait()
                elif isinstance(step, Stream):
                    for _ in range(step.times):
                        writer.write(step.piece)
                        await writer.drain()
                        conn.streamed += len(step.piece)
                else:
                    return
            # Anything the proxy sends now is the next request; its close ends the loop.

    async def wait_gone(self, number: int, timeout: float = 10.0) -> None:
        """Until connection ``number`` ended (bounded)."""
        await asyncio.wait_for(self.conns[number - 1].gone.wait(), timeout)

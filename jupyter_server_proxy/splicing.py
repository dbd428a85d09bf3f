"""Large response bodies moved by the kernel: backend socket -> pipe -> client socket (splice(2)).

Why: past a few MB, a proxy's time goes to the two copies every byte makes through user space
(profiled: ~60% in recv and send). ``splice`` moves the bytes between the sockets through a pipe
inside the kernel, so the proxy only decides when.

Rules:
- Exactly ``length`` bytes are moved (the body's Content-Length); the backend ending sooner, or
  staying silent for ``read_timeout`` while we wait for it, is ``BodyBroken``. A client that goes
  away is a ``ConnectionError``.
- Backpressure is the pipe's: we read from the backend only while the pipe has room, and the pipe
  drains only as fast as the client takes bytes. Nothing is held in the process.
- The descriptors are the caller's: nothing here closes them. Waiting is done with the event loop's
  own reader/writer callbacks, so the descriptors must not belong to an asyncio transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sys

from .upstream import BodyBroken

_PIPE_SIZE = 1 << 20
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


def available() -> bool:
    return sys.platform == "linux" and hasattr(os, "splice")


async def splice_body(src: int, dst: int, length: int, *, read_timeout: float, where: str) -> None:
    """Move ``length`` bytes from socket ``src`` to socket ``dst`` (both non-blocking)."""
    pipe_r, pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        with contextlib.suppress(OSError):  # a smaller pipe only means more rounds
            fcntl.fcntl(pipe_w, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)
        left, in_pipe = length, 0
        while left or in_pipe:
            moved = False
            if left and in_pipe < _PIPE_SIZE:
                try:
                    n = os.splice(src, pipe_w, min(left, _PIPE_SIZE - in_pipe), flags=_FLAGS)
                except BlockingIOError:
                    n = -1
                except OSError as e:
                    raise BodyBroken(f"{where} broke off the response: {e.strerror}") from e
                if n == 0:
                    raise BodyBroken(f"{where} closed the connection {left} bytes short")
                if n > 0:
                    left, in_pipe, moved = left - n, in_pipe + n, True
            if in_pipe:
                try:
                    m = os.splice(pipe_r, dst, in_pipe, flags=_FLAGS)
                except BlockingIOError:
                    m = -1
                if m > 0:
                    in_pipe, moved = in_pipe - m, True
            if not moved:
                await _wait(
                    src if left and in_pipe < _PIPE_SIZE else None,
                    dst if in_pipe else None,
                    read_timeout,
                    where,
                )
    finally:
        os.close(pipe_r)
        os.close(pipe_w)


async def _wait(
    readable: int | None, writable: int | None, read_timeout: float, where: str
) -> None:
    """Until ``readable`` can be read or ``writable`` written. Only a wait for the backend alone
    is bounded by ``read_timeout``: a slow client sets its own pace."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if readable is not None:
        loop.add_reader(readable, wake)
    if writable is not None:
        loop.add_writer(writable, wake)
    try:
        timeout = read_timeout if writable is None and read_timeout else None
        await asyncio.wait_for(ready, timeout)
    except asyncio.TimeoutError as e:
        raise BodyBroken(f"{where} went silent mid-response") from e
    finally:
        if readable is not None:
            loop.remove_reader(readable)
        if writable is not None:
            loop.remove_writer(writable)

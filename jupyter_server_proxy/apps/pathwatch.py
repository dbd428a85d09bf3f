"""Being woken when something is created in a directory (Linux inotify(7)): an app on a unix
socket is probed the moment its socket appears, instead of at the next poll (``readiness.py``).

Rules:
1. A watch is a hint, never the answer: it calls its owner back, and the owner still checks
   (connects). So events are not parsed: anything created or moved into the directory calls.
2. Where there is no inotify (not Linux, a libc without it, the user's limit of watches
   reached, a directory that does not exist, an event loop without ``add_reader``),
   ``watch_directory`` returns None and the caller polls as it would anyway.
3. A watch holds a file descriptor and an event-loop reader until ``close()``, which closes the
   descriptor off the event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
from collections.abc import Callable
from functools import cache
from typing import Any

# <sys/inotify.h>: the events that make a name appear in a directory. IN_NONBLOCK and
# IN_CLOEXEC are defined as O_NONBLOCK and O_CLOEXEC.
IN_MOVED_TO = 0x80
IN_CREATE = 0x100


@cache
def _inotify() -> tuple[Any, Any] | None:
    """libc's ``inotify_init1`` and ``inotify_add_watch``, or None where there are none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        init = libc.inotify_init1
        add = libc.inotify_add_watch
    except (OSError, TypeError, AttributeError):  # no libc by that name, no such symbol
        return None
    init.argtypes = [ctypes.c_int]
    init.restype = ctypes.c_int
    add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    add.restype = ctypes.c_int
    return init, add


class DirectoryWatch:
    """Calls ``on_change`` (on the event loop) whenever something is created in a directory."""

    def __init__(self, fd: int, on_change: Callable[[], None]) -> None:
        self._fd = fd
        self._on_change = on_change
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        try:
            while os.read(self._fd, 4096):  # the events themselves are not needed (rule 1)
                pass
        except BlockingIOError:
            pass
        self._on_change()

    def close(self) -> None:
        """Stop watching. The descriptor is closed on a worker thread: closing an inotify
        instance that has a watch waits for the kernel to retire the watch (an RCU grace
        period: often a fraction of a millisecond, sometimes tens or hundreds of them on a
        busy machine), which must not stall the event loop and every request on it."""
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        self._loop.remove_reader(fd)
        try:
            self._loop.run_in_executor(None, os.close, fd)
        except RuntimeError:  # the loop's executor is shut down (the server is stopping)
            os.close(fd)


def watch_directory(path: str, on_change: Callable[[], None]) -> DirectoryWatch | None:
    """A watch on ``path`` that calls ``on_change``, or None where none can be had (rule 2)."""
    functions = _inotify()
    if functions is None:
        return None
    init, add = functions
    fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        return None
    try:
        if add(fd, os.fsencode(path), IN_CREATE | IN_MOVED_TO) < 0:
            os.close(fd)
            return None
        return DirectoryWatch(fd, on_change)
    except NotImplementedError:  # an event loop without add_reader (Windows' proactor)
        os.close(fd)
        return None

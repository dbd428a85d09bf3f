"""Kernel pipes for moving long websocket payloads from socket to socket with splice(2), kept
for reuse (``socketside.py`` says why the relay moves payloads this way)."""

from __future__ import annotations

import fcntl
import os
import threading

#: splice(2) is Linux's (Python ≥ 3.10); elsewhere long payloads take the recv/send path.
SPLICE_AVAILABLE = hasattr(os, "splice")

SPLICE_FLAGS = (os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK) if SPLICE_AVAILABLE else 0
_PIPE_SIZE = 1 << 20  # fewer, larger moves; the kernel may refuse (a per-user limit): fine
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
#: Empty pipes kept for reuse, at most (two descriptors each).
PIPES_KEPT = 4


class _Pipes:
    """Empty pipes kept for the next move. Making, sizing and closing a pipe for each move took
    a fifth of the relay's busy time in a 1 MiB echo (py-spy); an idle pipe holds no memory, but
    its size counts against a per-user pipe quota, so only a few are kept.

    Invariants: every pipe kept is empty (a move that ended early gives back a closed pipe).
    Relays run on the relay thread and on the server's loop at once (a TLS client, or the relay
    thread turned off), so the list is only touched under its lock: no reliance on a list
    operation being atomic, which a free-threaded Python does not promise."""

    def __init__(self) -> None:
        self._free: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def take(self) -> tuple[int, int]:
        """(read end, write end), both non-blocking."""
        with self._lock:
            if self._free:
                return self._free.pop()
        out, into = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(into, _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass  # the default pipe size works too, in smaller moves
        return out, into

    def give(self, pipe: tuple[int, int], *, empty: bool) -> None:
        if empty:
            with self._lock:
                if len(self._free) < PIPES_KEPT:
                    self._free.append(pipe)
                    return
        os.close(pipe[0])
        os.close(pipe[1])


#: The pipes of every relay in this process (both loops: see ``_Pipes``).
PIPES = _Pipes()

"""The kernel pipes kept for splice moves: empty ones are kept up to ``PIPES_KEPT`` and handed out
again; a pipe that may hold bytes, or one too many, is closed; a pipe the kernel will not enlarge
still serves."""

from __future__ import annotations

import errno
import fcntl
import os

import pytest

from jupyter_server_proxy.relay import splicepipes
from jupyter_server_proxy.relay.splicepipes import PIPES_KEPT, SPLICE_AVAILABLE, _Pipes

pytestmark = pytest.mark.skipif(not SPLICE_AVAILABLE, reason="splice(2) is Linux's")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_empty_pipes_are_kept_up_to_the_limit_and_handed_out_again() -> None:
    pipes = _Pipes()
    taken = [pipes.take() for _ in range(PIPES_KEPT + 1)]
    for pipe in taken:
        pipes.give(pipe, empty=True)
    extra = taken[-1]
    assert not _is_open(extra[0]) and not _is_open(extra[1])  # one too many: closed
    again = {pipes.take() for _ in range(PIPES_KEPT)}
    assert again == set(taken[:PIPES_KEPT])
    for pipe in again:
        pipes.give(pipe, empty=False)


def test_a_pipe_that_may_hold_bytes_is_closed_not_kept() -> None:
    pipes = _Pipes()
    out, into = pipes.take()
    os.write(into, b"left over")
    pipes.give((out, into), empty=False)
    assert not _is_open(out) and not _is_open(into)
    fresh = pipes.take()  # a new pipe (its numbers may be the old ones again), and empty
    try:
        with pytest.raises(BlockingIOError):
            os.read(fresh[0], 64)
    finally:
        pipes.give(fresh, empty=False)


def test_a_pipe_the_kernel_will_not_enlarge_still_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the per-user pipe quota the kernel refuses F_SETPIPE_SZ with EPERM: the pipe keeps
    its default size and moves go in smaller steps."""

    def refuse(fd: int, cmd: int, arg: int = 0) -> int:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(splicepipes.fcntl, "fcntl", refuse)
    pipes = _Pipes()
    out, into = pipes.take()
    monkeypatch.undo()
    try:
        assert os.write(into, b"still a pipe") == 12
        assert os.read(out, 64) == b"still a pipe"
        assert fcntl.fcntl(into, fcntl.F_GETFL) & os.O_NONBLOCK
    finally:
        pipes.give((out, into), empty=False)

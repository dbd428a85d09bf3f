"""The readiness wait's schedule (1 ms apart at first, a bounded fraction of the start's length
later, at most 20 probes a second), the directory watch that wakes it when a unix socket
appears, and the rule that a socket that does not exist yet is not probed."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_server_proxy.apps import readiness
from jupyter_server_proxy.apps.logtail import LogTail
from jupyter_server_proxy.apps.pathwatch import watch_directory
from jupyter_server_proxy.apps.readiness import (
    FIRST_INTERVAL,
    INTERVAL_FRACTION,
    MAX_INTERVAL,
    interval,
    wait_ready,
)
from jupyter_server_proxy.apps.validation import validate_spec
from jupyter_server_proxy.core.errors import AppFailed
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.pool import Upstream
from tests.conftest import HERE, poll_until

PROBED = str(HERE / "backends" / "probed.py")
needs_inotify = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="inotify is Linux's"
)


def probes_until(seconds: float) -> int:
    """How many probes the schedule makes in a wait of ``seconds``."""
    t, n = 0.0, 0
    while t < seconds:
        t += interval(t)
        n += 1
    return n


def test_the_first_probes_are_a_millisecond_apart() -> None:
    assert interval(0) == interval(0.1) == FIRST_INTERVAL == 0.001


def test_the_interval_grows_with_the_start_and_stays_a_small_fraction_of_it() -> None:
    """What polling can add to a start that took t seconds is one interval: never more than
    a quarter of a percent of t (or the first millisecond), never more than the cap."""
    times = [i / 100 for i in range(100_000)]  # 0 to 1000 s
    gaps = [interval(t) for t in times]
    assert gaps == sorted(gaps)
    assert all(interval(t) <= max(FIRST_INTERVAL, INTERVAL_FRACTION * t) for t in times)
    assert max(gaps) == MAX_INTERVAL == 0.05
    assert interval(2.0) == pytest.approx(0.005)  # 5 ms for an app that takes 2 s


def test_an_app_that_takes_minutes_is_probed_a_bounded_number_of_times() -> None:
    """About 400 probes in the first 0.4 s, then a number that grows with the logarithm of the
    start's length, then 20 a second."""
    assert probes_until(0.4) <= 401
    assert probes_until(10) < 1800
    assert probes_until(600) - probes_until(300) <= 300 * 20 + 1


@needs_inotify
def test_a_watch_calls_back_when_a_socket_appears(tmp_path: Path) -> None:
    """Creating a unix socket (bind) in the watched directory calls the watch's owner."""

    async def go() -> None:
        calls: list[int] = []
        watch = watch_directory(str(tmp_path), lambda: calls.append(1))
        assert watch is not None
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(str(tmp_path / "socket"))
                await poll_until(lambda: calls, "the watch's call", timeout=10, interval=0.01)
        finally:
            watch.close()
        watch.close()  # closing twice is harmless

    asyncio.run(go())


def test_no_watch_on_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    """The caller then polls (rule 2 of pathwatch)."""

    async def go() -> None:
        assert watch_directory(str(tmp_path / "missing"), lambda: None) is None

    asyncio.run(go())


class CountingUpstream(Upstream):
    """The proxy's client, noting for each request whether the unix socket existed."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.existed: list[bool] = []

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        self.existed.append(os.path.exists(self.path))  # noqa: ASYNC240 - a local stat
        return await super().request(*args, **kwargs)


@pytest.mark.parametrize("watched", [True, False], ids=["inotify", "polled"])
def test_a_socket_that_does_not_exist_yet_is_not_probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, watched: bool
) -> None:
    """An app that binds its socket late is probed only once the socket exists, and is then
    seen ready, with a watch and without one (where there is no inotify)."""
    if not watched:
        monkeypatch.setattr(readiness, "watch_directory", lambda *_: None)
    elif not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux's")
    path = str(tmp_path / "socket")
    spec, _ = validate_spec("late", {"command": ["x"], "unix_socket": path, "timeout": 30})
    upstream = CountingUpstream(path)
    command = ["sh", "-c", f'sleep 0.3; exec "$0" {PROBED} --unix-socket {path}', sys.executable]

    async def go() -> None:
        proc = await asyncio.create_subprocess_exec(*command)
        logs = LogTail("late", logging.getLogger("test"), 10)
        try:
            target = Target(host="localhost", unix_socket=path)
            await wait_ready(spec, upstream, proc, target, command=command, logs=logs)
        finally:
            proc.kill()
            await proc.wait()
            await upstream.close()

    asyncio.run(go())
    assert upstream.existed and all(upstream.existed)


def test_an_exit_ends_the_wait_for_a_socket(tmp_path: Path) -> None:
    """An app on a unix socket that exits before it binds fails with its exit code."""
    path = str(tmp_path / "socket")
    spec, _ = validate_spec("gone", {"command": ["x"], "unix_socket": path, "timeout": 30})
    command = ["sh", "-c", "sleep 0.2; exit 4"]

    async def go() -> None:
        proc = await asyncio.create_subprocess_exec(*command)
        logs = LogTail("gone", logging.getLogger("test"), 10)
        target = Target(host="localhost", unix_socket=path)
        with pytest.raises(AppFailed) as e:
            await wait_ready(spec, Upstream(), proc, target, command=command, logs=logs)
        assert e.value.exit_code == 4

    asyncio.run(go())

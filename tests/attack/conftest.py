"""Fixtures of the attack suite: a cheap raw backend in a process of its own, and its counters."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, stop_process, wait_until

RAW_BACKEND = Path(__file__).with_name("rawbackend.py")


@dataclass
class RawBackend:
    proc: subprocess.Popen[bytes]
    port: int

    def stats(self) -> dict[str, int]:
        """The backend's counters; its own connection for this call counts as open."""
        url = f"http://127.0.0.1:{self.port}/stats"
        with urllib.request.urlopen(url, timeout=10) as r:
            return dict(json.loads(r.read()))


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def raw_backend() -> Iterator[RawBackend]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(RAW_BACKEND), "--port", str(port)], start_new_session=True
    )
    wait_until(lambda: _answers(port) or proc.poll() is not None, "raw backend")
    assert proc.poll() is None, "the raw backend exited at start"
    yield RawBackend(proc, port)
    stop_process(proc)

"""Warnings that jupyter_server_proxy raises in a server the tests start are errors there, and
fail the test (tests/subprocess_site/sitecustomize.py, ``JupyterServer.stop``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import JupyterServer, raised_warnings


def test_a_deprecated_option_in_a_server_fails_the_test(tmp_path: Path) -> None:
    """A server whose config sets the deprecated ServerProxy.host_whitelist raises our
    deprecation warning as an exception, and stopping the server fails, naming it."""
    server = JupyterServer(tmp_path, "c.ServerProxy.host_whitelist = ['old.example']\n")
    try:
        server.start()
    finally:
        with pytest.raises(AssertionError, match="UserWarning: ServerProxy.host_whitelist"):
            server.stop()


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_warning_attributed_to_our_module_is_an_error() -> None:
    """What the warnings filter attributes to one of our modules (a library's deprecation
    whose stacklevel names our call, a leaked socket) raises in a test's subprocess."""
    done = _run(
        "import warnings\n"
        "warnings.warn_explicit('ours', DeprecationWarning, 'x.py', 1,"
        " module='jupyter_server_proxy.transport.pool')\n"
    )
    assert done.returncode == 1
    assert raised_warnings(done.stderr) == ["DeprecationWarning: ours"]


def test_warnings_of_other_packages_stay_warnings() -> None:
    """Other packages' warnings keep Python's default actions: shown, not raised."""
    done = _run("import warnings\nwarnings.warn('theirs', UserWarning)\n")
    assert done.returncode == 0, done.stderr
    assert "UserWarning: theirs" in done.stderr
    assert raised_warnings(done.stderr) == []

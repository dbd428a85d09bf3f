"""Plugins found through the ``jupyter_serverproxy_servers`` entry points: our demo plugin
(examples/hello) and the published hello-jupyter-proxy 0.1 (TCP, ``{port}``) and 0.2 (unix
socket), installed beside us with ``--no-deps`` and used unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import JupyterServer, module_server, run


async def get(server: JupyterServer, path: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url(path), headers=server.auth, allow_redirects=False) as r:
            return r.status, r.headers, await r.read()


demo = module_server("", ["/user/alice/"])


def test_demo_plugin_registers_and_serves(demo: JupyterServer) -> None:
    """The demo app is in servers-info with its title and icon, and /hello/ shows what it got."""
    status, _, body = run(get(demo, "server-proxy/servers-info"))
    procs = {p["name"]: p for p in json.loads(body)["server_processes"]}
    assert procs["hello"]["launcher_entry"]["title"] == "Hello"
    assert procs["hello"]["new_browser_tab"] is False
    status, headers, icon = run(get(demo, "server-proxy/icon/hello"))
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    status, _, page = run(get(demo, "hello/some/path?x=1"))
    assert status == 200, page
    text = page.decode()
    assert '<code id="path">/some/path?x=1</code>' in text
    assert "/user/alice/hello" in text  # the forwarded context path
    _ = icon


def _install(version: str, target: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            f"hello-jupyter-proxy=={version}",
        ],
        check=True,
    )


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0"])
def test_published_hello_jupyter_proxy_works_unchanged(version: str, tmp_path: Path) -> None:
    """hello-jupyter-proxy from PyPI, installed --no-deps beside us, serves /hello/."""
    target = tmp_path / "site"
    _install(version, target)
    s = JupyterServer(tmp_path / "srv", "", env={"PYTHONPATH": str(target)}).start()
    try:
        status, _, page = run(get(s, "hello/"))
        assert status == 200, page
        assert b"Hello Jupyter-server-proxy" in page
        assert b"Request path is <code>/</code>" in page
    finally:
        s.stop()

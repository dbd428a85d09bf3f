"""``jupyter-standaloneproxy`` with the 4.x command-line options (authentication off, as for local
testing; the Hub login itself is covered by the Hub end-to-end tests)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from compat_support import (
    BACKEND,
    TCPECHO,
    browser_ws_headers,
    connects,
    free_port,
    request,
    stop_process,
    wait_until,
)

pytest.importorskip("jupyterhub")

LAUNCH = "from jupyter_server_proxy.standalone import main; main()"


def _start(
    tmp: Path, *options: str, app: tuple[str, ...] = (str(BACKEND), "--port={port}")
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    log = tmp / f"standalone-{port}.log"
    args = [
        sys.executable,
        "-c",
        LAUNCH,
        f"--port={port}",
        "--address=127.0.0.1",
        "--no-authentication",
        "--activity-interval=0",
        *options,
        "--",
        sys.executable,
        *app,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=tmp
        )
    wait_until(lambda: connects(port) or proc.poll() is not None, "standalone proxy")
    assert proc.poll() is None, log.read_text(errors="replace")
    return proc, port, log


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """Under ``--base-url=/user/alice/`` with a fixed ``--server-port`` and ``--timeout``;
    yields the proxy's port and the app's."""
    tmp = tmp_path_factory.mktemp("standalone")
    server_port = free_port()
    proc, port, _ = _start(
        tmp, "--base-url=/user/alice/", f"--server-port={server_port}", "--timeout=30"
    )
    try:
        yield port, server_port
    finally:
        stop_process(proc)


def test_standalone_proxies_under_base_url(standalone: tuple[int, int]) -> None:
    r = request(f"http://127.0.0.1:{standalone[0]}/user/alice/some/path?q=1")
    assert r.status == 200, r.body[:500]
    doc = r.json()
    assert doc["path"] == "/some/path" and doc["query"] == "q=1"  # type: ignore[index]


def test_standalone_server_port(standalone: tuple[int, int]) -> None:
    """``--server-port`` is the port the app is started on (``{port}``)."""
    doc = request(f"http://127.0.0.1:{standalone[0]}/user/alice/").json()
    argv = doc["argv"]  # type: ignore[index]
    port = next(a.split("=", 1)[1] for a in argv if a.startswith("--port="))
    assert int(port) == standalone[1]


def test_standalone_base_url_without_slash_redirects(standalone: tuple[int, int]) -> None:
    r = request(f"http://127.0.0.1:{standalone[0]}/user/alice")
    assert r.status in (301, 302) and r.headers["Location"].endswith("/user/alice/")


def test_standalone_outside_base_url_is_404(standalone: tuple[int, int]) -> None:
    assert request(f"http://127.0.0.1:{standalone[0]}/elsewhere/").status == 404


def test_standalone_same_origin_websocket(standalone: tuple[int, int]) -> None:
    """A browser's same-origin websocket (Origin and Sec-Fetch-*) is accepted and relayed."""
    url = f"ws://127.0.0.1:{standalone[0]}/user/alice/ws"
    headers = browser_ws_headers(f"http://127.0.0.1:{standalone[0]}")

    async def go() -> str:
        async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=headers) as ws:
            hello = json.loads(await asyncio.wait_for(ws.receive_str(), 30))
            await ws.send_str("t")
            assert await asyncio.wait_for(ws.receive_str(), 30) == "t"
            return str(hello["path"])

    assert asyncio.run(go()) == "/ws"


def test_standalone_absolute_url(tmp_path: Path) -> None:
    """``--absolute-url``: the app sees the full path."""
    proc, port, _ = _start(tmp_path, "--base-url=/user/bob/", "--absolute-url")
    try:
        r = request(f"http://127.0.0.1:{port}/user/bob/x")
        assert r.status == 200, r.body[:500]
        assert r.json()["path"] == "/user/bob/x"  # type: ignore[index]
    finally:
        stop_process(proc)


def test_standalone_raw_socket_proxy(tmp_path: Path) -> None:
    """``--raw-socket-proxy``: websocket messages go to a plain TCP app and back as bytes."""
    proc, port, _ = _start(
        tmp_path, "--base-url=/user/carol/", "--raw-socket-proxy", app=(str(TCPECHO), "{port}")
    )
    url = f"ws://127.0.0.1:{port}/user/carol/"

    async def go() -> bytes:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_bytes(b"raw")
            return await asyncio.wait_for(ws.receive_bytes(), 30)

    try:
        assert asyncio.run(go()) == b"raw"
    finally:
        stop_process(proc)

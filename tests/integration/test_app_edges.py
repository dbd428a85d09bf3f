"""Named apps at the edges: raw-socket apps, apps that ignore SIGTERM, clients that give up
while an app starts, readiness probes (ready_statuses over a unix socket, an app that accepts
and never answers), and activity rules."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import aiohttp
import pytest

from tests.conftest import HERE, JupyterServer, alive, module_server, run, wait_until
from tests.conftest import lifecycle as api

TCPECHO = str(HERE / "backends" / "tcpecho.py")
UNRULY = str(HERE / "backends" / "unruly.py")
ECHO = str(HERE / "backends" / "echo.py")
PROBED = str(HERE / "backends" / "probed.py")

CONFIG = f"""
import sys
c.ServerProxy.stop_timeout = 0.5
c.ServerProxy.servers = {{
    "raw": {{
        "command": [sys.executable, {TCPECHO!r}, "--port", "{{port}}"],
        "raw_socket_proxy": True,
        "timeout": 20,
    }},
    "stubborn": {{
        "command": [sys.executable, {UNRULY!r}, "--port", "{{port}}", "--ignore-term"],
        "timeout": 20,
    }},
    "slow": {{
        "command": [sys.executable, {UNRULY!r}, "--port", "{{port}}", "--delay", "1.5"],
        "timeout": 30,
    }},
    "quiet": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        "exclude_last_activity_patterns": ["/poll$"],
    }},
    "never": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        "update_last_activity": False,
    }},
    "silent": {{
        "command": [sys.executable, {PROBED!r}, "--port", "{{port}}", "--silent"],
        "timeout": 3,
    }},
    "warming": {{
        "command": [
            sys.executable, {PROBED!r}, "--unix-socket", "{{unix_socket}}", "--warm-up", "2"
        ],
        "unix_socket": True,
        "ready_path": "/ready",
        "ready_statuses": [200],
        "timeout": 20,
    }},
}}
"""


server = module_server(CONFIG)


async def get(server: JupyterServer, path: str, **kw: Any) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url(path), headers=server.auth, **kw) as r:
            return r.status, await r.read()


def test_raw_socket_app_bridges_a_websocket_to_tcp(server: JupyterServer) -> None:
    """A raw_socket_proxy app: websocket bytes reach its TCP socket and come back; plain HTTP
    gets 405."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url("raw/", scheme="ws"), headers=server.auth) as ws:
                await ws.send_bytes(b"\x00raw bytes\xff")
                assert await ws.receive_bytes() == b"\x00raw bytes\xff"
                await ws.send_str("text too")
                assert await ws.receive_bytes() == b"text too"

    run(go())
    status, _ = run(get(server, "raw/"))
    assert status == 405


def test_raw_socket_app_ending_its_connection_closes_the_websocket(server: JupyterServer) -> None:
    """A raw_socket_proxy app that closes its TCP connection closes the client's websocket with
    1000; one that breaks it off (a RST) with 1011."""

    async def ended_by(command: bytes) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url("raw/", scheme="ws"), headers=server.auth) as ws:
                await ws.send_bytes(b"still here")
                assert await ws.receive_bytes(timeout=30) == b"still here"
                await ws.send_bytes(command)
                msg = await ws.receive(timeout=30)
                assert msg.type == aiohttp.WSMsgType.CLOSE, msg
                return int(msg.data), str(msg.extra)

    assert run(ended_by(b"close")) == (1000, "app closed the connection")
    assert run(ended_by(b"reset")) == (1011, "app connection lost")


def test_stop_escalates_to_sigkill(server: JupyterServer) -> None:
    """An app that ignores SIGTERM is killed after stop_timeout, and is gone."""
    info = api(server, "stubborn", "POST")
    pid = info["pid"]
    assert alive(pid)
    info = api(server, "stubborn", "DELETE")
    assert info["state"] == "stopped"
    assert not alive(pid)


def test_client_giving_up_while_app_starts(server: JupyterServer) -> None:
    """A client that leaves during the start does not cancel it: the app comes up and serves
    the next request, with a single process."""

    async def impatient() -> None:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(asyncio.TimeoutError):
                async with s.get(
                    server.url("slow/"),
                    headers=server.auth,
                    timeout=aiohttp.ClientTimeout(total=0.3),
                ):
                    pass

    run(impatient())
    wait_until(lambda: api(server, "slow")["state"] == "running", "slow app ready")
    first = api(server, "slow")["pid"]
    status, body = run(get(server, "slow/"))
    assert status == 200 and body == b"unruly"
    assert api(server, "slow")["pid"] == first


def test_app_that_accepts_but_never_answers_fails_at_its_timeout(server: JupyterServer) -> None:
    """An app that accepts the readiness probe's connection and never answers: the probe's
    wait is bounded by the app's timeout, and the client gets the 503 that names the timeout
    and what the app did."""
    status, body = run(get(server, "silent/"))
    assert status == 503
    assert b"silent" in body and b"not ready after 3s" in body
    assert b"did not answer GET / in time" in body
    info = api(server, "silent")
    assert info["state"] == "failed" and info["pid"] is None


def test_unix_socket_app_is_ready_on_a_ready_status(server: JupyterServer) -> None:
    """Over a unix socket, answers outside ready_statuses (503 while the app warms up) are not
    ready; the first 200 is, and the request is then proxied."""
    status, body = run(get(server, "warming/"))
    assert (status, body) == (200, b"hi")
    assert api(server, "warming")["unix_socket"]


def last_activity(server: JupyterServer) -> str:
    req = urllib.request.Request(server.url("api/status"), headers=server.auth)
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(json.loads(r.read())["last_activity"])


def test_activity_rules(server: JupyterServer) -> None:
    """exclude_last_activity_patterns and update_last_activity=False keep traffic from counting;
    other traffic counts."""
    for name in ("quiet", "never"):
        api(server, name, "POST")
    before = last_activity(server)
    assert run(get(server, "quiet/echo/poll"))[0] == 200
    assert run(get(server, "never/echo/anything"))[0] == 200
    assert last_activity(server) == before
    assert run(get(server, "quiet/echo/real-work"))[0] == 200
    assert last_activity(server) > before

"""Engine knobs and hooks from c.ServerProxy: timeouts, keep-alive pings, rewrite hooks,
a callable host_allowlist, and a client that leaves before the backend answered."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.conftest import Backend, JupyterServer, module_server, run

CONFIG = """
c.ServerProxy.read_timeout = 1.0
c.ServerProxy.websocket_ping_interval = 0.2

# 4.x calls the rule positionally, so its parameters may have any names.
def allow(h, name):
    if name == "raise.test":
        raise LookupError("no rule for " + name)
    return name in ("localhost", "127.0.0.1") or name.endswith(".allowed.test")

c.ServerProxy.host_allowlist = allow

def shout(response, path):
    if path.startswith("/echo/shout"):
        response.body = response.body.upper()
        response.headers["X-Rewritten"] = "yes"
        response.code = 299

c.ServerProxy.non_service_rewrite_response = [shout]
"""


server = module_server(CONFIG)


async def get(server: JupyterServer, path: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url(path), headers=server.auth) as r:
            return r.status, r.headers, await r.read()


def test_silent_backend_is_504(server: JupyterServer, backend: Backend) -> None:
    """A backend that never answers within read_timeout gets 504, naming the backend."""
    status, _, body = run(get(server, f"proxy/{backend.port}/slow-head"))
    assert status == 504
    assert str(backend.port).encode() in body


def test_backend_silent_mid_body_ends_the_client_connection(
    make_server: Any, backend: Backend
) -> None:
    """A backend that goes silent mid-body past read_timeout: the client's connection ends
    short of the Content-Length instead of hanging. (A server of its own: the module's has a
    rewrite hook, which would buffer the body.)"""
    server: JupyterServer = make_server("c.ServerProxy.read_timeout = 1.0\n")

    async def go() -> int:
        got = 0
        async with aiohttp.ClientSession() as s:
            async with s.get(
                server.url(f"proxy/{backend.port}/stall/{1 << 20}"), headers=server.auth
            ) as r:
                assert r.headers["Content-Length"] == str(16 << 20)
                with pytest.raises(aiohttp.ClientPayloadError):
                    async for chunk in r.content.iter_chunked(1 << 16):
                        got += len(chunk)
        return got

    assert run(asyncio.wait_for(go(), 60)) == 1 << 20


def test_rewrite_hook_sees_and_changes_the_response(
    server: JupyterServer, backend: Backend
) -> None:
    """non_service_rewrite_response can change body, headers and code; the length follows."""
    status, headers, body = run(get(server, f"proxy/{backend.port}/echo/shout"))
    assert status == 299 and headers["X-Rewritten"] == "yes"
    assert b'"PATH": "/ECHO/SHOUT"' in body
    assert int(headers["Content-Length"]) == len(body)
    status, headers, _ = run(get(server, f"proxy/{backend.port}/echo/quiet"))
    assert status == 200 and "X-Rewritten" not in headers


def test_callable_host_allowlist(server: JupyterServer) -> None:
    """A callable host_allowlist gets (handler, host) positionally, as 4.x passes them, and
    decides per host (here: nothing listens, so 502, not 403); one that raises is a 500 naming
    the setting and the callable."""
    status, _, _ = run(get(server, "proxy/node1.allowed.test:1/"))
    assert status in (502, 504)
    status, _, body = run(get(server, "proxy/other.test:1/"))
    assert status == 403 and b"other.test" in body
    status, _, body = run(get(server, "proxy/raise.test:1/"))
    assert status == 500
    assert b"host_allowlist callable allow raised LookupError: no rule for raise.test" in body


def test_idle_websocket_gets_keepalive_pings(server: JupyterServer, backend: Backend) -> None:
    """An idle client websocket receives pings at websocket_ping_interval."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url(f"proxy/{backend.port}/ws", scheme="ws"),
                headers=server.auth,
                autoping=False,
            ) as ws:
                msg = await asyncio.wait_for(ws.receive(), 30)
                assert msg.type == aiohttp.WSMsgType.PING

    run(go())

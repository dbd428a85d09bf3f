"""Websockets through the proxy: backend first, subprotocols, close codes, big messages, auth."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
import yarl

from tests.conftest import (
    BASE_URLS,
    Backend,
    JupyterServer,
    free_port,
    module_server,
    poll_until,
    run,
)

server = module_server("", BASE_URLS)


def ws_url(server: JupyterServer, path: str) -> str:
    return server.url(path, scheme="ws")


async def events(backend: Backend) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{backend.port}/events") as r:
            return dict(await r.json())


def test_echo_text_and_binary(server: JupyterServer, backend: Backend) -> None:
    """Text stays text, binary stays binary, in order."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                ws_url(server, f"proxy/{backend.port}/ws"), headers=server.auth
            ) as ws:
                await ws.send_str("hello")
                await ws.send_bytes(b"\x00\x01\x02")
                assert await ws.receive_str() == "hello"
                assert await ws.receive_bytes() == b"\x00\x01\x02"

    run(go())


def test_subprotocol_is_the_backends_choice(server: JupyterServer, backend: Backend) -> None:
    """The client is accepted with the subprotocol the backend chose (bokeh sends two)."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                ws_url(server, f"proxy/{backend.port}/ws"),
                headers=server.auth,
                protocols=("bokeh", "token-abc"),
            ) as ws:
                assert ws.protocol == "bokeh"

    run(go())


def test_backend_handshake_cookie_reaches_client(server: JupyterServer, backend: Backend) -> None:
    """A Set-Cookie on the backend's 101 answer is passed to the client."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                ws_url(server, f"proxy/{backend.port}/ws"), headers=server.auth
            ) as ws:
                assert "wscookie=1" in ws._response.headers.get("Set-Cookie", "")

    run(go())


def test_backend_close_code_and_reason_reach_client(
    server: JupyterServer, backend: Backend
) -> None:
    """A close from the backend arrives with its code and reason."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                ws_url(server, f"proxy/{backend.port}/ws"), headers=server.auth
            ) as ws:
                await ws.send_str("close:4001:done here")
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert ws.close_code == 4001
                assert msg.extra == "done here"

    run(go())


def test_client_close_code_reaches_backend(server: JupyterServer, backend: Backend) -> None:
    """A close from the client reaches the backend with its code."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                ws_url(server, f"proxy/{backend.port}/ws"), headers=server.auth
            ) as ws:
                await ws.send_str("x")
                assert await ws.receive_str() == "x"
                await ws.close(code=4002, message=b"bye")

        async def recorded() -> bool:
            return (await events(backend)).get("ws_close_code") == 4002

        await poll_until(recorded, "the backend to record close code 4002")

    run(go())


def test_messages_beyond_the_peers_10mb_cap(server: JupyterServer, backend: Backend) -> None:
    """A 32 MiB message passes both ways (the peer capped messages at 10 MB)."""

    async def go() -> None:
        payload = b"z" * (32 << 20)
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                ws_url(server, f"proxy/{backend.port}/ws"), headers=server.auth, max_msg_size=0
            ) as ws:
                await ws.send_bytes(payload)
                assert await ws.receive_bytes() == payload

    run(go())


def test_refused_backend_is_an_http_error_not_an_accepted_socket(server: JupyterServer) -> None:
    """If the backend refuses, the client gets 502 on its handshake."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(ws_url(server, f"proxy/{free_port()}/ws"), headers=server.auth)
            assert e.value.status == 502

    run(go())


def test_unauthenticated_websocket_is_403_and_never_reaches_backend(
    server: JupyterServer, backend: Backend
) -> None:
    """No login: 403 on the handshake, no redirect, and the backend sees nothing."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(ws_url(server, f"proxy/{backend.port}/ws?unauth=1"))
            assert e.value.status == 403

    run(go())


def test_websocket_credentials_stripped_and_path_kept(
    server: JupyterServer, backend: Backend
) -> None:
    """The backend's websocket sees no Jupyter token and gets the raw path and query."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            url = yarl.URL(
                ws_url(server, f"proxy/{backend.port}/ws?token={server.token}&a=%2F"), encoded=True
            )
            async with s.ws_connect(url) as ws:
                await ws.send_str("headers")
                headers = dict((k.lower(), v) for k, v in json.loads(await ws.receive_str()))
                assert "authorization" not in headers
                assert headers["x-forwarded-context"] == f"{server.base_url}proxy/{backend.port}"
                await ws.send_str("path")
                assert await ws.receive_str() == "/ws?a=%2F"

    run(go())

"""Websockets as browsers open them: Origin and Sec-Fetch-* headers, subprotocols, raw sockets."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from compat_support import JupyterServer, browser_ws_headers


async def _open(
    url: str, headers: dict[str, str], protocols: tuple[str, ...] = ()
) -> tuple[dict[str, object], str | None, list[str]]:
    """Open a websocket, read the backend's hello, echo one text and one binary message."""
    async with (
        aiohttp.ClientSession() as s,
        # (aiohttp's default close timeout, 10 s; ClientWSTimeout is newer than aiohttp 3.9)
        s.ws_connect(url, headers=headers, protocols=protocols) as ws,
    ):
        hello = json.loads(await asyncio.wait_for(ws.receive_str(), 30))
        await ws.send_str("text")
        got = [await asyncio.wait_for(ws.receive_str(), 30)]
        await ws.send_bytes(b"\x00bin")
        got.append(repr(await asyncio.wait_for(ws.receive_bytes(), 30)))
        return hello, ws.protocol, got


def _ws(server: JupyterServer, path: str) -> tuple[str, dict[str, str]]:
    origin = f"http://127.0.0.1:{server.port}"
    headers = {"Cookie": server.login_cookie(), **browser_ws_headers(origin)}
    return server.url(path).replace("http://", "ws://"), headers


@pytest.mark.parametrize("path", ["proxy/{port}/ws", "proxy/127.0.0.1:{port}/ws", "external/ws"])
def test_same_origin_browser_websocket(server: JupyterServer, backend_port: int, path: str) -> None:
    """A same-origin websocket (Origin and Sec-Fetch-* as Chrome sends them) is relayed both ways,
    text and binary, and the backend gets the path and query."""
    url, headers = _ws(server, path.format(port=backend_port) + "/deeper?k=v")
    hello, _, got = asyncio.run(_open(url, headers))
    assert hello["path"].endswith("/ws/deeper") and hello["query"] == "k=v"
    assert got == ["text", repr(b"\x00bin")]


def test_websocket_to_named_app_with_command(server: JupyterServer) -> None:
    url, headers = _ws(server, "templates/ws")
    hello, _, got = asyncio.run(_open(url, headers))
    assert hello["path"] == "/ws"
    assert got == ["text", repr(b"\x00bin")]


def test_websocket_over_unix_socket(server: JupyterServer) -> None:
    url, headers = _ws(server, "sock/ws")
    hello, _, got = asyncio.run(_open(url, headers))
    assert hello["path"] == "/ws" and got[0] == "text"


def test_bokeh_subprotocols_reach_the_backend(server: JupyterServer, backend_port: int) -> None:
    """bokeh passes its token as a second subprotocol: the backend is offered both, in order,
    and (when the backend picks the first, as bokeh does) the client gets that one."""
    url, headers = _ws(server, f"proxy/{backend_port}/ws")
    hello, chosen, _ = asyncio.run(_open(url, headers, ("bokeh", "tok.en-123")))
    assert hello["offered"] == ["bokeh", "tok.en-123"]
    assert hello["chosen"] == "bokeh" and chosen == "bokeh"


@pytest.mark.deliberate_difference(
    reason="4.x answers the client with the first subprotocol it "
    "offered, whatever the backend chose"
)
def test_subprotocol_is_the_one_the_backend_chose(server: JupyterServer, backend_port: int) -> None:
    url, headers = _ws(server, f"proxy/{backend_port}/ws?pick=1")
    hello, chosen, _ = asyncio.run(_open(url, headers, ("first", "second")))
    assert hello["chosen"] == "second" and chosen == "second"


def test_foreign_origin_websocket_is_refused(server: JupyterServer, backend_port: int) -> None:
    """A websocket from another site's page (a foreign Origin) is refused with 403."""
    url, headers = _ws(server, f"proxy/{backend_port}/ws")
    headers.update(Origin="http://evil.example", **{"Sec-Fetch-Site": "cross-site"})

    async def go() -> int:
        async with aiohttp.ClientSession() as s:
            try:
                async with s.ws_connect(url, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    assert asyncio.run(go()) == 403


def test_websocket_without_login_is_refused(server: JupyterServer, backend_port: int) -> None:
    url, headers = _ws(server, f"proxy/{backend_port}/ws")
    del headers["Cookie"]

    async def go() -> int:
        async with aiohttp.ClientSession() as s:
            try:
                async with s.ws_connect(url, headers=headers):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    assert asyncio.run(go()) == 403


def test_raw_socket_proxy(server: JupyterServer) -> None:
    """``raw_socket_proxy``: websocket messages go to a plain TCP app as bytes and its bytes come
    back as binary messages; a plain HTTP request is answered 405."""
    url, headers = _ws(server, "raw/")

    async def go() -> list[bytes]:
        async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=headers) as ws:
            await ws.send_bytes(b"raw-bytes")
            first = await asyncio.wait_for(ws.receive_bytes(), 30)
            await ws.send_str("as-text")
            second = await asyncio.wait_for(ws.receive_bytes(), 30)
            return [first, second]

    assert asyncio.run(go()) == [b"raw-bytes", b"as-text"]
    assert server.get("raw/").status == 405


@pytest.mark.deliberate_difference(
    reason="4.x limits websocket messages to 10 MiB (tornado's "
    "default); this project allows 1 GiB by default"
)
def test_websocket_message_over_10_mib(server: JupyterServer, backend_port: int) -> None:
    url, headers = _ws(server, f"proxy/{backend_port}/ws")
    big = b"x" * (11 * 1024 * 1024)

    async def go() -> int:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(url, headers=headers, max_msg_size=0) as ws,
        ):
            await asyncio.wait_for(ws.receive_str(), 30)
            await ws.send_bytes(big)
            msg = await asyncio.wait_for(ws.receive(), 60)
            return len(msg.data) if msg.type == aiohttp.WSMsgType.BINARY else -1

    assert asyncio.run(go()) == len(big)

"""Deliberate differences from 4.x, one test each (docs/migrating.md explains every one)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
from pathlib import Path

import aiohttp
import pytest
from compat_support import JupyterServer, free_port, request, start_backend, stop_process


@pytest.mark.deliberate_difference(
    reason="4.x forwards Jupyter's credentials to the app (GHSA-q52h-2389-h4hv)"
)
def test_jupyter_credentials_are_not_forwarded(server: JupyterServer, backend_port: int) -> None:
    """The server's token (query or Authorization) and Jupyter's login cookies stay behind;
    the app's own cookies and arguments pass."""
    cookie = f"username-127-0-0-1-{server.port}=secret-login; app=keep"
    r = request(
        server.url(f"proxy/{backend_port}/c?token={server.token}&mine=1"),
        headers={"Authorization": f"token {server.token}", "Cookie": cookie},
    )
    assert r.status == 200
    doc = r.json()
    assert doc["query"] == "mine=1"  # type: ignore[index]
    assert r.header_values("Authorization") == []
    assert r.header_values("Cookie") == ["app=keep"]


@pytest.mark.deliberate_difference(reason="4.x buffers a whole response before sending any of it")
def test_responses_are_streamed(server: JupyterServer) -> None:
    """The first part of a response reaches the client while the app is still writing."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/base/external/stream", headers=server.auth)
        r = conn.getresponse()
        assert r.status == 200
        first = b""
        while len(first) < 5 and (part := r.read1(5 - len(first))):
            first += part
        assert first == b"first"
    finally:
        # Let the app finish, whatever happened, so nothing waits on it.
        threading.Thread(
            target=request,
            args=(server.url("external/release"),),
            kwargs={"headers": server.auth},
            daemon=True,
        ).start()
        conn.close()


@pytest.mark.deliberate_difference(reason="4.x opens a new connection to the app per request")
def test_connections_to_the_app_are_reused(server: JupyterServer) -> None:
    """Sequential requests to an app of its own reach it over one kept-alive connection."""
    port = free_port()
    app = start_backend(port=port)
    try:
        ports = {server.get(f"proxy/{port}/k").json()["peer_port"] for _ in range(3)}  # type: ignore[index]
    finally:
        stop_process(app)
    assert len(ports) == 1


@pytest.mark.deliberate_difference(
    reason="4.x decodes the path and sends %2F as /; this project forwards the raw path"
)
def test_encoded_slash_is_forwarded_as_is(server: JupyterServer, backend_port: int) -> None:
    r = server.get(f"proxy/{backend_port}/a%2Fb/c%20d")
    assert r.json()["path"] == "/a%2Fb/c%20d"  # type: ignore[index]


@pytest.mark.deliberate_difference(reason="4.x answers 500 when the app refuses the connection")
def test_refused_connection_is_502(server: JupyterServer) -> None:
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        assert server.get(f"proxy/{s.getsockname()[1]}/x").status == 502


@pytest.mark.deliberate_difference(
    reason="4.x accepts the browser's websocket first, then closes it when the app refuses"
)
def test_websocket_to_refusing_app_is_502(server: JupyterServer) -> None:
    """The app is connected before the client is accepted, so a refusal is an HTTP status."""

    async def go(port: int) -> int:
        url = server.url(f"proxy/{port}/ws").replace("http://", "ws://")
        async with aiohttp.ClientSession() as s:
            try:
                async with s.ws_connect(url, headers=server.auth):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert asyncio.run(go(s.getsockname()[1])) == 502


@pytest.mark.deliberate_difference(
    reason="4.x keeps a browser's page load waiting, blank, while the app starts"
)
def test_browser_navigation_to_a_stopped_app_gets_a_starting_page(server: JupyterServer) -> None:
    """A top-level navigation (``Sec-Fetch-Mode: navigate``) to an app that is not running and
    is slower to start than the page load is held (``c.ServerProxy.start_hold``) gets an HTML
    page that waits for the start and then shows the app (or its exit code and log)."""
    navigate = {
        "Cookie": server.login_cookie(),
        "Accept": "text/html",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
        "Sec-Fetch-Site": "none",
    }
    r = request(server.url("navigated/"), headers=navigate)
    assert r.status == 202
    assert r.headers["Content-Type"].startswith("text/html")
    assert b'"argv"' not in r.body


@pytest.mark.deliberate_difference(
    reason="'@' separates an app from its instance: 4.x took it in an app's name"
)
def test_an_app_name_with_an_at_sign_is_left_out(tmp_path: Path, backend_port: int) -> None:
    """``a@b`` would read as the instance ``b`` of the app ``a``: the app is left out, and
    reported in servers-info."""
    config = f"c.ServerProxy.servers = {{'a@b': {{'port': {backend_port}}}}}\n"
    server = JupyterServer(tmp_path, config, base_url="/base/").start()
    try:
        r = server.get("a@b/echo/x")
        info = server.get("server-proxy/servers-info").json()
    finally:
        server.stop()
    assert r.status == 404 and b"/echo/x" not in r.body
    assert isinstance(info, dict)
    assert "a@b" not in {p["name"] for p in info["server_processes"]}

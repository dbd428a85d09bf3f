"""Error answers fit the client: an API client (it asks for JSON, or sends a token and does not
ask for HTML) gets the error as JSON with the fields the page shows; a browser keeps the page.
Whatever the form, nothing from the request is echoed unescaped."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp
import pytest

from tests.conftest import HERE, JupyterServer, free_port, module_server
from tests.integration.test_websocket_handshake import login_cookie

TCPECHO = str(HERE / "backends" / "tcpecho.py")
CONFIG = f"""
c.ServerProxy.servers = {{
    "rawapp": {{
        "command": [{sys.executable!r}, {TCPECHO!r}, "--port", "{{port}}"],
        "raw_socket_proxy": True,
        "timeout": 20,
    }},
}}
"""

#: What Chrome sends when the user opens a URL.
BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Site": "none",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}
#: A script with a token (curl, requests): no HTML asked for.
SCRIPT = {"Accept": "*/*"}


server = module_server(CONFIG)


async def get(server: JupyterServer, path: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url(path), headers=headers, allow_redirects=False) as r:
            return r.status, r.headers, await r.read()


def cases() -> list[tuple[str, int, str]]:
    return [
        ("proxy/{closed}/", 502, "Bad gateway"),
        ("proxy/notaport/x", 404, "No such proxy target"),
        ("proxy/%3Cscript%3E.test:80/", 403, "Host not allowed"),
        ("rawapp/", 405, "Method Not Allowed"),
    ]


@pytest.mark.parametrize(("path", "status", "title"), cases())
def test_api_clients_get_json(server: JupyterServer, path: str, status: int, title: str) -> None:
    """A script with a token, and any client that asks for JSON first, gets the error as JSON:
    ``status``, ``title`` and ``message`` (the cause), as the page shows them."""
    path = path.format(closed=free_port())
    for headers in (SCRIPT, {"Accept": "application/json, text/html;q=0.5"}):
        got, answer, body = asyncio.run(get(server, path, {**server.auth, **headers}))
        assert got == status, body
        assert answer["Content-Type"] == "application/json"
        error = json.loads(body)
        assert error["status"] == status and error["title"] == title and error["message"]
        assert b"<" not in body  # not even inside a JSON string


@pytest.mark.parametrize(("path", "status", "title"), cases())
def test_browsers_get_the_page(server: JupyterServer, path: str, status: int, title: str) -> None:
    """A browser (logged in with the cookie, asking for HTML) gets the page."""
    path = path.format(closed=free_port())
    cookie = asyncio.run(login_cookie(server))
    got, answer, body = asyncio.run(get(server, path, {**BROWSER, "Cookie": cookie}))
    assert got == status, body
    assert answer["Content-Type"].startswith("text/html")
    assert body.lstrip().lower().startswith(b"<!doctype html")
    assert b"<script>.test" not in body


def test_refused_websocket_answers_json_to_an_api_client(server: JupyterServer) -> None:
    """A websocket refused for want of a login answers 403 as JSON to a client that asks for
    it (the refusal is raised before any proxying)."""
    headers = {
        "Accept": "application/json",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    got, answer, body = asyncio.run(get(server, f"proxy/{free_port()}/ws", headers))
    assert got == 403, body
    assert answer["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == 403

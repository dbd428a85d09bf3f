"""One error writer for every route of ours: the REST API, the icons and ``servers-info``, the
proxy routes and the named apps answer an error with the same JSON fields (``status``,
``title``, ``message``), and the REST API always as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from tests.conftest import JupyterServer, free_port, module_server
from tests.integration.test_error_answers import BROWSER, SCRIPT, get
from tests.integration.test_websocket_handshake import login_cookie

CONFIG = f"""
c.ServerProxy.servers = {{
    "broken": {{"command": [{sys.executable!r}, "-c", "raise SystemExit(3)"], "timeout": 20}},
}}
"""


server = module_server(CONFIG)


def error_fields(body: bytes) -> tuple[int, str]:
    error = json.loads(body)
    assert set(error) >= {"status", "title", "message"} and error["message"]
    return error["status"], error["title"]


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("server-proxy/api/servers/nope", 404, "Not Found"),
        ("server-proxy/api/servers/nope/logs", 404, "Not Found"),
        ("server-proxy/icon/nope", 404, "Not Found"),
        ("proxy/{closed}/", 502, "Bad gateway"),
        ("proxy/not-a-target", 404, "No such proxy target"),
    ],
)
def test_every_route_answers_an_api_client_with_the_same_json(
    server: JupyterServer, path: str, status: int, title: str
) -> None:
    path = path.format(closed=free_port())
    got, answer, body = asyncio.run(get(server, path, {**server.auth, **SCRIPT}))
    assert got == status, body
    assert answer["Content-Type"].startswith("application/json")
    assert error_fields(body) == (status, title)


def test_the_api_answers_json_even_to_a_browser(server: JupyterServer) -> None:
    """The lifecycle API's answers are JSON, its errors too, whoever asks."""
    cookie = asyncio.run(login_cookie(server))
    path = "server-proxy/api/servers/nope"
    got, answer, body = asyncio.run(get(server, path, {**BROWSER, "Cookie": cookie}))
    assert got == 404 and answer["Content-Type"].startswith("application/json")
    assert error_fields(body) == (404, "Not Found")


def test_an_app_that_fails_to_start_is_the_same_error_on_the_api_and_its_route(
    server: JupyterServer,
) -> None:
    """``POST`` on the API and a request to the app's own route give the same ``AppFailed``."""

    async def both() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        import aiohttp

        headers = {**server.auth, **SCRIPT}
        async with aiohttp.ClientSession() as s:
            url = server.url("server-proxy/api/servers/broken")
            async with s.post(url, headers=headers) as r:
                api = r.status, await r.read()
            async with s.get(server.url("broken/"), headers=headers) as r:
                route = r.status, await r.read()
        return api, route

    (api_status, api_body), (route_status, route_body) = asyncio.run(both())
    assert api_status == route_status == 503
    api, route = json.loads(api_body), json.loads(route_body)
    for error in (api, route):
        assert error["title"] == "App failed to start" and error["exit_code"] == 3
    assert set(api) == set(route)

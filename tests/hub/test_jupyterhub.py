"""End to end behind a real JupyterHub: login, spawn, named apps, ``/proxy/<port>/``, activity.

One Hub (JupyterHub from PyPI, configurable-http-proxy from npm; see hubctl.py) serves the
module. Users log in through the login form and talk to their servers through the Hub's public
URL with the cookies and headers a browser has. alice's default server is jupyterhub-singleuser
with this extension and a named app (``echoapp``, tests/backends/echo.py); her named server
``standalone`` is jupyter-standaloneproxy wrapping the same backend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import Backend, run, wait_until
from tests.hub.hubctl import STANDALONE_SERVER, Browser, Hub, hub_time

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = Hub(tmp_path_factory.mktemp("hub"))
    try:
        h.start()
        # Users are made at their first login; the admin makes them here to spawn alice first.
        h.api("POST", "users", {"usernames": ["alice", "bob"]})
        h.spawn("alice")
        yield h
    finally:
        h.stop()


async def as_user(hub: Hub, user: str, steps: Any) -> Any:
    browser = Browser(hub)
    try:
        await browser.login(user)
        return await steps(browser)
    finally:
        await browser.close()


def test_named_app_through_the_hub(hub: Hub) -> None:
    """A logged-in user opens her named app at /user/<name>/<app>/: the single-user server
    sends her through the Hub's OAuth round trip, then proxies to the app, which sees the path
    without the prefix."""

    async def steps(browser: Browser) -> tuple[int, str, str]:
        return await browser.get("user/alice/echoapp/echo/hello?x=1")

    status, url, body = run(as_user(hub, "alice", steps))
    assert status == 200, f"{url}\n{body}"
    assert url == hub.url("user/alice/echoapp/echo/hello?x=1")
    assert json.loads(body)["raw_path"] == "/echo/hello?x=1"


def test_proxy_port_websocket_with_browser_cookies(hub: Hub, backend: Backend) -> None:
    """A websocket to /user/<name>/proxy/<port>/ opened as a page of the Hub's origin (Origin,
    Sec-Fetch-*, and only the cookies the login and one page load left) is relayed both ways."""

    async def steps(browser: Browser) -> None:
        status, _, _ = await browser.get(f"user/alice/proxy/{backend.port}/echo/")
        assert status == 200
        async with browser.websocket(f"user/alice/proxy/{backend.port}/ws") as ws:
            await ws.send_str("hello through the hub")
            assert await ws.receive_str() == "hello through the hub"

    run(as_user(hub, "alice", steps))


def test_hub_token_in_a_websocket_url_is_not_forwarded(hub: Hub, backend: Backend) -> None:
    """A websocket that authenticates with the user's Hub token in its URL (``?token=``, how
    a script opens one: browsers cannot set headers on websockets) is relayed, and the token,
    a credential of Jupyter's, does not reach the app."""
    token = hub.api("POST", "users/alice/tokens", {"note": "websocket test"})["token"]

    async def steps() -> None:
        url = hub.url(f"user/alice/proxy/{backend.port}/ws?token={token}&keep=1")
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                url.replace("http", "ws", 1), headers={"Sec-Fetch-Mode": "websocket"}
            ) as ws:
                await ws.send_str("with a token in the URL")
                assert await ws.receive_str() == "with a token in the URL"
            async with s.get(f"http://127.0.0.1:{backend.port}/events") as r:
                assert (await r.json())["ws_with_token"] == 0

    run(steps())


def test_another_user_is_refused(hub: Hub, backend: Backend) -> None:
    """bob, logged in, gets neither alice's named app, nor her /proxy/<port>/ pages, nor a
    websocket there: the OAuth round trip ends in the Hub's 403, and the websocket handshake
    is refused (403, or a redirect to log in), never relayed to the app."""

    async def steps(browser: Browser) -> None:
        for path in ("user/alice/echoapp/echo/x", f"user/alice/proxy/{backend.port}/echo/x"):
            status, url, body = await browser.get(path)
            assert status == 403, f"{path}: {status} {url}"
            assert "raw_path" not in body
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with browser.websocket(f"user/alice/proxy/{backend.port}/ws"):
                pass
        assert refused.value.status in (302, 403)

    run(as_user(hub, "bob", steps))


def test_activity_reaches_the_hub(hub: Hub) -> None:
    """Traffic to a named app counts as the user's activity: the single-user server reports it
    and the Hub's last_activity for her server moves past the time of the request (the Hub's
    own proxy records are off, so only the server's report can move it)."""

    async def steps(browser: Browser) -> float:
        await browser.get("user/alice/echoapp/echo/warm-up")  # the OAuth round trip
        before = time.time()
        status, _, _ = await browser.get("user/alice/echoapp/echo/activity")
        assert status == 200
        return before

    before = run(as_user(hub, "alice", steps))

    def reported() -> bool:
        last = (hub.server("alice") or {}).get("last_activity")
        return bool(last) and hub_time(last) >= before

    wait_until(reported, "alice's activity at the Hub", timeout=30, interval=0.5)


@pytest.fixture(scope="module")
def standalone_server(hub: Hub) -> str:
    hub.spawn("alice", STANDALONE_SERVER)
    return f"user/alice/{STANDALONE_SERVER}/"


def test_standalone_named_server_http(hub: Hub, standalone_server: str) -> None:
    """jupyter-standaloneproxy as alice's named server: after the Hub's login round trip the
    wrapped app answers under the server's prefix, and bob gets the Hub's 403."""

    async def alice(browser: Browser) -> None:
        status, url, body = await browser.get(standalone_server + "echo/x")
        assert status == 200, f"{url}\n{body}"
        assert json.loads(body)["raw_path"] == "/echo/x"

    async def bob(browser: Browser) -> None:
        status, url, body = await browser.get(standalone_server + "echo/x")
        assert status == 403, f"{status} {url}"
        assert "raw_path" not in body

    run(as_user(hub, "alice", alice))
    run(as_user(hub, "bob", bob))


def test_standalone_named_server_websocket_from_a_browser(hub: Hub, standalone_server: str) -> None:
    """A websocket to the standalone app with Origin equal to Host (what every browser sends)
    is relayed."""

    async def steps(browser: Browser) -> None:
        status, _, _ = await browser.get(standalone_server + "echo/")
        assert status == 200
        async with browser.websocket(standalone_server + "ws") as ws:
            await ws.send_str("hello standalone")
            assert await ws.receive_str() == "hello standalone"

    run(as_user(hub, "alice", steps))

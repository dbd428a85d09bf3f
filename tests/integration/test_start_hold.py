"""A browser that navigates to an app that is not running is held while the app starts
(``c.ServerProxy.start_hold``): it gets the app itself when the app is ready in time, a failure
page when it fails in time, and otherwise the "Starting…" page (202), whose start request
answers once the app is ready. Clients that are not navigating browsers wait for the app, as
before. The apps here wait for a gate file before they listen, so what the test sees does not
depend on how fast anything starts."""

from __future__ import annotations

import asyncio
import html
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import HERE, JupyterServer, lifecycle, poll_until
from tests.integration.test_error_answers import BROWSER, SCRIPT
from tests.integration.test_websocket_handshake import login_cookie

ECHO = str(HERE / "backends" / "echo.py")


def config(gates: Path, hold: float) -> str:
    def gated(name: str) -> str:
        # Listens only once its gate file exists.
        gate = str(gates / name)
        script = 'while [ ! -e "$0" ]; do sleep 0.02; done; exec "$1" "$2" --port "$3"'
        command = ["sh", "-c", script, gate, sys.executable, ECHO, "{port}"]
        return f"{name!r}: {{'command': {command!r}, 'timeout': 60}},"

    fails = [sys.executable, "-c", "import sys; print('no license <here>'); sys.exit(3)"]
    return (
        f"c.ServerProxy.start_hold = {hold}\n"
        "c.ServerProxy.servers = {"
        + gated("app")
        + gated("page")
        + gated("script")
        + gated("iframe")
        + f"'crashes': {{'command': {fails!r}}},"
        + "}\n"
    )


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gates")


@pytest.fixture(scope="module")
def long_hold(tmp_path_factory: pytest.TempPathFactory, gates: Path) -> Iterator[JupyterServer]:
    """A hold that outlasts every start here: what the navigation gets is the app's answer."""
    s = JupyterServer(tmp_path_factory.mktemp("srv"), config(gates / "long", 120)).start()
    (gates / "long").mkdir()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def short_hold(tmp_path_factory: pytest.TempPathFactory, gates: Path) -> Iterator[JupyterServer]:
    """A hold that ends before any gated app here may listen."""
    s = JupyterServer(tmp_path_factory.mktemp("srv"), config(gates / "short", 0.5)).start()
    (gates / "short").mkdir()
    yield s
    s.stop()


def state(server: JupyterServer, name: str) -> str:
    return str(lifecycle(server, name)["state"])  # type: ignore[index]


async def until_starting(server: JupyterServer, name: str) -> None:
    """Until the app's start is under way (the request that started it is held, or waits)."""
    await poll_until(
        lambda: asyncio.to_thread(lambda: state(server, name) == "starting"),
        f"{name} to be starting",
        timeout=60,
    )


async def open_gate_once_starting(server: JupyterServer, gate: Path) -> None:
    await until_starting(server, gate.name)
    await asyncio.to_thread(gate.touch)


def test_a_navigation_is_answered_by_the_app_when_it_is_ready_within_the_hold(
    long_hold: JupyterServer, gates: Path
) -> None:
    """The request that started the app is held until the app is ready and is answered by the
    app itself, query included."""

    async def go() -> None:
        cookie = await login_cookie(long_hold)
        async with aiohttp.ClientSession() as s:
            request = s.get(long_hold.url("app/echo/x?y=1"), headers={**BROWSER, "Cookie": cookie})
            opener = asyncio.ensure_future(
                open_gate_once_starting(long_hold, gates / "long" / "app")
            )
            async with request as r:
                status, body = r.status, await r.read()
            await opener
        assert status == 200, body
        echoed = json.loads(body)
        assert echoed["path"] == "/echo/x" and echoed["query"] == "y=1"

    asyncio.run(go())
    assert state(long_hold, "app") == "running"


def test_a_start_that_fails_within_the_hold_gets_the_failure_page(
    long_hold: JupyterServer,
) -> None:
    """No "Starting…" page for an app that has already failed: the browser gets the 503 page
    with the exit code and the log, escaped."""

    async def go() -> tuple[int, str, str]:
        cookie = await login_cookie(long_hold)
        async with aiohttp.ClientSession() as s:
            headers = {**BROWSER, "Cookie": cookie}
            async with s.get(long_hold.url("crashes/"), headers=headers) as r:
                return r.status, r.headers["Content-Type"], await r.text()

    status, content_type, page = asyncio.run(go())
    assert status == 503 and content_type.startswith("text/html")
    assert "Exit code: <code>3</code>" in page
    assert "no license &lt;here&gt;" in page and "Starting" not in page


def test_a_slower_start_gets_the_starting_page_whose_start_request_waits_for_the_app(
    short_hold: JupyterServer, gates: Path
) -> None:
    """After the hold the browser gets the "Starting…" page (202, not stored), while the start
    goes on. The page's POST joins that start and answers once the app is ready; the page's
    reload then gets the app."""

    async def go() -> None:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            async with s.get(short_hold.url(f"api/status?token={short_hold.token}")) as r:
                assert r.status == 200  # logged in, as a browser that opened ?token=
            async with s.get(short_hold.url("page/deep?x=1"), headers=BROWSER) as r:
                status, headers, page = r.status, r.headers, await r.text()
            assert status == 202, page
            assert headers["Cache-Control"] == "no-store"
            assert headers["Content-Type"].startswith("text/html")
            assert await asyncio.to_thread(state, short_hold, "page") == "starting"
            found = re.search(r'data-start="([^"]+)" data-xsrf="([^"]+)"', page)
            assert found, page
            start_url, xsrf = map(html.unescape, found.groups())
            assert start_url.endswith("/server-proxy/api/servers/page")
            # What the page's script does: POST the start, with the XSRF token it was given.
            headers = {"X-XSRFToken": xsrf, "Accept": "application/json", **_same_origin()}
            start = s.post(short_hold.url(start_url), headers=headers)
            await asyncio.to_thread((gates / "short" / "page").touch)
            async with start as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["state"] == "running"
            async with s.get(short_hold.url("page/deep?x=1"), headers=BROWSER) as r:
                assert r.status == 200
                echoed = await r.json()
            assert echoed["path"] == "/deep" and echoed["query"] == "x=1"

    asyncio.run(go())


def _same_origin() -> dict[str, str]:
    return {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}


@pytest.mark.parametrize(
    ("app", "headers"),
    [
        ("script", SCRIPT),
        ("iframe", {**BROWSER, "Sec-Fetch-Dest": "iframe"}),
    ],
    ids=["api-client", "lab-iframe"],
)
def test_other_clients_wait_for_the_app_past_the_hold(
    short_hold: JupyterServer, gates: Path, app: str, headers: dict[str, str]
) -> None:
    """A script with a token, and a navigation inside a frame (Lab's tabs), get no page: the
    request waits for the app, past the hold, and gets the app's answer."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            url = short_hold.url(f"{app}/echo/y")
            request = asyncio.ensure_future(fetch(s, url, {**short_hold.auth, **headers}))
            await until_starting(short_hold, app)
            # Long enough for the hold (0.5 s) to have ended; a wait, not an assertion: the
            # gate is closed, so no answer may have come whatever the time.
            await asyncio.sleep(2)
            assert not request.done()
            await asyncio.to_thread((gates / "short" / app).touch)
            status, body = await request
        assert status == 200, body
        assert json.loads(body)["path"] == "/echo/y"

    asyncio.run(go())


async def fetch(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> tuple[int, bytes]:
    async with session.get(url, headers=headers) as r:
        return r.status, await r.read()

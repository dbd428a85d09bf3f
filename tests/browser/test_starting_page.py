"""A browser that navigates straight to an app that is not running gets a "Starting…" page that
starts the app, then shows it, or shows why it failed (Debian's chromium via Playwright)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import lab_server
from tests.conftest import HERE, JupyterServer
from tests.conftest import lifecycle as api

pytestmark = pytest.mark.browser

ECHO = str(HERE / "backends" / "echo.py")
CONFIG = f"""
import sys
c.ServerProxy.servers = {{
    "slowapp": {{
        # Takes a moment before it listens, as real apps do.
        "command": [
            "sh", "-c", 'sleep 1; exec "$0" "$1" --port "$2"', sys.executable, {ECHO!r}, "{{port}}"
        ],
        "timeout": 30,
        "launcher_entry": {{"title": "Slow <App>"}},
    }},
    "failing": {{
        "command": [
            sys.executable, "-c", "import sys; print('cannot start: no license'); sys.exit(3)"
        ],
    }},
}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    s = lab_server(tmp_path_factory.mktemp("lab"), CONFIG)
    yield s
    s.stop()


def test_navigation_shows_starting_then_the_app(page: Any, server: JupyterServer) -> None:
    """The first answer is the page that follows the start (with the app's title escaped); it
    reloads the same URL, query included, once the app is up."""
    seen: list[int] = []
    page.on("response", lambda r: seen.append(r.status) if "/slowapp/" in r.url else None)
    page.goto(server.url(f"slowapp/deep/page?x=1&token={server.token}"))
    assert seen[0] == 503
    assert page.title() in ("Starting Slow <App>…", "")  # may already have reloaded
    page.wait_for_function(
        "document.body && document.body.innerText.includes('/deep/page')", timeout=60_000
    )
    assert '"query": "x=1"' in page.content()  # the server token was stripped, x=1 kept
    # Running now: the next navigation goes straight to the app.
    seen.clear()
    page.goto(server.url(f"slowapp/again?token={server.token}"))
    assert seen == [200]


def test_navigation_to_a_failing_app_shows_why(page: Any, server: JupyterServer) -> None:
    page.goto(server.url(f"failing/?token={server.token}"))
    headline = page.locator("#headline")
    headline.filter(has_text="failed").wait_for(timeout=60_000)
    assert "exit code 3" in page.locator("#message").inner_text()
    assert "no license" in page.locator("#log").inner_text()


def test_clients_that_are_not_navigating_browsers_wait_for_the_app(
    server: JupyterServer,
) -> None:
    """No Fetch Metadata (curl, scripts, older browsers): the request waits and gets the app."""
    api(server, "slowapp", "DELETE")
    assert api(server, "slowapp")["state"] != "running"  # type: ignore[index]
    request = urllib.request.Request(
        server.url("slowapp/plain"), headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200

"""A browser that navigates straight to an app that is not running is held while the app starts:
an app ready in time answers at once, a slower one gets a "Starting…" page that waits for the
start and then shows the app, a failed one shows why. No step logs an error in the console or
cuts a request off (Debian's chromium via Playwright).

The slow app listens only once the test opens its gate, so the page is seen whatever the speed
of the machine."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import lab_server
from tests.conftest import HERE, JupyterServer
from tests.conftest import lifecycle as api

pytestmark = pytest.mark.browser

ECHO = str(HERE / "backends" / "echo.py")
#: Long beside the quick app's start (echo.py listens within a second), short enough that the
#: test that waits it out stays short.
HOLD = 8


def config(gates: Path) -> str:
    gated = 'while [ ! -e "$0" ]; do sleep 0.05; done; exec "$1" "$2" --port "$3"'
    return f"""
import sys
c.ServerProxy.start_hold = {HOLD}
c.ServerProxy.servers = {{
    "quickapp": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 60,
    }},
    "slowapp": {{
        "command": ["sh", "-c", {gated!r}, {str(gates / "slowapp")!r}, sys.executable, {ECHO!r},
                    "{{port}}"],
        "timeout": 120,
        "launcher_entry": {{"title": "Slow <App>"}},
    }},
    "latefail": {{
        "command": ["sh", "-c",
                    'while [ ! -e "$0" ]; do sleep 0.05; done; echo "cannot start: no license"; '
                    'exit 3', {str(gates / "latefail")!r}],
        "timeout": 120,
    }},
    "failing": {{
        "command": [
            sys.executable, "-c", "import sys; print('cannot start: no license'); sys.exit(3)"
        ],
    }},
}}
"""


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gates")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, gates: Path) -> Iterator[JupyterServer]:
    s = lab_server(tmp_path_factory.mktemp("lab"), config(gates))
    yield s
    s.stop()


@dataclass
class Seen:
    """What the page logged and which of its requests failed or answered, for one app."""

    app: str
    statuses: list[int] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Seen:
        page.on("response", self._response)
        page.on(
            "console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed_requests.append(f"{r.url}: {r.failure}"))
        return self

    def _response(self, response: Any) -> None:
        if f"/{self.app}/" in response.url:
            self.statuses.append(response.status)


def test_an_app_ready_within_the_hold_answers_the_navigation(
    page: Any, server: JupyterServer
) -> None:
    """The first answer is the app itself: no page in between."""
    seen = Seen("quickapp").watch(page)
    page.goto(server.url(f"quickapp/first?token={server.token}"))
    assert '"path": "/first"' in page.content()
    assert seen.statuses == [200]
    assert seen.console_errors == [] and seen.failed_requests == []


def test_a_slower_app_gets_the_starting_page_then_the_app(
    page: Any, server: JupyterServer, gates: Path
) -> None:
    """After the hold the page (202, the app's title escaped) waits for the start, reloads the
    same URL, query included, once the app is up; no 503 in the console, and its start request
    ends by itself rather than being cut off by the reload."""
    seen = Seen("slowapp").watch(page)
    page.goto(server.url(f"slowapp/deep/page?x=1&token={server.token}"))
    assert seen.statuses == [202]
    assert page.title() == "Starting Slow <App>…"
    assert api(server, "slowapp")["state"] == "starting"  # type: ignore[index]
    (gates / "slowapp").touch()
    page.wait_for_function(
        "document.body && document.body.innerText.includes('/deep/page')", timeout=60_000
    )
    assert '"query": "x=1"' in page.content()  # the server token was stripped, x=1 kept
    assert server.token not in page.content()  # nor sent in a Referer by the reload
    assert seen.statuses == [202, 200]
    assert seen.console_errors == [] and seen.failed_requests == []
    # Running now: the next navigation goes straight to the app.
    seen.statuses.clear()
    page.goto(server.url(f"slowapp/again?token={server.token}"))
    assert seen.statuses == [200]


def test_an_app_that_fails_within_the_hold_shows_why(page: Any, server: JupyterServer) -> None:
    page.goto(server.url(f"failing/?token={server.token}"))
    text = page.locator("body").inner_text()
    assert "503 App failed to start" in text
    assert "Exit code: 3" in text and "no license" in text


def test_an_app_that_fails_after_the_hold_shows_why_on_the_page(
    page: Any, server: JupyterServer, gates: Path
) -> None:
    page.goto(server.url(f"latefail/?token={server.token}"))
    headline = page.locator("#headline")
    assert headline.inner_text().startswith("Starting")
    (gates / "latefail").touch()
    headline.filter(has_text="failed").wait_for(timeout=60_000)
    assert "exit code 3" in page.locator("#message").inner_text()
    assert "no license" in page.locator("#log").inner_text()


def test_clients_that_are_not_navigating_browsers_wait_for_the_app(
    server: JupyterServer, gates: Path
) -> None:
    """No Fetch Metadata (curl, scripts, older browsers): the request waits and gets the app."""
    (gates / "slowapp").touch()
    api(server, "slowapp", "DELETE")
    assert api(server, "slowapp")["state"] != "running"  # type: ignore[index]
    request = urllib.request.Request(
        server.url("slowapp/plain"), headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200

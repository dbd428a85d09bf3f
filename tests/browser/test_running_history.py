"""The Running panel keeps history (issue 14 item 7), in chromium: an app that exited stays
listed with its exit code on a line of its own, its log one click away, and Start brings it
back; nothing in the item is cut off at the panel's default width."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, module_lab, open_lab
from tests.conftest import JupyterServer, alive, wait_until
from tests.conftest import lifecycle as api

pytestmark = pytest.mark.browser

#: An app that serves until it is asked for /quit, then says why and exits with code 1.
QUITTER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"up")
        if self.path.endswith("/quit"):
            print("quitting: out of memory", flush=True)
            sys.exit(1)
    def log_message(self, *a):
        pass
class S(http.server.HTTPServer):
    def handle_error(self, request, client_address):
        raise
print("quitter serving", flush=True)
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

CONFIG = f"""
import sys
c.ServerProxy.servers = {{
    "quitter": {{
        "command": [sys.executable, "-c", {QUITTER!r}, "{{port}}"],
        "timeout": 20,
        "new_browser_tab": False,
        "launcher_entry": {{"title": "Quitter"}},
    }},
    "latecomer": {{
        "command": [sys.executable, "-c", {QUITTER!r}, "{{port}}"],
        "timeout": 20,
        "new_browser_tab": False,
        "launcher_entry": {{"title": "Latecomer"}},
    }},
}}
"""


lab = module_lab(CONFIG)


def start(server: JupyterServer, name: str) -> dict[str, Any]:
    req = urllib.request.Request(
        server.url(f"server-proxy/api/servers/{name}"), method="POST", headers=server.auth
    )
    urllib.request.urlopen(req, timeout=60).close()
    status: dict[str, Any] = api(server, name)  # type: ignore[assignment]
    return status


def test_exited_app_stays_listed_with_exit_code_and_log(page: Any, lab: JupyterServer) -> None:
    """An app that exits with code 1 stays in the Running panel as "exited (code 1)", under
    its title and readable at the panel's default width; Show log opens what it printed
    before it exited; Start runs it again."""
    first = start(lab, "quitter")
    assert first["state"] == "running" and alive(first["pid"])
    try:
        urllib.request.urlopen(lab.url("quitter/quit") + f"?token={lab.token}", timeout=30).close()
    except urllib.error.URLError:
        pass  # the app may go before its answer is relayed: its exit is what counts
    wait_until(lambda: api(lab, "quitter")["state"] == "exited", "the app to exit")

    open_lab(page, lab)
    page.locator("[data-id='jp-running-sessions']").first.click()
    item = page.locator(".jp-ServerProxy-runningItem", has_text="Quitter").first
    item.wait_for(timeout=60_000)
    label = item.locator(".jp-RunningSessions-itemLabel").first
    state = item.locator(".jp-RunningSessions-itemDetail").first
    assert label.inner_text() == "Quitter"
    assert state.inner_text() == "exited (code 1)"
    # Its own line, under the title, and neither cut off at the default width.
    label_box, state_box = label.bounding_box(), state.bounding_box()
    assert label_box is not None and state_box is not None
    assert state_box["y"] >= label_box["y"] + label_box["height"] - 1, (label_box, state_box)
    for part in (label, state):
        assert part.evaluate("e => e.scrollWidth <= e.clientWidth"), part.inner_text()
    assert "exit code" not in (label.get_attribute("title") or "")  # said once, on the line
    # An ended app has nothing to stop.
    assert item.locator(".jp-RunningSessions-itemShutdown").count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "running-history.png"))

    item.locator(".jp-ServerProxy-showLog").first.click()
    page.wait_for_function(
        "() => document.querySelector('.jp-ServerProxy-log pre')"
        "?.textContent.includes('quitting: out of memory')",
        timeout=30_000,
    )

    item.locator(".jp-ServerProxy-start").first.click()
    wait_until(lambda: api(lab, "quitter")["state"] == "running", "Start to run it again")
    second = api(lab, "quitter")["pid"]
    assert second != first["pid"] and alive(second)
    page.locator(
        ".jp-ServerProxy-runningItem .jp-RunningSessions-itemDetail", has_text="running"
    ).first.wait_for(timeout=30_000)

    # Stopped by the user: still listed, as "stopped", with its log.
    item.locator(".jp-RunningSessions-itemShutdown").first.click()
    wait_until(lambda: api(lab, "quitter")["state"] == "stopped", "stop")
    page.locator(
        ".jp-ServerProxy-runningItem .jp-RunningSessions-itemDetail", has_text="stopped"
    ).first.wait_for(timeout=30_000)
    assert not alive(second)


def test_an_app_started_before_the_panel_is_first_opened_is_listed(
    page: Any, lab: JupyterServer
) -> None:
    """An app started after Lab loaded, and seen by the panel's refresh while the panel was
    still closed (the Running panel draws nothing while hidden), is listed with its state the
    first time the panel is opened."""
    open_lab(page, lab)
    # The extension has its list of apps (the launcher shows the card) and its section.
    page.locator(".jp-LauncherCard", has_text="Latecomer").first.wait_for(timeout=60_000)
    start(lab, "latecomer")
    # Until the panel's own refresh has seen the app, while the panel is still hidden.
    for _ in range(10):
        with page.expect_response(
            lambda r: "/server-proxy/api/servers" in r.url, timeout=30_000
        ) as answer:
            pass
        if '"latecomer"' in answer.value.text():
            break
    else:
        raise AssertionError("the panel's refresh never listed the app")
    page.locator("[data-id='jp-running-sessions']").first.click()
    item = page.locator(".jp-ServerProxy-runningItem", has_text="Latecomer").first
    item.wait_for(timeout=30_000)
    detail = item.locator(".jp-RunningSessions-itemDetail").first
    assert detail.inner_text() == "running"
    lifecycle_stop = urllib.request.Request(
        lab.url("server-proxy/api/servers/latecomer"), method="DELETE", headers=lab.auth
    )
    urllib.request.urlopen(lifecycle_stop, timeout=60).close()


def entry(name: str, **fields: Any) -> dict[str, Any]:
    """An app entry of the lifecycle API as the issue 14 contract shapes it."""
    app, _, instance = name.partition("@")
    doc: dict[str, Any] = {
        "name": name,
        "app": app,
        "instance": instance or None,
        "parameters": {},
        "state": "stopped",
        "reason": None,
        "stopped_at": None,
        "restart": "on-request",
        "idle_timeout": 0,
        "pid": None,
        "port": None,
        "unix_socket": None,
        "started_at": None,
        "exit_code": None,
        "command": [],
        "url": f"/{name}/",
    }
    doc.update(fields)
    return doc


ENDED = "2026-12-03T10:00:00+00:00"
#: What a server with the contract's server side lists: an app that exited, one given up on
#: after a crash loop, and an app whose default instance never ran with two instances.
CONTRACT_LIST = {
    "servers": [
        entry("quitter", reason="exited", exit_code=1, stopped_at=ENDED),
        entry("crashy", state="failed", reason="crash-loop", exit_code=2, stopped_at=ENDED),
        entry("greeter"),
        entry(
            "greeter@exp2",
            reason="idle",
            idle_timeout=1800,
            exit_code=-15,
            stopped_at=ENDED,
            parameters={"greeting": "bye"},
        ),
        entry(
            "greeter@exp1",
            state="running",
            pid=4242,
            port=41000,
            started_at=ENDED,
            parameters={"greeting": "hi"},
        ),
    ]
}


def test_panel_shows_the_contracts_states_and_instances(page: Any, lab: JupyterServer) -> None:
    """With the lifecycle list of a server that has the contract's server side (answered in
    the browser: no server here has it yet), the panel says "failed: crash loop" and "stopped
    after idle", lists instances under their app (sorted, each with its state) and offers
    New instance… for an app that allows them; no line is cut off at the default width."""

    def servers_info(route: Any) -> None:
        response = route.fetch()
        doc = response.json()
        doc["server_processes"] += [
            {"name": "crashy", "launcher_entry": {"title": "Crashy"}},
            {"name": "greeter", "launcher_entry": {"title": "Greeter"}, "instances": True},
        ]
        route.fulfill(response=response, json=doc)

    page.route(re.compile(r".*/server-proxy/servers-info(\?.*)?$"), servers_info)
    page.route(
        re.compile(r".*/server-proxy/api/servers/(\?.*)?$"),
        lambda route: route.fulfill(json=CONTRACT_LIST),
    )
    open_lab(page, lab)
    page.locator("[data-id='jp-running-sessions']").first.click()
    greeter = page.locator(".jp-ServerProxy-runningItem", has_text="Greeter").first
    greeter.locator(".jp-ServerProxy-newInstance").first.wait_for(timeout=60_000)

    def lines(item: Any) -> tuple[str, str]:
        label = item.locator(":scope > .jp-RunningSessions-itemLabel")
        detail = item.locator(":scope > .jp-RunningSessions-itemDetail")
        for part in (label, detail):
            assert part.evaluate("e => e.scrollWidth <= e.clientWidth"), part.inner_text()
        return label.inner_text(), detail.inner_text()

    items = page.locator(".jp-ServerProxy-runningItem")
    seen = [lines(items.nth(i)) for i in range(items.count())]
    assert seen == [
        ("Quitter", "exited (code 1)"),
        ("Crashy", "failed: crash loop"),
        ("Greeter", "not started"),
        ("exp1", "running"),
        ("exp2", "stopped after idle"),
    ], seen
    # Instances sit under their app's item; the tooltip has what the line leaves out.
    exp2 = greeter.locator(".jp-ServerProxy-runningItem", has_text="exp2").first
    tooltip = exp2.locator(":scope > .jp-RunningSessions-itemLabel").get_attribute("title")
    assert tooltip is not None and "no traffic for 30 min" in tooltip
    assert "parameters: greeting=bye" in tooltip
    # Stop only for what runs.
    exp1 = greeter.locator(".jp-ServerProxy-runningItem", has_text="exp1").first
    assert exp1.locator(":scope > .jp-RunningSessions-itemShutdown").count() == 1
    assert exp2.locator(":scope > .jp-RunningSessions-itemShutdown").count() == 0
    # For the picture, only this section open (the others collapsed).
    for title in page.locator("#jp-running-sessions .lm-AccordionPanel-title").all():
        if "server apps" not in title.inner_text().lower():
            title.click()
    page.locator(".jp-ServerProxy-newInstance").first.wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#jp-running-sessions").screenshot(path=str(SCREENSHOTS / "running-instances.png"))

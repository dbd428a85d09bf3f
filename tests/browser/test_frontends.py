"""The frontends in a real browser (Debian's chromium via Playwright): JupyterLab's launcher,
Lab tabs, the Running panel and log view; Notebook 7's and nbclassic's "New" menus."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, lab_server, module_lab, open_lab
from tests.conftest import HERE, JupyterServer, alive, wait_until
from tests.conftest import lifecycle as api

pytestmark = pytest.mark.browser

ECHO = str(HERE / "backends" / "echo.py")
CONFIG = f"""
import sys
c.ServerProxy.servers = {{
    "tabapp": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        "launcher_entry": {{"title": "Tab App", "category": "Other"}},
    }},
    "ranked": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "launcher_entry": {{"title": "Zed App", "category": "Other", "rank": 1}},
    }},
    "failing": {{
        "command": [
            sys.executable, "-c", "import sys; print('cannot start: no license'); sys.exit(3)"
        ],
        "new_browser_tab": False,
        "launcher_entry": {{"title": "Failing App"}},
    }},
    "misconfigured": {{"command": "not-a-list"}},
}}
"""


lab = module_lab(CONFIG)


def open_lab_with_launcher(page: Any, server: JupyterServer) -> None:
    """Lab in a fresh workspace, once its launcher shows the demo's card."""
    open_lab(page, server)
    page.locator(".jp-LauncherCard", has_text="Hello").first.wait_for(timeout=60_000)


def test_launcher_card_has_icon_and_opens_in_lab_tab(page: Any, lab: JupyterServer) -> None:
    """The demo's card shows its own SVG icon; clicking it opens a Lab tab with the app's page."""
    open_lab_with_launcher(page, lab)
    card = page.locator(".jp-LauncherCard", has_text="Hello").first
    # Notebook-section cards draw an image URL: the app's own icon route.
    img = card.locator(".jp-LauncherCard-icon img").first
    img.wait_for()
    assert img.get_attribute("src").endswith("/server-proxy/icon/hello")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-LauncherCard-icon img')]"
        ".some(i => i.src.endsWith('/server-proxy/icon/hello') && i.naturalWidth > 0)"
    )
    # An app the server had to leave out is announced, with the reason.
    page.locator(".Toastify__toast", has_text="misconfigured").first.wait_for(timeout=30_000)
    # A card in a custom category also has an icon (not a blank square).
    other = page.locator(".jp-LauncherCard", has_text="Tab App").first
    assert other.locator(".jp-LauncherCard-icon svg").count() == 1
    # launcher_entry.rank orders the cards of a section: Zed App (rank 1) before Tab App.
    section = page.locator(".jp-Launcher-section").filter(
        has=page.locator(".jp-Launcher-sectionTitle", has_text="Other")
    )
    titles = section.locator(".jp-LauncherCard-label").all_inner_texts()
    # Apps that open in a new browser tab carry 4.x's mark; Lab-tab apps (Hello) do not.
    assert titles.index("Zed App [↗]") < titles.index("Tab App [↗]"), titles
    hello_label = card.locator(".jp-LauncherCard-label").inner_text()
    assert hello_label == "Hello", hello_label
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "launcher.png"))
    card.click()
    frame = page.frame_locator(
        ".jp-ServerProxy-frame iframe, iframe.jp-ServerProxy-frame, .jp-ServerProxy-app iframe"
    ).first
    frame.locator("#path").wait_for(timeout=30_000)
    assert frame.locator("#path").inner_text() == "/"
    assert "/hello" in frame.locator("#context").inner_text()
    # Opening it again activates the same tab rather than a second one.
    # (The launcher closed itself when the card opened a tab: open a new one.)
    page.locator(".jp-ToolbarButtonComponent[data-command='launcher:create']").first.click()
    page.locator(".jp-LauncherCard", has_text="Hello").first.click()
    assert page.locator(".lm-TabBar-tab", has_text="Hello").count() == 1
    # After a reload, the Lab tab is restored (with the app in it).
    page.wait_for_timeout(1500)  # let Lab save its workspace (debounced); not an assertion
    page.reload()
    frame = page.frame_locator(".jp-ServerProxy-app iframe").first
    frame.locator("#path").wait_for(timeout=60_000)
    assert page.locator(".lm-TabBar-tab", has_text="Hello").count() == 1


def test_new_browser_tab_app_opens_a_new_page(page: Any, lab: JupyterServer) -> None:
    """An app with new_browser_tab (the default) opens in a new browser tab."""
    open_lab_with_launcher(page, lab)
    with page.context.expect_page() as popup_info:
        page.locator(".jp-LauncherCard", has_text="Tab App").first.click()
    popup = popup_info.value
    # The tab says "Starting …" until the app is up, then goes to it.
    popup.wait_for_url(re.compile(r".*/tabapp/$"), timeout=60_000)
    popup.wait_for_load_state()
    assert '"path": "/"' in popup.content()


def test_running_panel_stop_restart_and_log(page: Any, lab: JupyterServer) -> None:
    """The Running panel lists a started app; Restart gives a new pid; the log view shows the
    app's output; Stop ends the process."""
    first = api(lab, "hello")
    if first["state"] != "running":
        req = urllib.request.Request(
            lab.url("server-proxy/api/servers/hello"), method="POST", headers=lab.auth
        )
        urllib.request.urlopen(req, timeout=30).close()
        first = api(lab, "hello")
    assert first["state"] == "running" and alive(first["pid"])
    open_lab_with_launcher(page, lab)
    page.locator("[data-id='jp-running-sessions']").first.click()
    item = page.locator(".jp-ServerProxy-runningItem", has_text="Hello").first
    item.wait_for(timeout=30_000)
    # The state is a short badge beside the title, readable at the panel's default width;
    # pid and port are in the title's tooltip.
    badge = item.locator(".jp-RunningSessions-itemDetail").first
    assert badge.inner_text() == "running"
    label = item.locator(".jp-RunningSessions-itemLabel").first
    assert label.inner_text() == "Hello"
    for part in (badge, label):
        assert part.evaluate("e => e.scrollWidth <= e.clientWidth"), part.inner_text()
    assert f"pid {first['pid']}" in (label.get_attribute("title") or "")
    page.screenshot(path=str(SCREENSHOTS / "running-panel.png"))

    item.locator(".jp-ServerProxy-showLog").first.click()
    log = page.locator(".jp-ServerProxy-log pre").first
    log.wait_for()
    try:
        page.wait_for_function(
            "() => document.querySelector('.jp-ServerProxy-log pre')"
            "?.textContent.includes('serving on')"
        )
    except Exception:
        raise AssertionError(f"log view shows: {log.inner_text()!r}") from None
    page.screenshot(path=str(SCREENSHOTS / "log-view.png"))

    item.locator(".jp-ServerProxy-restart").first.click()
    wait_until(
        lambda: (
            api(lab, "hello")["pid"] not in (None, first["pid"])
            and api(lab, "hello")["state"] == "running"
        ),
        "restart",
    )
    second = api(lab, "hello")["pid"]
    assert alive(second) and not alive(first["pid"])

    item.locator(".jp-RunningSessions-itemShutdown").first.click()
    wait_until(lambda: api(lab, "hello")["state"] == "stopped", "stop")
    assert not alive(second)


def test_failing_app_shows_its_failure(page: Any, lab: JupyterServer) -> None:
    """An app that cannot start shows the reason, exit code and log tail in its Lab tab."""
    open_lab_with_launcher(page, lab)
    page.locator(".jp-LauncherCard", has_text="Failing App").first.click()
    status = page.locator(".jp-ServerProxy-status.jp-mod-failed").first
    status.wait_for(timeout=30_000)
    text = status.inner_text()
    assert "could not start" in text and "Exit code: 3" in text and "no license" in text


@pytest.mark.parametrize("app", ["notebook", "nbclassic"])
def test_new_menu_lists_apps(page: Any, app: str, tmp_path: Path) -> None:
    """Notebook 7's and nbclassic's tree "New" menus list the apps and open them."""
    s = lab_server(tmp_path, CONFIG, app=app)
    try:
        if app == "notebook":
            page.goto(s.url(f"tree?token={s.token}"))
            page.get_by_role("menuitem", name="New").first.click()
            entry = page.get_by_role("menuitem", name="Tab App").first
            # Icons at menu size: the demo's SVG says width="64", and its row is as tall as
            # the others (Notebook 7 has no [↗] mark: every app opens in a new tab).
            hello = page.get_by_role("menuitem", name="Hello", exact=True).first
            hello.wait_for(timeout=60_000)
            icon = hello.locator(".lm-Menu-itemIcon svg").first.bounding_box()
            assert icon is not None and icon["width"] <= 20 and icon["height"] <= 20, icon
            rows = [entry.bounding_box(), hello.bounding_box()]
            assert all(r is not None for r in rows)
            assert abs(rows[0]["height"] - rows[1]["height"]) < 2, rows  # type: ignore[index]
        else:
            page.goto(s.url(f"nbclassic/tree?token={s.token}"))
            page.locator("#new-dropdown-button").click()
            entry = page.locator("#new-menu [data-server-proxy='tabapp'] a").first
        entry.wait_for(timeout=60_000)
        with page.context.expect_page() as popup_info:
            entry.click()
        popup = popup_info.value
        popup.wait_for_url(re.compile(r".*/tabapp/$"), timeout=60_000)
        # nbclassic's menu opens the app's URL itself: a stopped app shows "Starting…" there
        # first, and the app once it is up.
        popup.wait_for_function(
            'document.body && document.body.innerText.includes(\'"path": "/"\')',
            timeout=60_000,
        )
    finally:
        s.stop()


def test_restored_tab_opens_the_app_on_the_current_server(
    page: Any, lab: JupyterServer, tmp_path: Path
) -> None:
    """A Lab tab restored from a workspace saved on another server (another port, the same
    workspaces directory) loads the app from the server Lab talks to now, never the stored
    server's URL; the workspace stores the app's name, no URL."""
    name = f"w{uuid.uuid4().hex[:8]}"
    page.goto(lab.url(f"lab/workspaces/{name}?reset&token={lab.token}"))
    page.locator(".jp-LauncherCard", has_text="Hello").first.click()
    page.frame_locator(".jp-ServerProxy-app iframe").first.locator("#path").wait_for(timeout=60_000)
    workspaces = lab.root / "workspaces"

    def saved() -> dict[str, Any] | None:
        for path in workspaces.glob("*.jupyterlab-workspace"):
            doc: dict[str, Any] = json.loads(path.read_text())
            if doc["metadata"]["id"] == name and "server-proxy:hello" in doc.get("data", {}):
                return doc
        return None

    wait_until(lambda: saved() is not None, "Lab to save the workspace with the app's tab")
    workspace = saved()
    assert workspace is not None
    stored = workspace["data"]["server-proxy:hello"]["data"]
    assert stored == {"id": "hello", "title": "Hello", "newBrowserTab": False, "restored": True}
    other = lab_server(tmp_path, CONFIG, workspaces=workspaces)
    try:
        assert other.port != lab.port
        page.goto(other.url(f"lab/workspaces/{name}?token={other.token}"))
        frame = page.locator(".jp-ServerProxy-app iframe").first
        frame.wait_for(state="attached", timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('.jp-ServerProxy-app iframe')?.src",
            timeout=60_000,
        )
        assert frame.get_attribute("src") == other.url("hello/")
        page.frame_locator(".jp-ServerProxy-app iframe").first.locator("#path").wait_for(
            timeout=60_000
        )
    finally:
        other.stop()


#: Where our extension's code is served from; a page error whose stack passes through it is ours.
OUR_CODE = "labextensions/@jupyterhub/jupyter-server-proxy/"


@pytest.mark.parametrize("app", ["notebook", "jupyterlab"])
def test_no_page_errors_from_the_extension(page: Any, app: str, tmp_path: Path) -> None:
    """Loading Notebook 7's /tree and Lab's /lab raises no page error and logs no console error
    from the extension. (Notebook 7.6 itself raises "Cannot read properties of undefined
    (reading 'schema')" on /tree, from its keyboard-shortcuts settings handler, with this
    extension disabled too: that one is not ours, and its stack shows it.)"""
    s = lab_server(tmp_path, CONFIG, app=app)
    errors: list[str] = []
    page.on(
        "pageerror",
        lambda e: errors.append(f"page error: {e.stack}") if OUR_CODE in (e.stack or "") else None,
    )
    page.on(
        "console",
        lambda m: (
            errors.append(f"console: {m.text}")
            if m.type == "error"
            and (OUR_CODE in m.location.get("url", "") or "server-proxy" in m.text)
            else None
        ),
    )
    try:
        if app == "notebook":
            page.goto(s.url(f"tree?token={s.token}"))
            page.get_by_role("menuitem", name="New").first.click()
            page.get_by_role("menuitem", name="Tab App").first.wait_for(timeout=60_000)
        else:
            page.goto(s.url(f"lab?token={s.token}"))
            page.locator(".jp-LauncherCard", has_text="Tab App").first.wait_for(timeout=60_000)
        page.wait_for_load_state("networkidle")
        assert errors == []
    finally:
        s.stop()

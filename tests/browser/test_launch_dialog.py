"""The launch dialog (issue 14 item 8), in chromium: an app with launch parameters asks for
them in a form built from its schema, checks them before anything is sent, POSTs them as
``{"parameters": {...}}``, shows the server's message when it refuses them (400) and opens the
app when the start answers; "New Instance…" asks for the instance's name too.

The first test gives a real app a schema by rewriting servers-info in the browser (a server
without the instances work ignores the ``parameters`` key), and refuses the first start as the
contract says a server does; everything else is real. The second runs against a server that
has the contract's server side, and is skipped on one that has not."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import lab_server, module_lab, open_lab
from tests.conftest import HERE, JupyterServer, wait_until
from tests.conftest import lifecycle as api

pytestmark = pytest.mark.browser

ECHO = str(HERE / "backends" / "echo.py")
#: The contract's example schema.
SCHEMA = {
    "type": "object",
    "properties": {
        "logdir": {
            "type": "string",
            "title": "Log directory",
            "default": "/tmp/logs",
            "pattern": "^[^\\0]*$",
        },
        "level": {"type": "string", "enum": ["a", "b"]},
        "workers": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
        "debug": {"type": "boolean", "default": False},
    },
    "required": ["logdir"],
}
GREETING_SCHEMA = {
    "type": "object",
    "properties": {"greeting": {"type": "string", "title": "Greeting", "default": "hello"}},
}
CONFIG = f"""
import sys
c.ServerProxy.servers = {{
    "paramapp": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        "new_browser_tab": False,
        "parameters": {SCHEMA!r},
        "launcher_entry": {{"title": "Param App"}},
    }},
    "greeter": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "environment": {{"GREETING": "{{greeting}}"}},
        "timeout": 20,
        "new_browser_tab": False,
        "instances": True,
        "parameters": {GREETING_SCHEMA!r},
        "launcher_entry": {{"title": "Greeter"}},
    }},
}}
"""


lab = module_lab(CONFIG)


def field(page: Any, name: str) -> Any:
    return page.locator(f".jp-Dialog [data-parameter='{name}']")


def test_dialog_checks_sends_and_shows_a_refusal(page: Any, lab: JupyterServer) -> None:
    """The card of an app with parameters opens the dialog (defaults filled in); a required
    field left empty or a number out of range disables Launch with the reason under the
    field; a 400 brings the dialog back with the server's message and the values typed;
    the accepted values reach the API as the contract's body and the app opens in its tab."""
    posted: list[Any] = []

    def servers_info(route: Any) -> None:
        response = route.fetch()
        doc = response.json()
        for entry in doc["server_processes"]:
            if entry["name"] == "paramapp" and entry.get("parameters") is None:
                entry["parameters"] = SCHEMA
        route.fulfill(response=response, json=doc)

    def start(route: Any) -> None:
        request = route.request
        if request.method != "POST":
            route.continue_()
            return
        posted.append(json.loads(request.post_data or "null"))
        if len(posted) == 1:  # as a server of the contract refuses a bad value
            route.fulfill(
                status=400,
                json={
                    "status": 400,
                    "title": "Bad Request",
                    "message": "parameter 'logdir' must be an absolute path",
                },
            )
        else:
            route.continue_()

    page.route(re.compile(r".*/server-proxy/servers-info(\?.*)?$"), servers_info)
    page.route(re.compile(r".*/server-proxy/api/servers/paramapp(\?.*)?$"), start)
    open_lab(page, lab)
    page.locator(".jp-LauncherCard", has_text="Param App").first.click()
    dialog = page.locator(".jp-Dialog").first
    dialog.wait_for(timeout=60_000)
    assert "Launch Param App" in dialog.inner_text()
    launch = dialog.locator(".jp-Dialog-button.jp-mod-accept")
    assert field(page, "logdir").input_value() == "/tmp/logs"
    assert field(page, "workers").input_value() == "2"
    assert not field(page, "debug").is_checked()
    assert dialog.locator("label", has_text="Log directory").count() == 1
    assert launch.is_enabled()

    field(page, "logdir").fill("")
    dialog.locator(".jp-ServerProxy-fieldError", has_text="Log directory is required").wait_for()
    assert launch.is_disabled()
    field(page, "logdir").fill("relative")
    field(page, "workers").fill("9")
    dialog.locator(".jp-ServerProxy-fieldError", has_text="workers must be at most 8").wait_for()
    assert launch.is_disabled()
    field(page, "workers").fill("two")
    dialog.locator(".jp-ServerProxy-fieldError", has_text="workers must be a number").wait_for()
    field(page, "workers").fill("3")
    field(page, "level").select_option(label="b")
    field(page, "debug").check()
    assert launch.is_enabled()
    launch.click()

    message = page.locator(".jp-Dialog .jp-ServerProxy-launchMessage").first
    message.wait_for(timeout=30_000)
    assert message.inner_text() == "parameter 'logdir' must be an absolute path"
    assert field(page, "logdir").input_value() == "relative"
    field(page, "logdir").fill("/data/run 1")
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()

    frame = page.frame_locator(".jp-ServerProxy-app iframe").first
    frame.locator("body", has_text='"path": "/"').wait_for(timeout=60_000)  # echo.py's answer
    values = {"level": "b", "workers": 3, "debug": True}
    assert posted == [
        {"parameters": {"logdir": "relative", **values}},
        {"parameters": {"logdir": "/data/run 1", **values}},
    ]
    assert api(lab, "paramapp")["state"] == "running"  # type: ignore[index]


def servers_info(server: JupyterServer) -> dict[str, Any]:
    req = urllib.request.Request(server.url("server-proxy/servers-info"), headers=server.auth)
    with urllib.request.urlopen(req, timeout=30) as r:
        doc: dict[str, Any] = json.loads(r.read())
    return doc


def test_new_instance_with_parameters(page: Any, lab: JupyterServer) -> None:
    """ "New Instance of Greeter…" asks for the instance's name and the greeting, starts
    ``greeter@<name>`` with it (shell characters reach the app as one literal value), opens it
    in a Lab tab at ``<base_url>greeter@<name>/`` and lists it under its app in the Running
    panel."""
    entry = next((p for p in servers_info(lab)["server_processes"] if p["name"] == "greeter"), None)
    if entry is None or entry.get("parameters") is None or not entry.get("instances"):
        pytest.skip("this server has not the server side of issue 14 (instances, parameters)")
    open_lab(page, lab)
    page.locator(".jp-LauncherCard", has_text="Greeter").first.wait_for(timeout=60_000)
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("New Instance of Greeter")
    page.locator(".lm-CommandPalette-item", has_text="New Instance of Greeter").first.click()
    dialog = page.locator(".jp-Dialog").first
    dialog.wait_for(timeout=30_000)
    instance = field(page, "@instance")
    instance.fill("not ok!")
    dialog.locator(".jp-ServerProxy-fieldError", has_text="1 to 32").wait_for()
    instance.fill("exp1")
    greeting = "hi; $(id) `x` 'q'"
    field(page, "greeting").fill(greeting)
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()

    frame = page.locator(".jp-ServerProxy-app iframe").first
    page.wait_for_function(
        "() => document.querySelector('.jp-ServerProxy-app iframe')?.src", timeout=60_000
    )
    assert frame.get_attribute("src") == lab.url("greeter@exp1/")
    status: dict[str, Any] = api(lab, "greeter@exp1")  # type: ignore[assignment]
    assert status["state"] == "running" and status["parameters"] == {"greeting": greeting}
    req = urllib.request.Request(lab.url("greeter@exp1/env/GREETING"), headers=lab.auth)
    with urllib.request.urlopen(req, timeout=30) as r:
        assert json.loads(r.read())["value"] == greeting

    page.locator("[data-id='jp-running-sessions']").first.click()
    app_item = page.locator(".jp-ServerProxy-runningItem", has_text="Greeter").first
    app_item.locator(".jp-ServerProxy-runningItem", has_text="exp1").first.wait_for(timeout=30_000)
    wait_until(lambda: api(lab, "greeter@exp1")["state"] == "running", "the instance")  # type: ignore[index]


def test_new_instance_dialog_posts_to_the_instance(page: Any, lab: JupyterServer) -> None:
    """Without the server side: "New Instance of Param App…" (servers-info rewritten to allow
    instances) asks for a valid instance name, POSTs the parameters to
    ``paramapp@<instance>`` and opens ``<base_url>paramapp@<instance>/`` in a Lab tab."""
    posted: list[tuple[str, Any]] = []

    def servers_info(route: Any) -> None:
        response = route.fetch()
        doc = response.json()
        for entry in doc["server_processes"]:
            if entry["name"] == "paramapp":
                entry["parameters"] = GREETING_SCHEMA
                entry["instances"] = True
        route.fulfill(response=response, json=doc)

    def instance(route: Any) -> None:
        request = route.request
        path = request.url.split("?")[0].rsplit("/", 1)[1]
        if request.method == "POST":
            posted.append((path, json.loads(request.post_data or "null")))
        route.fulfill(json={"name": path, "state": "running", "url": f"/{path}/"})

    page.route(re.compile(r".*/server-proxy/servers-info(\?.*)?$"), servers_info)
    page.route(re.compile(r".*/server-proxy/api/servers/paramapp@[^/]*(\?.*)?$"), instance)
    open_lab(page, lab)
    page.locator(".jp-LauncherCard", has_text="Param App").first.wait_for(timeout=60_000)
    page.keyboard.press("Control+Shift+C")
    page.locator(".lm-CommandPalette-input").fill("New Instance of Param App")
    page.locator(".lm-CommandPalette-item", has_text="New Instance of Param App").first.click()
    dialog = page.locator(".jp-Dialog").first
    dialog.wait_for(timeout=30_000)
    assert "New instance of Param App" in dialog.inner_text()
    launch = dialog.locator(".jp-Dialog-button.jp-mod-accept")
    assert field(page, "@instance").input_value() == "2"  # a free name is suggested
    field(page, "@instance").fill("not ok!")
    dialog.locator(".jp-ServerProxy-fieldError", has_text="1 to 32").wait_for()
    assert launch.is_disabled()
    field(page, "@instance").fill("exp1")
    field(page, "greeting").fill("hi; $(id)")
    launch.click()
    page.wait_for_function(
        "() => document.querySelector('.jp-ServerProxy-app iframe')?.src", timeout=60_000
    )
    src = page.locator(".jp-ServerProxy-app iframe").first.get_attribute("src")
    assert src == lab.url("paramapp@exp1/")
    assert posted == [("paramapp@exp1", {"parameters": {"greeting": "hi; $(id)"}})]
    assert page.locator(".lm-TabBar-tab", has_text="Param App (exp1)").count() == 1


def test_notebook_new_menu_asks_then_opens_a_new_tab(page: Any, tmp_path: Path) -> None:
    """In Notebook 7 (every app opens in a new browser tab), the New menu's entry of an app
    with parameters asks for them; a refused start closes the tab it opened and brings the
    dialog back with the server's message; the accepted start opens the app in a new tab."""
    s = lab_server(tmp_path, CONFIG, app="notebook")
    posted: list[Any] = []

    def servers_info(route: Any) -> None:
        response = route.fetch()
        doc = response.json()
        for entry in doc["server_processes"]:
            if entry["name"] == "paramapp" and entry.get("parameters") is None:
                entry["parameters"] = SCHEMA
        route.fulfill(response=response, json=doc)

    def start(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        posted.append(json.loads(route.request.post_data or "null"))
        if len(posted) == 1:
            route.fulfill(
                status=400,
                json={
                    "status": 400,
                    "title": "Bad Request",
                    "message": "parameter 'logdir' is not allowed",
                },
            )
        else:
            route.continue_()

    try:
        page.context.route(re.compile(r".*/server-proxy/servers-info(\?.*)?$"), servers_info)
        page.context.route(re.compile(r".*/server-proxy/api/servers/paramapp(\?.*)?$"), start)
        page.goto(s.url(f"tree?token={s.token}"))
        page.get_by_role("menuitem", name="New").first.click()
        page.get_by_role("menuitem", name="Param App").first.click()
        dialog = page.locator(".jp-Dialog").first
        dialog.wait_for(timeout=60_000)
        assert field(page, "logdir").input_value() == "/tmp/logs"
        field(page, "logdir").fill("/root")
        with page.context.expect_page() as first_tab:
            dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        message = page.locator(".jp-Dialog .jp-ServerProxy-launchMessage").first
        message.wait_for(timeout=30_000)
        assert message.inner_text() == "parameter 'logdir' is not allowed"
        assert first_tab.value.is_closed()  # closed before the dialog came back
        field(page, "logdir").fill("/data")
        with page.context.expect_page() as second_tab:
            page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
        popup = second_tab.value
        popup.wait_for_url(re.compile(r".*/paramapp/$"), timeout=60_000)
        popup.wait_for_function(
            'document.body && document.body.innerText.includes(\'"path": "/"\')',
            timeout=60_000,
        )
        defaults = {"workers": 2, "debug": False}
        assert posted == [
            {"parameters": {"logdir": "/root", **defaults}},
            {"parameters": {"logdir": "/data", **defaults}},
        ]
    finally:
        s.stop()

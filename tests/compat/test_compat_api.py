"""``servers-info``, the icon route, and Jupyter's own routes beside the apps."""

from __future__ import annotations

from pathlib import Path

import pytest
from compat_support import JupyterServer, request


def _info(server: JupyterServer) -> dict[str, dict[str, object]]:
    r = server.get("server-proxy/servers-info")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert isinstance(doc, dict) and set(doc) >= {"server_processes"}
    return {p["name"]: p for p in doc["server_processes"]}


def test_servers_info_shape(server: JupyterServer) -> None:
    """Every configured app and plugin app is listed with the 4.x keys and values."""
    info = _info(server)
    assert {"templates", "pngicon", "external", "raw", "hidden", "compatplug"} <= set(info)
    t = info["templates"]
    assert t["new_browser_tab"] is False
    entry = t["launcher_entry"]
    assert isinstance(entry, dict)
    assert {k: entry[k] for k in ("enabled", "title", "path_info", "category", "icon_url")} == {
        "enabled": True,
        "title": "Compat Templates",
        "path_info": "templates/sub",
        "category": "Compat",
        "icon_url": "/base/server-proxy/icon/templates",
    }
    e = info["external"]
    assert e["new_browser_tab"] is True
    assert {k: e["launcher_entry"][k] for k in ("enabled", "title", "path_info", "category")} == {  # type: ignore[index]
        "enabled": True,
        "title": "external",
        "path_info": "external/",
        "category": "Notebook",
    }
    assert "icon_url" not in e["launcher_entry"]  # type: ignore[operator]
    assert info["hidden"]["launcher_entry"]["enabled"] is False  # type: ignore[index]
    assert info["compatplug"]["launcher_entry"]["title"] == "Compat Plugin"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "ctype"), [("templates", "image/svg+xml"), ("pngicon", "image/png")]
)
def test_icon_content_type(server: JupyterServer, name: str, ctype: str) -> None:
    r = server.get(f"server-proxy/icon/{name}")
    assert r.status == 200 and r.headers["Content-Type"].split(";")[0] == ctype and r.body


def test_icon_unknown_is_404(server: JupyterServer) -> None:
    assert server.get("server-proxy/icon/nosuchapp").status == 404


def test_servers_info_needs_a_login(server: JupyterServer) -> None:
    r = request(server.url("server-proxy/servers-info"))
    assert r.status in (302, 403) and b"templates" not in r.body


@pytest.mark.deliberate_difference(reason="4.x serves icons without a login")
def test_icons_need_a_login(server: JupyterServer) -> None:
    r = request(server.url("server-proxy/icon/templates"))
    assert r.status in (302, 403) and b"<svg" not in r.body


@pytest.mark.deliberate_difference(reason="the lifecycle API is new")
def test_lifecycle_api_lists_apps(server: JupyterServer) -> None:
    r = server.get("server-proxy/api/servers/")
    assert r.status == 200
    names = {s["name"] for s in r.json()["servers"]}  # type: ignore[index]
    assert {"templates", "external"} <= names


@pytest.mark.deliberate_difference(reason="in 4.x an app named like a Jupyter route shadows it")
def test_app_named_api_does_not_shadow_jupyter(tmp_path: Path, backend_port: int) -> None:
    """Jupyter's own routes keep working whatever the apps are called (here one named ``api``)."""
    config = f"c.ServerProxy.servers = {{'api': {{'port': {backend_port}}}}}\n"
    shadowed = JupyterServer(tmp_path, config, base_url="/base/").start()
    try:
        r = shadowed.get("api/status")
    finally:
        shadowed.stop()
    assert r.status == 200
    doc = r.json()
    assert isinstance(doc, dict) and "started" in doc and "argv" not in doc

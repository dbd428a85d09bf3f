"""Plugins published for 4.x, as a site installs them: jupyter-rsession-proxy (RStudio),
jupyter-vscode-proxy, jupyter-codeserver-proxy, jupyter-pluto-proxy and jupyter-shiny-proxy, at
the versions of ``published-plugins.txt``, found through the ``jupyter_serverproxy_servers``
entry point group.

Their specs use what the 4.x documentation offers, each in its own way: command and environment
callables that ask for ``port`` and ``unix_socket`` and return templates to fill again
(``{base_url}``, ``{unix_socket}``), a unix socket by default, a ``rewrite_response`` hook that
takes ``(response, request)``, a command that is a Julia program with ``{port}`` in it, a config
file written by the command callable, a key the spec does not know (Shiny's
``launcher_entry.timeout``). The programs they start are stand-ins (``apps/published_app.py``):
the real ones are not on a test machine, and what matters here is what the plugin asks of the
proxy and what the proxy does with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from compat_support import HERE, JupyterServer, browser_ws_headers

REPO = HERE.parents[1]
PLUGINS = Path(os.environ.get("JSP_PUBLISHED_PLUGINS", REPO / ".cache" / "published-plugins"))
STAND_IN = HERE / "apps" / "published_app.py"
BASE = "/user/alice/"

#: name: (launcher title, the program its command starts)
PUBLISHED = {
    "rstudio": ("RStudio", "rserver"),
    "vscode": ("VS Code", "code-server"),
    "codeserver": ("VS Code (code-server)", "code-server"),
    "pluto": ("Pluto Notebook", "julia"),
    "shiny": ("Shiny", "shiny-server"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    if not (PLUGINS / ".installed-from").is_file():
        pytest.fail(f"the published plugins are not installed in {PLUGINS}: run scripts/setup.sh")
    root = tmp_path_factory.mktemp("published")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for program in {p for _, p in PUBLISHED.values()}:
        script = bin_dir / program
        script.write_text(f'#!/bin/sh\nexec {sys.executable} {STAND_IN} {program} "$@"\n')
        script.chmod(0o755)
    site_dir = root / "shiny-site"
    s = JupyterServer(
        root,
        f"c.JupyterShinyProxy.site_dir = {str(site_dir)!r}\n",
        BASE,
        pythonpath=[str(PLUGINS)],
        env={
            "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
            # where jupyter-vscode-proxy starts code-server (its last argument)
            "CODE_WORKINGDIR": str(root / "home"),
        },
    ).start()
    yield s
    s.stop()


def _get_json(server: JupyterServer, path: str) -> dict[str, object]:
    r = server.get(path)
    assert r.status == 200, (path, r.status, r.body[:500], server.log()[-3000:])
    doc = r.json()
    assert isinstance(doc, dict)
    return doc


def _argv(doc: dict[str, object]) -> list[str]:
    env = doc["env"]
    assert isinstance(env, dict)
    argv = json.loads(env["COMPAT_APP_ARGV"])
    assert isinstance(argv, list)
    return argv


def test_each_published_plugin_is_listed_with_its_title_and_icon(server: JupyterServer) -> None:
    """servers-info lists every plugin with the launcher title it sets, and each icon URL
    serves the plugin's SVG."""
    info = _get_json(server, "server-proxy/servers-info")
    listed = {p["name"]: p for p in info["server_processes"]}  # type: ignore[index, union-attr]
    for name, (title, _) in PUBLISHED.items():
        assert name in listed, (name, sorted(listed))
        entry = listed[name]
        assert entry["launcher_entry"]["title"] == title
        icon_url = entry["launcher_entry"]["icon_url"]
        assert icon_url, name
        path = urllib.parse.urlsplit(icon_url).path
        assert path.startswith(BASE), icon_url
        icon = server.get(path[len(BASE) :])
        assert icon.status == 200, (name, icon.status)
        assert b"<svg" in icon.body[:2000], name


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_each_published_plugin_starts_its_program_and_is_proxied(
    server: JupyterServer, name: str
) -> None:
    """The first request starts the plugin's program with the command the plugin built, every
    template in it filled, and the program's answer comes back through the proxy."""
    doc = _get_json(server, f"{name}/some/page?x=1")
    env = doc["env"]
    assert isinstance(env, dict)
    assert env["COMPAT_APP_PROGRAM"] == PUBLISHED[name][1]
    argv = _argv(doc)
    assert not [a for a in argv if "{" in a and "}" in a and "Pluto" not in a], argv
    assert doc["query"] == "x=1"
    assert str(doc["path"]).endswith("/some/page"), doc["path"]


def test_rstudio_gets_its_root_path_and_a_unix_socket(server: JupyterServer) -> None:
    """jupyter-rsession-proxy's command callable returns ``{base_url}`` and ``{unix_socket}``
    templates, which are filled as its callable's result; it listens on a unix socket (its
    default) and is sent the path below its prefix."""
    doc = _get_json(server, "rstudio/auth-sign-in")
    argv = _argv(doc)
    assert f"--www-root-path={BASE}rstudio/" in argv, argv
    sockets = [a.split("=", 1)[1] for a in argv if a.startswith("--www-socket=")]
    assert len(sockets) == 1 and os.path.isabs(sockets[0]), argv
    assert not any(a.startswith("--www-port=") for a in argv), argv
    assert doc["path"] == "/auth-sign-in"


def test_rstudio_rewrite_hook_puts_the_request_host_in_location(server: JupyterServer) -> None:
    """RStudio's ``rewrite_response(response, request)`` replaces the host of a Location that
    names another one with the host the browser asked."""
    to = "http://localhost:8787/rstudio/auth-sign-in?appUri=%2F"
    r = server.get(f"rstudio/redirect?to={urllib.parse.quote(to, safe='')}")
    assert r.status == 302, (r.status, r.body[:300])
    location = urllib.parse.urlsplit(r.headers["Location"])
    assert location.netloc == f"127.0.0.1:{server.port}", r.headers["Location"]
    assert location.path == "/rstudio/auth-sign-in", r.headers["Location"]


def test_port_based_plugins_get_a_port_in_their_own_option(server: JupyterServer) -> None:
    """vscode: ``--port={port}`` from its callable; codeserver: ``--bind-addr=0.0.0.0:{port}``
    in a plain list; Pluto: ``port={port}`` inside a Julia program; Shiny: ``listen PORT;`` in
    the config file its command callable wrote."""
    vscode = _argv(_get_json(server, "vscode/"))
    assert [a for a in vscode if a.startswith("--port=")][0][7:].isdigit(), vscode
    assert vscode[-1] == str(Path(server.root) / "home"), vscode
    codeserver = _argv(_get_json(server, "codeserver/"))
    bind = [a for a in codeserver if a.startswith("--bind-addr=")]
    assert bind and bind[0].startswith("--bind-addr=0.0.0.0:"), codeserver
    assert bind[0].rsplit(":", 1)[1].isdigit()
    pluto = _argv(_get_json(server, "pluto/"))
    assert pluto[:2] == ["--optimize=0", "-e"] and "port={port}" not in pluto[2], pluto
    shiny = _argv(_get_json(server, "shiny/"))
    assert len(shiny) == 1 and "listen " in Path(shiny[0]).read_text(), shiny


def test_vscode_websocket_from_a_browser(server: JupyterServer) -> None:
    """code-server lives on its websocket: a same-origin browser websocket reaches it under
    the plugin's prefix and echoes both ways."""
    origin = f"http://127.0.0.1:{server.port}"
    headers = {"Cookie": server.login_cookie(), **browser_ws_headers(origin)}
    url = server.url("vscode/ws?reconnectionToken=abc").replace("http://", "ws://")

    async def go() -> tuple[dict[str, object], str]:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(url, headers=headers) as ws,
        ):
            hello = json.loads(await asyncio.wait_for(ws.receive_str(), 30))
            await ws.send_str("ping")
            return hello, await asyncio.wait_for(ws.receive_str(), 30)

    hello, echoed = asyncio.run(go())
    assert hello["path"] == "/ws" and hello["query"] == "reconnectionToken=abc"
    assert echoed == "ping"

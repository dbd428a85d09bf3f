"""Jupyter's own routes always win over a named app: an app whose name is a route prefix of the
server, of an extension (loaded before or after this one) or of this extension is left out and
reported, and Jupyter keeps working."""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request

import pytest

from jupyter_server_proxy.web.routes import takes_app_paths
from tests.conftest import BASE_URLS, HERE, JupyterServer, module_server

ECHO = str(HERE / "backends" / "echo.py")

#: Apps named after the server's routes (api, files, login, static), JupyterLab's (lab, loaded
#: after this extension) and Notebook's (tree), and this extension's own (proxy), besides two
#: that only look alike (trees, apis) and must work.
NAMES = ["api", "files", "login", "static", "lab", "tree", "proxy", "server-proxy", "trees", "apis"]
#: The frontends' routes exist only where they are installed (the lowest-dependencies lane has
#: neither): there an app may take the name.
FRONTENDS = {"lab": "jupyterlab", "tree": "notebook"}
INSTALLED = {name for name, module in FRONTENDS.items() if importlib.util.find_spec(module)}
CLASHING = {"api", "files", "login", "static", "proxy", "server-proxy"} | INSTALLED

CONFIG = (
    "import sys\nc.ServerProxy.servers = {\n"
    + "".join(
        f"    {name!r}: {{'command': [sys.executable, {ECHO!r}, '--port', '{{port}}'],"
        " 'timeout': 20, 'instances': True},\n"
        for name in NAMES
    )
    + "}\n"
)


server = module_server(CONFIG, BASE_URLS)


def get(server: JupyterServer, path: str) -> tuple[int, bytes]:
    req = urllib.request.Request(server.url(path), headers=server.auth)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_jupyter_routes_answer_from_jupyter(server: JupyterServer) -> None:
    """/api/status, /api/contents, /lab, /tree and this extension's own routes answer as
    without the apps, not from the echo app that shares their name."""
    status, body = get(server, "api/status")
    assert status == 200 and "last_activity" in json.loads(body)
    status, body = get(server, "api/contents")
    assert status == 200 and json.loads(body)["type"] == "directory"
    if "lab" in INSTALLED:
        status, body = get(server, "lab")
        assert status == 200 and b"JupyterLab" in body
    if "tree" in INSTALLED:
        status, body = get(server, "tree")
        assert status == 200 and b'"path"' not in body  # Notebook's page, not the echo's JSON
    status, body = get(server, "server-proxy/servers-info")
    assert status == 200


def test_clashing_apps_are_left_out_and_reported(server: JupyterServer) -> None:
    """servers-info lists only the apps that can have their URL, and names each left-out app
    with the route it would have hidden; the log says it too."""
    status, body = get(server, "server-proxy/servers-info")
    info = json.loads(body)
    listed = {p["name"] for p in info["server_processes"]}
    assert listed >= {"trees", "apis"} and not listed & CLASHING
    problems = {p["name"]: p["message"] for p in info["problems"]}
    assert set(problems) == CLASHING
    assert "api/status" in problems["api"] or "/api" in problems["api"]
    if "lab" in INSTALLED:
        assert "jupyterlab" in problems["lab"] and "taken by the route" in problems["lab"]
    if "tree" in INSTALLED:
        assert "notebook" in problems["tree"]
    assert "jupyter_server_proxy" in problems["proxy"]
    log = server.log()
    for name in CLASHING:
        assert f"app {name!r}: the name {name!r} is taken by the route" in log


def test_look_alike_names_still_work(server: JupyterServer) -> None:
    """An app named ``trees`` or ``apis`` is not Notebook's ``tree`` nor Jupyter's ``api``."""
    for name in ("trees", "apis"):
        status, body = get(server, f"{name}/echo/x")
        assert status == 200, body
        assert json.loads(body)["path"] == "/echo/x"


def test_instances_of_left_out_apps_are_left_out_too(server: JupyterServer) -> None:
    """A left-out app's ``/<name>@<instance>/`` routes go with its own; a look-alike's
    instances work."""
    for name in CLASHING:
        status, body = get(server, f"{name}@x/echo/x")
        assert b'"path": "/echo/x"' not in body, name
    status, body = get(server, "trees@x/echo/x")
    assert status == 200 and json.loads(body)["path"] == "/echo/x"


def test_lifecycle_api_does_not_offer_left_out_apps(server: JupyterServer) -> None:
    status, body = get(server, "server-proxy/api/servers")
    assert status == 200
    names = {s["name"] for s in json.loads(body)["servers"]}
    assert not names & CLASHING
    assert get(server, "server-proxy/api/servers/static")[0] == 404
    assert get(server, "server-proxy/api/servers/static@x")[0] == 404


@pytest.mark.parametrize("base", ["/", "/user/alice/"])
@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        (r"api/status$", {"api"}),  # a literal first segment
        (r"api$", {"api"}),
        (r"api/kernels?$", {"api"}),  # a quantifier takes back the last literal
        (
            r"(?P<mode>lab|doc)(?P<workspace>/workspaces/[a-z]+)?(?P<tree>/tree/.*)?$",
            {"lab", "doc"},
        ),
        (r"lab/.*$", {"lab"}),
        (r"tree(.*)$", {"tree"}),  # Notebook's tree, and not "trees"
        (r"(robots\.txt)$", {"robots.txt"}),
        (r"kernelspecs/(?P<kernel_name>[\w\.\-%]+)/(?P<path>.*)$", {"kernelspecs"}),
        (r".*/$", set()),  # the trailing-slash redirect: a catch-all
        (r"$", set()),
    ],
)
def test_which_names_a_route_takes(base: str, pattern: str, names: set[str]) -> None:
    """A route takes an app's name when it serves ``{base}{name}`` or a path under it; a
    catch-all takes none."""
    candidates = {"api", "apis", "lab", "doc", "tree", "trees", "robots.txt", "kernelspecs", "x"}
    full = base + pattern
    assert {n for n in candidates if takes_app_paths(full, base, n)} == names
    assert not takes_app_paths("(.*)$", base, "api")


def test_the_clis_list_covers_jupyter_servers_own_routes() -> None:
    """``jupyter server-proxy list`` knows jupyter_server's prefixes from a list (it starts no
    server); every route of the server's own handler modules is covered by it."""
    import importlib

    from jupyter_server.serverapp import JUPYTER_SERVICE_HANDLERS

    from jupyter_server_proxy.web.routes import KNOWN_PREFIXES, literal_prefix

    modules = [m for ms in JUPYTER_SERVICE_HANDLERS.values() for m in ms or ()]
    modules.append("jupyter_server.base.handlers")
    firsts = set()
    for module in modules:
        for route in importlib.import_module(module).default_handlers:
            first = literal_prefix(route[0]).lstrip("/").partition("/")[0]
            if first:
                firsts.add(first)
    assert firsts and firsts <= set(KNOWN_PREFIXES["jupyter_server"]), firsts

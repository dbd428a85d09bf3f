"""Instances and launch parameters through a real Jupyter server, with real child processes:
``/<name>@<instance>/`` runs beside ``/<name>/``, each instance its own process; the lifecycle
API addresses ``<name>@<instance>``; parameters are checked before anything starts and reach
the app as literal arguments, never through a shell."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import BASE_URLS, HERE, JupyterServer, alive, module_server
from tests.integration.test_named_apps import call, children_of, cmdline, run

ARGV = str(HERE / "backends" / "argv.py")
ECHO = str(HERE / "backends" / "echo.py")
NASTY = 'x\'; touch /tmp/jsp-pwned; echo $(id) `id` | cat > /dev/null & "{port}" *'

CONFIG = f"""
import sys
c.ServerProxy.servers = {{
    "tb": {{
        "command": [sys.executable, {ARGV!r}, "{{port}}", "--label", "{{label}}", "{{workers}}"],
        "environment": {{"JSP_LABEL": "{{label}}"}},
        "timeout": 20,
        "instances": True,
        "parameters": {{
            "type": "object",
            "properties": {{
                "label": {{"type": "string", "title": "Label", "default": "plain"}},
                "workers": {{"type": "integer", "minimum": 1, "maximum": 8, "default": 2}},
                "level": {{"type": "string", "enum": ["low", "high"]}},
            }},
        }},
    }},
    "sock": {{
        "command": [sys.executable, {ECHO!r}, "--unix-socket", "{{unix_socket}}"],
        "unix_socket": True,
        "timeout": 20,
        "instances": True,
    }},
    "single": {{
        "command": [sys.executable, {ARGV!r}, "{{port}}"],
        "timeout": 20,
    }},
    "needs": {{
        "command": [sys.executable, {ARGV!r}, "{{port}}", "{{logdir}}"],
        "timeout": 20,
        "parameters": {{
            "type": "object",
            "properties": {{"logdir": {{"type": "string"}}}},
            "required": ["logdir"],
        }},
    }},
    # Exits at once: its instances fail to start, which makes the limit cheap to reach.
    "fails": {{"command": ["false", "{{port}}"], "instances": True}},
    "bad-schema": {{
        "command": ["true"],
        "parameters": {{"type": "object", "properties": {{"x": {{"type": "list"}}}}}},
    }},
}}
"""


server = module_server(CONFIG, BASE_URLS)


def api(server: JupyterServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    kw: dict[str, Any] = {} if body is None else {"json": body}
    status, _, raw = run(call(server, method, f"server-proxy/api/servers/{path}", **kw))
    return status, json.loads(raw) if raw else None


def get(server: JupyterServer, path: str) -> tuple[int, Any]:
    status, _, raw = run(call(server, "GET", path, headers={"Accept": "application/json"}))
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def processes_of(server: JupyterServer, marker: str) -> list[int]:
    assert server.proc is not None
    return [p for p in children_of(server.proc.pid) if marker in cmdline(p)]


def test_two_instances_serve_at_once_and_stop_alone(server: JupyterServer) -> None:
    """Two instances of one app, started with other values, answer at once, each from its own
    process and at its own path; stopping one leaves the other running."""
    status, one = api(server, "POST", "tb@one", {"parameters": {"label": "first"}})
    assert status == 200, one
    status, two = api(server, "POST", "tb@two", {"parameters": {"label": "second", "workers": 5}})
    assert status == 200, two
    assert one["pid"] != two["pid"] and one["port"] != two["port"]
    status, a = get(server, "tb@one/some/path?q=1")
    assert (
        status == 200 and a["argv"] == ["--label", "first", "2"] and a["path"] == "/some/path?q=1"
    )
    assert a["env"]["JUPYTER_SERVER_PROXY_PREFIX"] == f"{server.base_url}tb@one/"
    status, b = get(server, "tb@two/")
    assert status == 200 and b["argv"] == ["--label", "second", "5"]
    assert b["env"]["JSP_LABEL"] == "second"
    status, _ = api(server, "DELETE", "tb@one")
    assert status == 200 and not alive(one["pid"])
    assert alive(two["pid"])
    status, b = get(server, "tb@two/again")
    assert status == 200 and b["argv"] == ["--label", "second", "5"]
    api(server, "DELETE", "tb@two")


def test_a_request_starts_an_instance_with_the_defaults(server: JupyterServer) -> None:
    """``/<name>@<instance>/`` starts a new instance as ``/<name>/`` starts the app; the
    default instance keeps its URL and runs beside it."""
    status, doc = get(server, "tb@fresh/x")
    assert status == 200 and doc["argv"] == ["--label", "plain", "2"]
    status, doc = get(server, "tb/x")
    assert status == 200 and doc["env"]["JUPYTER_SERVER_PROXY_PREFIX"] == f"{server.base_url}tb/"
    _, fresh = api(server, "GET", "tb@fresh")
    _, default = api(server, "GET", "tb")
    assert fresh["pid"] != default["pid"]
    assert fresh["parameters"] == {"label": "plain", "workers": 2}
    status, headers, _ = run(call(server, "GET", "tb@fresh?a=1"))
    assert status in (301, 302) and headers["Location"].endswith(f"{server.base_url}tb@fresh/?a=1")


def test_the_api_addresses_instances(server: JupyterServer) -> None:
    """GET, POST, logs, restart and DELETE take ``<name>@<instance>``; the list has each app's
    default entry followed by its instances, with ``app``, ``instance`` and ``parameters``."""
    status, info = api(server, "POST", "tb@api", {"parameters": {"level": "high"}})
    assert status == 200, info
    assert info["name"] == "tb@api" and info["app"] == "tb" and info["instance"] == "api"
    assert info["parameters"] == {"label": "plain", "workers": 2, "level": "high"}
    assert info["url"] == f"{server.base_url}tb@api/" and info["state"] == "running"
    status, same = api(server, "GET", "tb@api")
    assert status == 200 and same["pid"] == info["pid"]
    status, listed = api(server, "GET", "")
    names = [s["name"] for s in listed["servers"]]
    assert names.index("tb") < names.index("tb@api") < names.index("sock")
    default = next(s for s in listed["servers"] if s["name"] == "tb")
    assert default["app"] == "tb" and default["instance"] is None
    assert "single" in names and not any(n.startswith("single@") for n in names)
    status, logs = api(server, "GET", "tb@api/logs")
    assert status == 200 and logs["name"] == "tb@api" and isinstance(logs["lines"], list)
    status, again = api(server, "POST", "tb@api/restart")
    assert status == 200 and again["pid"] != info["pid"] and not alive(info["pid"])
    assert again["parameters"] == info["parameters"]  # a restart keeps the values
    status, changed = api(server, "POST", "tb@api/restart", {"parameters": {"label": "new"}})
    assert status == 200 and changed["parameters"]["label"] == "new"
    status, gone = api(server, "DELETE", "tb@api")
    assert status == 200 and gone["state"] == "stopped" and not alive(changed["pid"])
    status, kept = api(server, "GET", "tb@api")  # listed with its state after it stopped
    assert status == 200 and kept["state"] == "stopped"
    status, logs = api(server, "GET", "tb@api/logs")
    assert status == 200


def test_other_values_for_a_running_instance_are_a_409(server: JupyterServer) -> None:
    status, info = api(server, "POST", "tb@busy", {"parameters": {"label": "a"}})
    assert status == 200
    status, same = api(server, "POST", "tb@busy")  # no body: as it runs
    assert status == 200 and same["pid"] == info["pid"]
    status, err = api(server, "POST", "tb@busy", {"parameters": {"label": "b"}})
    assert status == 409 and "restart" in err["message"]
    api(server, "DELETE", "tb@busy")


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"parameters": {"workers": 99}}, "workers"),
        ({"parameters": {"workers": "2"}}, "workers"),
        ({"parameters": {"level": "medium"}}, "level"),
        ({"parameters": {"label": "a\u0000b"}}, "label"),
        ({"parameters": {"unknown": 1}}, "unknown"),
    ],
)
def test_a_bad_parameter_is_refused_and_starts_nothing(
    server: JupyterServer, body: Any, name: str
) -> None:
    """400 with the contract's fields, naming the parameter; no instance, no process."""
    status, err = api(server, "POST", "tb@refused", body)
    assert status == 400, err
    assert err["status"] == 400 and err["title"] and f"parameter {name!r}" in err["message"]
    assert api(server, "GET", "tb@refused")[0] == 404
    assert "tb@refused" not in [s["name"] for s in api(server, "GET", "")[1]["servers"]]
    assert not [p for p in processes_of(server, ARGV) if "refused" in cmdline(p)]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"parameters": {}, "other": 1}'])
def test_a_bad_body_is_a_400(server: JupyterServer, body: bytes) -> None:
    status, _, raw = run(call(server, "POST", "server-proxy/api/servers/tb@body", data=body))
    assert status == 400 and b"body" in raw
    assert api(server, "GET", "tb@body")[0] == 404


def test_shell_metacharacters_reach_the_app_as_one_argument(server: JupyterServer) -> None:
    """A value full of shell syntax is one argv item and one environment value, as given."""
    status, info = api(server, "POST", "tb@nasty", {"parameters": {"label": NASTY}})
    assert status == 200, info
    status, doc = get(server, "tb@nasty/")
    assert status == 200
    assert doc["argv"] == ["--label", NASTY, "2"] and doc["env"]["JSP_LABEL"] == NASTY
    assert not os.path.exists("/tmp/jsp-pwned")
    api(server, "DELETE", "tb@nasty")


def test_a_required_parameter_without_default(server: JupyterServer) -> None:
    """A plain request cannot start the app (400 naming the parameter); the API with a value
    can, also for an app's default instance."""
    status, err = get(server, "needs/")
    assert status == 400 and "parameter 'logdir' is required" in err["message"]
    status, info = api(server, "POST", "needs", {"parameters": {"logdir": "/data/x y"}})
    assert status == 200 and info["parameters"] == {"logdir": "/data/x y"}
    status, doc = get(server, "needs/")
    assert status == 200 and doc["argv"] == ["/data/x y"]
    api(server, "DELETE", "needs")


@pytest.mark.parametrize(
    "name", ["single@x", "nope@x", "tb@bad%20name", "tb@", "tb@" + "x" * 33, "tb@a@b"]
)
def test_at_forms_that_name_no_instance_are_404(server: JupyterServer, name: str) -> None:
    """An app without ``instances`` has no ``@`` form; neither has an invalid instance name:
    404 from the proxy and from the API, and nothing starts."""
    for path in (f"{name}/page", name):
        status, _, body = run(call(server, "GET", path))
        assert status == 404 and b'"argv"' not in body
    for method in ("GET", "POST", "DELETE"):
        assert api(server, method, name)[0] == 404
    assert api(server, "POST", f"{name}/restart")[0] == 404
    assert api(server, "GET", f"{name}/logs")[0] == 404
    assert not processes_of(server, "single@")


def test_instances_on_unix_sockets_and_websockets(server: JupyterServer) -> None:
    """Each instance gets its own private socket directory; websockets reach an instance."""
    _, a = api(server, "POST", "sock@a")
    _, b = api(server, "POST", "sock@b")
    assert a["unix_socket"] != b["unix_socket"]
    assert os.path.exists(a["unix_socket"]) and os.path.exists(b["unix_socket"])

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url("sock@b/ws", scheme="ws"), headers=server.auth
            ) as ws:
                await ws.send_str("to b")
                assert await ws.receive_str() == "to b"

    run(go())
    status, doc = get(server, "sock@a/echo/p")
    assert status == 200 and doc["path"] == "/echo/p"
    headers = {k.lower(): v for k, v in doc["headers"]}
    assert headers["x-forwarded-context"] == f"{server.base_url}sock@a"
    api(server, "DELETE", "sock@a")
    assert not os.path.exists(os.path.dirname(a["unix_socket"]))
    assert os.path.exists(b["unix_socket"])
    api(server, "DELETE", "sock@b")


def test_servers_info_says_which_apps_have_instances_and_parameters(
    server: JupyterServer,
) -> None:
    status, _, body = run(call(server, "GET", "server-proxy/servers-info"))
    doc = json.loads(body)
    procs = {p["name"]: p for p in doc["server_processes"]}
    assert procs["tb"]["instances"] is True and procs["single"]["instances"] is False
    assert procs["single"]["parameters"] is None
    assert procs["tb"]["parameters"]["properties"]["label"]["title"] == "Label"
    assert "bad-schema" not in procs
    (problem,) = [p for p in doc["problems"] if p["name"] == "bad-schema"]
    assert "parameters.properties.x.type" in problem["message"]


def test_the_number_of_instances_is_bounded(server: JupyterServer) -> None:
    """Past the limit (32 per app) a new instance is a 409 naming it, and starts nothing; the
    kept ones (here failed ones) can still be started."""
    for i in range(32):
        status, info = api(server, "POST", f"fails@i{i}")
        assert status == 503 and info["exit_code"] == 1, info
    status, err = api(server, "POST", "fails@one-more")
    assert status == 409 and "MAX_INSTANCES = 32" in err["message"]
    assert get(server, "fails@another/")[0] == 409
    assert api(server, "GET", "fails@one-more")[0] == 404
    assert api(server, "POST", "fails@i0")[0] == 503
    names = [s["name"] for s in api(server, "GET", "")[1]["servers"]]
    assert len([n for n in names if n.startswith("fails@")]) == 32


def test_server_shutdown_stops_every_instance(tmp_path: Path) -> None:
    s = JupyterServer(tmp_path, CONFIG).start()
    try:
        pids = [api(s, "POST", n)[1]["pid"] for n in ("tb", "tb@a", "tb@b", "sock@c")]
        assert all(pids)
    finally:
        s.stop()
    assert not any(alive(p) for p in pids)

"""Users' hooks get what jupyter-server-proxy 4.x gives them (measured on 4.6.0), and a hook
that raises is named, never a bare traceback.

- ``rewrite_response`` hooks: ``host`` is ``localhost`` for a named app and for
  ``/proxy/<port>/`` (the URL's host for ``/proxy/<host>:<port>/``); ``port`` is a named app's
  port (an int, 0 on a unix socket) or the URL's port (a string); ``path`` is the path after
  the route's prefix (after ``mappath``), also with ``absolute_url``; ``request`` is tornado's
  ``HTTPServerRequest``; ``orig_response`` is a ``RewritableResponse`` of what the backend sent,
  whose ``.orig_response`` is tornado's ``HTTPResponse``; hooks see the backend's own
  ``Location``, which is rewritten after them. A ``Location`` a hook sets gets what 4.x does
  to it: an absolute path goes below the prefix, and an absolute URL stays as it is, even one on
  the client's own host.
- ``update_last_activity`` as a callable gets the request handler (``request.get_argument``).
- ``exclude_last_activity_patterns`` takes compiled patterns.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import aiohttp
import pytest

from tests.conftest import HERE, Backend, JupyterServer, module_server, poll_until, run
from tests.conftest import lifecycle as api

ECHO = str(HERE / "backends" / "echo.py")
BASE = "/user/alice/"

CONFIG = f"""
import json, re, sys, threading

def record(response, request, orig_response, host, port, path):
    response.headers["X-Hook-Args"] = json.dumps({{
        "host": host, "port": port, "path": path,
        "request": type(request).__name__, "uri": request.uri,
        "response": type(response).__name__,
        "orig": type(orig_response).__name__,
        "orig_inner": type(orig_response.orig_response).__name__,
        "orig_code": orig_response.code, "orig_reason": orig_response.reason,
        "orig_body": len(orig_response.body) == len(response.body),
        "location": response.headers.get("Location"),
    }})

def own_host(response, request):
    # as jupyter-rsession-proxy does: the URL's host becomes the one the browser asked
    if "Location" in response.headers:
        response.headers["Location"] = "http://" + request.host + "/made/by/hook"

def own_path(response):
    if "Location" in response.headers:
        response.headers["Location"] = "/made/by/hook"

def cats(response):
    raise ValueError("no cats here")

def mapper(path):
    raise KeyError(path)

def no_command(port):
    raise RuntimeError("cannot build the command")

def no_environment():
    raise RuntimeError("cannot build the environment")

def no_headers(port):
    raise LookupError("no headers for " + str(port))

def header_list():
    return ["X-A: 1"]

def templated_headers(port, base_url):
    return {{"X-Called-Port": str(port), "X-Templated": "{{port}} at {{base_url}}"}}

def counts(request):
    return request.get_argument("count", "yes") == "yes"

def broken_rule(request):
    raise ValueError("rule bug")

def on_the_server_thread(request):
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("called off the server's thread")
    return True

def echo(**more):
    return {{"command": [sys.executable, {ECHO!r}, "--port", "{{port}}"], "timeout": 20, **more}}

c.ServerProxy.servers = {{
    "hooked": echo(rewrite_response=record, mappath={{"/mapped": "/echo/was-mapped"}}),
    "abshooked": echo(
        rewrite_response=[record], absolute_url=True, mappath={{"/mapped": "/echo/was-mapped"}}
    ),
    "sockhooked": {{
        "command": [sys.executable, {ECHO!r}, "--unix-socket", "{{unix_socket}}"],
        "unix_socket": True, "timeout": 20, "rewrite_response": record,
    }},
    "handlerrule": echo(update_last_activity=counts),
    "brokenrule": echo(update_last_activity=broken_rule),
    "wsrule": echo(update_last_activity=on_the_server_thread),
    "compiled": echo(exclude_last_activity_patterns=[re.compile("/poll$"), "/ping$"]),
    "hosthook": echo(rewrite_response=own_host),
    "pathhook": echo(rewrite_response=own_path),
    "brokenhook": echo(rewrite_response=cats),
    "brokenmap": echo(mappath=mapper),
    "brokencommand": {{"command": no_command}},
    "brokenenv": echo(environment=no_environment),
    "badtemplate": echo(request_headers_override={{"X-A": "{{nope}}"}}),
    "brokenheaders": echo(request_headers_override=no_headers),
    "listheaders": echo(request_headers_override=header_list),
    "callheaders": echo(request_headers_override=templated_headers),
}}
def no_boom(path):
    if "boom" in path:
        raise ZeroDivisionError("boom in " + path)

c.ServerProxy.non_service_rewrite_response = [record, no_boom]
"""


server = module_server(CONFIG, [BASE])


async def get(server: JupyterServer, path: str, **headers: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.get(
            server.url(path), headers={**server.auth, **headers}, allow_redirects=False
        ) as r:
            return r.status, r.headers, await r.read()


def hook_args(server: JupyterServer, path: str) -> dict[str, Any]:
    status, headers, body = run(get(server, path))
    assert status < 500, body
    return dict(json.loads(headers["X-Hook-Args"]))


def last_activity(server: JupyterServer) -> str:
    req = urllib.request.Request(server.url("api/status"), headers=server.auth)
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(json.loads(r.read())["last_activity"])


def test_named_app_hook_gets_localhost_its_port_and_the_backend_path(
    server: JupyterServer,
) -> None:
    """host is localhost (not the address connected to), port the app's (an int), path the
    one the backend saw (after mappath), and the objects are the 4.x types."""
    port = api(server, "hooked", "POST")["port"]  # type: ignore[index]
    args = hook_args(server, "hooked/echo/x?q=1")
    assert args["host"] == "localhost" and args["port"] == port and args["path"] == "/echo/x"
    assert args["request"] == "HTTPServerRequest" and args["uri"] == f"{BASE}hooked/echo/x?q=1"
    assert args["response"] == "RewritableResponse"
    assert args["orig"] == "RewritableResponse" and args["orig_inner"] == "HTTPResponse"
    assert args["orig_code"] == 200 and args["orig_reason"] == "OK" and args["orig_body"]
    assert hook_args(server, "hooked/mapped")["path"] == "/echo/was-mapped"


def test_hooks_see_the_backends_location_and_the_client_gets_it_rewritten(
    server: JupyterServer,
) -> None:
    """As 4.x: a hook sees Location as the backend sent it; the proxy rewrites it after."""
    status, headers, _ = run(get(server, "hooked/echo/r?redirect_to=/echo/there"))
    assert status == 302
    assert json.loads(headers["X-Hook-Args"])["location"] == "/echo/there"
    assert headers["Location"] == f"{BASE}hooked/echo/there"


@pytest.mark.parametrize(
    ("app", "expected"),
    [("hosthook", "http://{host}/made/by/hook"), ("pathhook", f"{BASE}pathhook/made/by/hook")],
)
def test_a_location_a_hook_sets_is_treated_as_4x_treats_it(
    server: JupyterServer, app: str, expected: str
) -> None:
    """A URL a hook makes for the browser is its last word (the proxy's own rewriting, which
    turns a URL on the client's host into a path below the prefix, is for what the backend
    sends); a bare path a hook sets still goes below the prefix, as in 4.x."""
    status, headers, _ = run(get(server, f"{app}/echo/r?redirect_to=/echo/there"))
    assert status == 302
    assert headers["Location"] == expected.format(host=f"127.0.0.1:{server.port}")


def test_absolute_url_app_hook_path_is_after_the_prefix(server: JupyterServer) -> None:
    """With absolute_url the backend gets the full path; the hook's path is still the part
    after ``/<name>`` (4.x's)."""
    status, headers, body = run(get(server, "abshooked/echo/x"))
    assert status == 200 and json.loads(body)["path"] == f"{BASE}abshooked/echo/x"
    assert json.loads(headers["X-Hook-Args"])["path"] == "/echo/x"


def test_absolute_url_app_gets_mappath_applied_behind_its_prefix(server: JupyterServer) -> None:
    """mappath applies to the path after ``/<name>`` also for an absolute_url app, which gets
    the mapped path behind its prefix (as 4.x does)."""
    status, headers, body = run(get(server, "abshooked/mapped"))
    assert status == 200 and json.loads(body)["path"] == f"{BASE}abshooked/echo/was-mapped"


def test_unix_socket_app_hook_gets_port_zero(server: JupyterServer) -> None:
    args = hook_args(server, "sockhooked/echo/x")
    assert args["host"] == "localhost" and args["port"] == 0 and args["path"] == "/echo/x"


@pytest.mark.parametrize(
    ("route", "host", "path"),
    [
        ("proxy/{port}/echo/x", "localhost", "/echo/x"),
        ("proxy/absolute/{port}/echo/x", "localhost", "/echo/x"),
        ("proxy/127.0.0.1:{port}/echo/x", "127.0.0.1", "/echo/x"),
        ("proxy/localhost:{port}/echo/y/", "localhost", "/echo/y/"),
    ],
)
def test_non_service_hook_gets_the_urls_host_and_port(
    server: JupyterServer, backend: Backend, route: str, host: str, path: str
) -> None:
    """On /proxy/ routes the hook gets the URL's host and its port as a string, as 4.x."""
    args = hook_args(server, route.format(port=backend.port))
    assert args == {**args, "host": host, "port": str(backend.port), "path": path}
    assert args["orig"] == "RewritableResponse"


def test_activity_rule_gets_the_handler(server: JupyterServer) -> None:
    """A callable update_last_activity gets the request handler, so ``request.get_argument``
    works, and decides alone whether the request counts."""
    api(server, "handlerrule", "POST")
    before = last_activity(server)
    status, _, body = run(get(server, "handlerrule/echo/x?count=no"))
    assert status == 200, body
    assert last_activity(server) == before
    assert run(get(server, "handlerrule/echo/x?count=yes"))[0] == 200
    assert last_activity(server) > before


def test_activity_rule_that_raises_never_fails_the_request(server: JupyterServer) -> None:
    """A rule that raises: the request is proxied (and counts); the log names the app and the
    rule, with the traceback once."""
    for _ in range(3):
        status, _, body = run(get(server, "brokenrule/echo/x"))
        assert status == 200, body
    log = server.log()
    said = "app 'brokenrule': its update_last_activity callable broken_rule raised ValueError"
    assert log.count(said) == 3
    assert log.count(", in broken_rule") == 1  # a frame of the traceback, logged once


def test_compiled_exclude_patterns(server: JupyterServer) -> None:
    """Compiled re.Pattern objects are accepted beside strings (the app is not left out)."""
    api(server, "compiled", "POST")
    before = last_activity(server)
    assert run(get(server, "compiled/echo/poll"))[0] == 200
    assert run(get(server, "compiled/echo/ping"))[0] == 200
    assert last_activity(server) == before
    assert run(get(server, "compiled/echo/work"))[0] == 200
    assert last_activity(server) > before


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        (
            "brokenhook/echo/x",
            500,
            ["brokenhook", "rewrite_response callable cats raised ValueError: no cats here"],
        ),
        ("brokenmap/echo/x", 500, ["brokenmap", "mappath callable mapper raised KeyError"]),
        (
            "brokencommand/",
            503,
            ["brokencommand", "command callable no_command raised RuntimeError"],
        ),
        (
            "brokenenv/",
            503,
            ["brokenenv", "environment callable no_environment raised RuntimeError"],
        ),
        (
            "badtemplate/echo/x",
            500,
            ["badtemplate", "request_headers_override cannot be filled in", "{port}"],
        ),
        (
            "brokenheaders/echo/x",
            500,
            [
                "brokenheaders",
                "request_headers_override callable no_headers raised LookupError",
            ],
        ),
        (
            "listheaders/echo/x",
            500,
            [
                "listheaders",
                "expected a dict of strings",
                "request_headers_override callable header_list returned ['X-A: 1']",
            ],
        ),
    ],
)
def test_failing_user_code_is_named(
    server: JupyterServer, path: str, status: int, words: list[str]
) -> None:
    """A callable of the spec that raises (or a template that names no value) gets an error
    page naming the app, the key, the callable and where it raised; the log says the same."""
    got, _, body = run(get(server, path, Accept="application/json"))
    assert got == status, body
    message = json.dumps(json.loads(body))
    log = server.log()
    for word in words:
        assert word in json.loads(body)["message"], message
        assert word in log
    if "callable" in words[1]:
        assert "jupyter_server_config.py, line" in message


def test_request_headers_override_callable_templates_filled(server: JupyterServer) -> None:
    """A callable ``request_headers_override`` gets the arguments it names (the app's port,
    the base URL) and the templates in the dict it returns are filled in, as 4.x does."""
    status, _, body = run(get(server, "callheaders/echo/x"))
    assert status == 200, body
    headers = dict(json.loads(body)["headers"])
    port = headers["X-Called-Port"]
    assert port.isdigit()
    assert headers["X-Templated"] == f"{port} at {BASE}"


def test_failing_non_service_hook_is_named(server: JupyterServer, backend: Backend) -> None:
    """A non_service_rewrite_response hook that raises: 500 naming the setting and the hook."""
    status, _, body = run(get(server, f"proxy/{backend.port}/echo/boom", Accept="text/html"))
    assert status == 500
    said = "c.ServerProxy: its non_service_rewrite_response callable no_boom raised"
    assert said.replace("'", "&#x27;") in body.decode() or said in body.decode()
    assert "ZeroDivisionError: boom in /echo/boom" in server.log()


def test_websocket_messages_count_and_the_rule_runs_on_the_servers_thread(
    server: JupyterServer,
) -> None:
    """Messages of an open websocket count as activity (stamped at most once a second), and the
    app's activity rule is user code: it runs on the server's thread, never on the relay's."""
    api(server, "wsrule", "POST")

    async def exchange() -> None:
        async with aiohttp.ClientSession() as s:
            origin = server.url("").rstrip("/").rsplit(BASE.rstrip("/"), 1)[0]
            async with s.ws_connect(
                server.url("wsrule/ws"), headers={**server.auth, "Origin": origin}
            ) as ws:
                before = last_activity(server)

                async def counted() -> bool:  # a message, then a look at the stamp
                    await ws.send_str("hi")
                    assert (await ws.receive(timeout=30)).data == "hi"
                    return last_activity(server) > before

                await poll_until(counted, "websocket messages to count as activity", 10, 0.1)

    run(exchange())
    assert "called off the server's thread" not in server.log()

"""Apps can tell the proxy from a stranger: every run of an app the proxy starts has a fresh
secret in ``JUPYTER_SERVER_PROXY_SECRET``, and every request and websocket handshake forwarded to
it carries that secret and the user's name. Nothing else gets them: not ``/proxy/<port>/``
targets, not apps the proxy did not start, and a client's own copies are dropped on every route.

A real Jupyter server, the echo backend (it echoes the headers it got, and its environment) as
a named app, as an app without a command, and as a ``/proxy/<port>/`` target; the hello demo
app, which refuses a request that reached its socket without the secret.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jupyter_server_proxy.core.secret import SECRET_HEADER, SECRET_VAR, USER_HEADER
from tests.conftest import (
    HERE,
    Backend,
    JupyterServer,
    _connects,
    free_port,
    start_backend,
    stop_process,
    wait_until,
)
from tests.integration.test_plain_tornado import plain_tornado_app
from tests.integration.test_standalone import hub_free_env, launch

ECHO = str(HERE / "backends" / "echo.py")
HELLO_APP = HERE.parent / "examples" / "hello" / "hello_demo_proxy" / "app.py"
FORGED = {SECRET_HEADER: "forged-by-the-client", USER_HEADER: "mallory"}
WAIT = aiohttp.ClientTimeout(total=60)


#: The Jupyter user's name (jupyter_server would make up a new one per token request), and how
#: the app gets it: percent-encoded where it is not printable ASCII.
USER, USER_SENT = "josé@example.org", "jos%C3%A9@example.org"


def config(fixed_port: int) -> str:
    return f"""
import sys
from jupyter_server.auth.identity import IdentityProvider, User

class OneUser(IdentityProvider):
    def generate_anonymous_user(self, handler):
        return User(username={USER!r}, name="José")

c.ServerApp.identity_provider_class = OneUser
c.ServerProxy.servers = {{
    "echo": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        # Neither the spec's environment nor its overrides can set the proxy's own.
        "environment": {{"{SECRET_VAR}": "from-the-spec"}},
        "request_headers_override": {{"{SECRET_HEADER}": "from-the-override", "X-Kept": "1"}},
    }},
    "sockecho": {{
        "command": [sys.executable, {ECHO!r}, "--unix-socket", "{{unix_socket}}"],
        "unix_socket": True,
        "timeout": 20,
    }},
    "fixed": {{"port": {fixed_port}}},
    "hello": {{
        "command": [sys.executable, {str(HELLO_APP)!r}, "--unix-socket", "{{unix_socket}}"],
        "unix_socket": True,
        "timeout": 20,
        "ready_statuses": [200],
    }},
}}
"""


@pytest.fixture(scope="module")
def target() -> Iterator[Backend]:
    """An echo backend nobody but the test started: a ``/proxy/<port>/`` target, and the fixed
    port of the app ``fixed``."""
    b = start_backend(port=free_port())
    yield b
    stop_process(b.proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, target: Backend) -> Iterator[JupyterServer]:
    assert target.port is not None
    s = JupyterServer(tmp_path_factory.mktemp("secret"), config(target.port)).start()
    yield s
    s.stop()


async def _request(
    url: str, headers: dict[str, str], method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession(timeout=WAIT) as s:
        async with s.request(method, url, headers=headers, allow_redirects=False) as r:
            return r.status, dict(r.headers), await r.read()


def get(server: JupyterServer, path: str, headers: dict[str, str] | None = None) -> Any:
    status, _, body = asyncio.run(_request(server.url(path), {**server.auth, **(headers or {})}))
    assert status == 200, body
    return json.loads(body)


def received(doc: Any) -> list[tuple[str, str]]:
    """The (name, value) fields of ours that the echo backend got, names lower-cased."""
    ours = {SECRET_HEADER.lower(), USER_HEADER.lower()}
    return [(k.lower(), v) for k, v in doc["headers"] if k.lower() in ours]


def secret_of(server: JupyterServer, app: str) -> str:
    value = get(server, f"{app}/env/{SECRET_VAR}")["value"]
    assert isinstance(value, str) and len(value) >= 43, value
    return value


def api(server: JupyterServer, method: str, path: str) -> Any:
    url = server.url(f"server-proxy/api/servers/{path}")
    status, _, body = asyncio.run(_request(url, server.auth, method))
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("app", ["echo", "sockecho"])
def test_our_apps_get_the_secret_and_the_user(server: JupyterServer, app: str) -> None:
    """A request to an app we started carries its run's secret (the one in its environment,
    which the spec's ``environment`` cannot replace) and the Jupyter user's name, once each;
    the client's own copies are gone, and so is an override's."""
    secret = secret_of(server, app)
    assert secret != "from-the-spec"
    doc = get(server, f"{app}/echo/x", FORGED)
    assert received(doc) == [
        (SECRET_HEADER.lower(), secret),
        (USER_HEADER.lower(), USER_SENT),
    ]


def test_other_overrides_still_apply(server: JupyterServer) -> None:
    doc = get(server, "echo/echo/x")
    assert ("X-Kept", "1") in [(k, v) for k, v in doc["headers"]]


@pytest.mark.parametrize(
    "route",
    [
        "proxy/{port}/echo/x",
        "proxy/absolute/{port}/echo/x",
        "proxy/localhost:{port}/echo/x",
        "proxy/127.0.0.1:{port}/echo/x",
        "fixed/echo/x",  # an app without a command: not ours to vouch for
    ],
)
def test_other_targets_never_get_them(server: JupyterServer, target: Backend, route: str) -> None:
    """``/proxy/<port>/`` targets and apps we did not start get neither field, and a client's
    forged copies are dropped there too."""
    doc = get(server, route.format(port=target.port), FORGED)
    assert received(doc) == []


def test_our_apps_port_through_proxy_port_gets_no_secret(server: JupyterServer) -> None:
    """Reaching an app we started through ``/proxy/<its port>/`` is reaching its port: no
    secret, so an app that checks it refuses, as it refuses any other direct connection."""
    port = api(server, "POST", "echo")["port"]
    doc = get(server, f"proxy/{port}/echo/x", FORGED)
    assert received(doc) == []


async def _ws_headers(url: str, headers: dict[str, str]) -> list[tuple[str, str]]:
    async with aiohttp.ClientSession(timeout=WAIT) as s:
        async with s.ws_connect(url, headers=headers) as ws:
            await ws.send_str("headers")
            fields = json.loads(await ws.receive_str())
    ours = {SECRET_HEADER.lower(), USER_HEADER.lower()}
    return [(k.lower(), v) for k, v in fields if k.lower() in ours]


def ws_headers(server: JupyterServer, path: str) -> list[tuple[str, str]]:
    url = server.url(path, scheme="ws")
    return asyncio.run(_ws_headers(url, {**server.auth, **FORGED}))


def test_websocket_handshake_to_our_app_carries_them(server: JupyterServer) -> None:
    """The websocket handshake sent to an app we started carries the secret and the user's
    name in place of the client's."""
    secret = secret_of(server, "echo")
    assert ws_headers(server, "echo/ws") == [
        (SECRET_HEADER.lower(), secret),
        (USER_HEADER.lower(), USER_SENT),
    ]


@pytest.mark.parametrize("route", ["proxy/{port}/ws", "fixed/ws"])
def test_websocket_handshake_to_others_carries_neither(
    server: JupyterServer, target: Backend, route: str
) -> None:
    assert ws_headers(server, route.format(port=target.port)) == []


def test_each_run_has_a_fresh_secret(server: JupyterServer) -> None:
    """A restart is a new run with a new secret, and the requests follow it; the secret is in
    no answer of the lifecycle API."""
    before = secret_of(server, "echo")
    info = api(server, "POST", "echo/restart")
    assert before not in json.dumps(info)
    after = secret_of(server, "echo")
    assert after != before
    assert received(get(server, "echo/echo/x"))[0] == (SECRET_HEADER.lower(), after)
    assert before not in json.dumps(api(server, "GET", ""))
    assert before not in server.log() and after not in server.log()


# -- the demo app -------------------------------------------------------------------------------


async def _on_socket(socket: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connector = aiohttp.UnixConnector(path=socket)
    async with aiohttp.ClientSession(connector=connector, timeout=WAIT) as s:
        async with s.get("http://localhost/", headers=headers) as r:
            return r.status, await r.read()


def environ_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [entry.split(b"=", 1) for entry in f.read().split(b"\0") if b"=" in entry]
    return {k.decode(): v.decode() for k, v in pairs}


def test_the_demo_app_refuses_a_direct_request(server: JupyterServer) -> None:
    """The hello demo answers through the proxy (its readiness probe, which asks for a 200,
    carries the secret too), and refuses a request straight to its socket without the
    secret or with a wrong one. What the secret does not stop: a process of the same user,
    which can read the app's environment."""
    status, _, body = asyncio.run(_request(server.url("hello/"), server.auth))
    assert status == 200 and b"Hello from a proxied app" in body, body
    assert b"forged" not in body
    info = api(server, "GET", "hello")
    socket = info["unix_socket"]
    for headers in ({}, FORGED, {SECRET_HEADER: ""}):
        status, body = asyncio.run(_on_socket(socket, headers))
        assert status == 403 and b"jupyter-server-proxy" in body, (headers, body)
    secret = environ_of(info["pid"])[SECRET_VAR]
    assert secret.encode() not in asyncio.run(_request(server.url("hello/"), server.auth))[2]
    status, _ = asyncio.run(_on_socket(socket, {SECRET_HEADER: secret}))
    assert status == 200


# -- a 4.x subclass in a plain tornado app, and the standalone proxy ------------------------------

OLD_STYLE = textwrap.dedent(
    """
    import asyncio, sys
    from tornado import web
    from jupyter_server_proxy.handlers import LocalProxyHandler

    class OldStyleHeaders(LocalProxyHandler):
        # 4.x-era code: its own user, no Jupyter prepare, the client's headers as they came.
        def get_current_user(self):
            return "user"

        async def prepare(self):
            pass

        def proxy_request_headers(self):
            return self.request.headers.copy()

    async def main():
        app = web.Application([(r"/old/(\\d+)(/.*|)", OldStyleHeaders)])
        app.listen(int(sys.argv[1]), "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def test_a_subclass_returning_the_clients_headers_drops_them(
    tmp_path: Path, target: Backend
) -> None:
    """A 4.x subclass whose ``proxy_request_headers()`` returns the client's headers as they
    came still sends no forged identity field."""
    with plain_tornado_app(tmp_path, OLD_STYLE) as (port, _):
        url = f"http://127.0.0.1:{port}/old/{target.port}/echo/x"
        status, _, body = asyncio.run(_request(url, FORGED))
        assert status == 200, body
        assert received(json.loads(body)) == []


def test_the_standalone_proxys_app_gets_them(tmp_path: Path) -> None:
    """``jupyter-standaloneproxy`` starts its app as a named app: the app gets the secret in
    its environment and with each request, and the user's name (``anonymous`` without
    authentication), in place of the client's copies."""
    port = free_port()
    command = [sys.executable, ECHO, "--port", "{port}"]
    args = ["--port", str(port), "--skip-authentication", "--", *command]
    env = hub_free_env(JUPYTERHUB_SERVICE_PREFIX="/user/alice/")
    proc = launch(tmp_path / "standalone.log", args, env)
    try:
        wait_until(lambda: _connects(port) or proc.poll() is not None, "standalone proxy")
        base = f"http://127.0.0.1:{port}/user/alice"
        status, _, body = asyncio.run(_request(f"{base}/env/{SECRET_VAR}", {}))
        assert status == 200, body
        secret = json.loads(body)["value"]
        status, _, body = asyncio.run(_request(f"{base}/echo/x", FORGED))
        assert status == 200, body
        assert received(json.loads(body)) == [
            (SECRET_HEADER.lower(), secret),
            (USER_HEADER.lower(), "anonymous"),
        ]
    finally:
        stop_process(proc)

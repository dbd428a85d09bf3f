"""What a started app, a kernel and a terminal see of their public URL, through a real Jupyter
server: under ``/`` and under a Hub-like ``/user/alice/``, with the origin unknown, set by
``c.ServerProxy.public_url``, and given by JupyterHub's ``JUPYTERHUB_PUBLIC_URL``."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.conftest import HERE, JupyterServer, run

ECHO = str(HERE / "backends" / "echo.py")

CONFIG = f"""
import sys
c.ServerProxy.servers = {{
    "echo": {{
        # env(1) puts the command's own template in the app's environment.
        "command": ["env", "JSP_COMMAND_URL={{public_url}}",
                    sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "environment": {{"JSP_ENVIRONMENT_URL": "{{public_url}}"}},
        "timeout": 20,
    }},
}}
"""

#: A kernel or terminal variable left by another server; ours must replace it.
STALE = {"JUPYTER_SERVER_PROXY_URL_TEMPLATE": "http://stale.example.org/proxy/{port}/"}


@dataclass(frozen=True)
class Case:
    base_url: str
    #: ``c.ServerProxy.public_url``, or "".
    public_url: str = ""
    #: The server's environment (JupyterHub's variables).
    env: tuple[tuple[str, str], ...] = ()
    #: The origin the server should find, "" for none.
    origin: str = ""


CASES = {
    "root": Case("/"),
    "hub-prefix": Case("/user/alice/"),
    "configured": Case(
        "/user/alice/", public_url="https://hub.example.org/", origin="https://hub.example.org"
    ),
    "from-hub": Case(
        "/user/alice/",
        env=(("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/user/alice/"), *STALE.items()),
        origin="https://hub.example.org",
    ),
    "hub-url-of-another-server": Case(
        "/", env=(("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/user/alice/"),)
    ),
}


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def case_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Case, JupyterServer]]:
    case = CASES[request.param]
    config = CONFIG
    if case.public_url:
        config += f"c.ServerProxy.public_url = {case.public_url!r}\n"
    server = JupyterServer(
        tmp_path_factory.mktemp("srv"), config, case.base_url, env=dict(case.env)
    ).start()
    yield case, server
    server.stop()


def expected_template(case: Case) -> str:
    return f"{case.origin}{case.base_url}proxy/{{port}}/"


def test_a_started_app_is_told_its_public_path_and_url(
    case_server: tuple[Case, JupyterServer],
) -> None:
    """``JUPYTER_SERVER_PROXY_PREFIX`` always; ``JUPYTER_SERVER_PROXY_URL`` when the origin
    is known; ``{public_url}`` in command and environment is the URL, else the path."""
    case, server = case_server

    async def go() -> dict[str, str]:
        async with aiohttp.ClientSession(headers=server.auth) as s:
            async with s.get(server.url("echo/environ")) as r:
                assert r.status == 200, await r.text()
                return dict(await r.json())

    seen = run(go())
    path = f"{case.base_url}echo/"
    url = f"{case.origin}{path}" if case.origin else ""
    assert seen["JUPYTER_SERVER_PROXY_PREFIX"] == path
    assert seen.get("JUPYTER_SERVER_PROXY_URL") == (url or None)
    assert seen["JSP_COMMAND_URL"] == seen["JSP_ENVIRONMENT_URL"] == (url or path)
    # The server's own environment, inherited like a kernel's.
    assert seen["JUPYTER_SERVER_PROXY_URL_TEMPLATE"] == expected_template(case)


async def _execute(server: JupyterServer, code: str) -> str:
    """Run ``code`` in a new kernel started through the server's REST API; its stdout."""
    async with aiohttp.ClientSession(headers=server.auth) as s:
        async with s.post(server.url("api/kernels"), json={"name": "python3"}) as r:
            assert r.status == 201, await r.text()
            kernel = (await r.json())["id"]
        try:
            async with s.ws_connect(server.url(f"api/kernels/{kernel}/channels", "ws")) as ws:
                msg_id = uuid.uuid4().hex
                await ws.send_json(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "msg_type": "execute_request",
                            "username": "test",
                            "session": uuid.uuid4().hex,
                            "version": "5.3",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "channel": "shell",
                        "content": {
                            "code": code,
                            "silent": False,
                            "store_history": False,
                            "user_expressions": {},
                            "allow_stdin": False,
                            "stop_on_error": True,
                        },
                    }
                )
                out: list[str] = []
                while True:  # bounded by the caller's wait_for
                    msg = json.loads(await ws.receive_str())
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind = msg["header"]["msg_type"]
                    if kind == "stream":
                        out.append(msg["content"]["text"])
                    elif kind == "error":
                        raise AssertionError("\n".join(msg["content"]["traceback"]))
                    elif kind == "status" and msg["content"]["execution_state"] == "idle":
                        return "".join(out)
        finally:
            async with s.delete(server.url(f"api/kernels/{kernel}")) as r:
                assert r.status == 204


def test_a_kernel_sees_the_template_and_public_url_works_in_it(
    case_server: tuple[Case, JupyterServer],
) -> None:
    """A kernel the server starts inherits ``JUPYTER_SERVER_PROXY_URL_TEMPLATE`` (a stale one
    in the server's environment replaced), and ``jupyter_server_proxy.public_url`` fills it."""
    case, server = case_server
    # The python3 kernel comes with JupyterLab's dependencies in the newest lane; the
    # lowest-dependencies lane installs no kernel.
    pytest.importorskip("ipykernel")
    code = (
        "import os, jupyter_server_proxy\n"
        "print(os.environ['JUPYTER_SERVER_PROXY_URL_TEMPLATE'])\n"
        "print(jupyter_server_proxy.public_url(8050))\n"
    )
    out = run(asyncio.wait_for(_execute(server, code), 90))
    template = expected_template(case)
    assert out.splitlines() == [template, template.replace("{port}", "8050")]


def test_a_terminal_sees_the_template(case_server: tuple[Case, JupyterServer]) -> None:
    """A terminal the server starts inherits ``JUPYTER_SERVER_PROXY_URL_TEMPLATE``."""
    case, server = case_server
    pytest.importorskip("terminado")
    want = "TEMPLATE=" + expected_template(case)

    async def go() -> None:
        async with aiohttp.ClientSession(headers=server.auth) as s:
            async with s.post(server.url("api/terminals")) as r:
                assert r.status == 200, await r.text()
                name = (await r.json())["name"]
            try:
                url = server.url(f"terminals/websocket/{name}", "ws")
                async with s.ws_connect(url) as ws:
                    # Quoted apart, so that the echoed command line never matches ``want``.
                    line = 'echo "TEMPLATE""=$JUPYTER_SERVER_PROXY_URL_TEMPLATE"\r'
                    await ws.send_str(json.dumps(["stdin", line]))
                    seen = ""
                    while want not in seen:  # bounded by wait_for
                        kind, *payload = json.loads(await ws.receive_str())
                        if kind == "stdout":
                            seen += payload[0]
            finally:
                async with s.delete(server.url(f"api/terminals/{name}")) as r:
                    assert r.status == 204

    run(asyncio.wait_for(go(), 60))

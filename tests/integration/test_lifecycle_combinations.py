"""Instances, idle shutdown, restart policies, launch parameters and TLS together, through a real
Jupyter server under a hub-style base URL, with real processes: each instance idles, loops and
stops on its own; an instance stopped under a request in flight answers it; hostile parameter
values and malformed API calls are refused without starting anything; nothing outlives the
server."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest

from tests.conftest import HERE, JupyterServer, alive, poll_until, wait_until
from tests.integration.test_named_apps import call, run
from tests.tlsca import make_tls_files

ARGV = str(HERE / "backends" / "argv.py")
ECHO = str(HERE / "backends" / "echo.py")
EXITS = str(HERE / "backends" / "exits.py")
BASE = "/user/alice/"
#: Short, but well over the time a request through a busy machine takes.
IDLE = 1.5
#: ``argv.py`` that exits with code 3 at once in mode ``crash``, and answers after a while in
#: mode ``slow``.
MODES = (
    "import runpy, sys, time\n"
    "mode = sys.argv.pop()\n"
    "if mode == 'crash':\n"
    "    print('crashing', flush=True)\n"
    "    sys.exit(3)\n"
    "if mode == 'slow':\n"
    "    time.sleep(30)\n"
    f"runpy.run_path({ARGV!r}, run_name='__main__')\n"
)


def config(tls_dir: Path) -> str:
    files = make_tls_files(tls_dir)
    return f"""
import sys
import jupyter_server_proxy.apps.policy as policy
# A first back-off long enough to see an app waiting in it, and to DELETE it there.
policy.BACKOFF_FIRST = 1.0
c.ServerProxy.stop_timeout = 2
c.ServerProxy.servers = {{
    "tb": {{
        "command": [sys.executable, {ARGV!r}, "{{port}}", "{{label}}"],
        "environment": {{"JSP_LABEL": "{{label}}"}},
        "timeout": 20,
        "instances": True,
        "idle_timeout": {IDLE},
        "parameters": {{
            "type": "object",
            # A maxLength past any argument list's: the system's own limit is met first.
            "properties": {{
                "label": {{"type": "string", "default": "plain", "maxLength": 1000000}}
            }},
        }},
    }},
    "modes": {{
        "command": [sys.executable, "-c", {MODES!r}, "{{port}}", "{{mode}}"],
        "timeout": 40,
        "instances": True,
        "parameters": {{
            "type": "object",
            "properties": {{
                "mode": {{"type": "string", "enum": ["ok", "crash", "slow"], "default": "ok"}},
            }},
        }},
    }},
    "always": {{
        "command": [sys.executable, {EXITS!r}, "--port", "{{port}}"],
        "timeout": 20,
        "instances": True,
        "restart": "always",
    }},
    "never": {{
        "command": [sys.executable, {EXITS!r}, "--port", "{{port}}", "--code", "5"],
        "timeout": 20,
        "instances": True,
        "restart": "never",
    }},
    "secure": {{
        "command": [sys.executable, {ECHO!r}, "--tls-cert", {str(files.server)!r},
                    "--port", "{{port}}"],
        "tls": {{"ca_file": {str(files.ca)!r}}},
        "timeout": 20,
        "instances": True,
    }},
}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("srv")
    s = JupyterServer(root, config(tmp_path_factory.mktemp("tls")), BASE).start()
    yield s
    s.stop()


def api(server: JupyterServer, method: str, name: str, body: Any = None) -> tuple[int, Any]:
    kw: dict[str, Any] = {} if body is None else {"json": body}
    status, _, raw = run(call(server, method, f"server-proxy/api/servers/{name}", **kw))
    return status, json.loads(raw)


def entry(server: JupyterServer, name: str) -> dict[str, Any]:
    status, doc = api(server, "GET", name)
    assert status == 200, doc
    return doc  # type: ignore[no-any-return]


def get(server: JupyterServer, path: str) -> tuple[int, bytes]:
    status, _, raw = run(call(server, "GET", path))
    return status, raw


def test_instances_idle_on_their_own_and_restart_with_their_parameters(
    server: JupyterServer,
) -> None:
    """Of two instances, the one without traffic is stopped for idleness while the busy one
    keeps running; the next request starts the idle one again with the parameters it ran
    with, in its command and its environment."""
    status, quiet = api(server, "POST", "tb@quiet", {"parameters": {"label": "q v"}})
    assert status == 200, quiet
    status, busy = api(server, "POST", "tb@busy", {"parameters": {"label": "b"}})
    assert status == 200, busy

    def quiet_went_idle() -> bool:
        assert get(server, "tb@busy/")[0] == 200
        return entry(server, "tb@quiet")["reason"] == "idle"

    wait_until(quiet_went_idle, "the quiet instance's idle stop", interval=0.2)
    assert not alive(quiet["pid"])
    now = entry(server, "tb@busy")
    assert now["state"] == "running" and now["pid"] == busy["pid"]
    status, raw = get(server, "tb@quiet/again")
    doc = json.loads(raw)
    assert status == 200 and doc["argv"] == ["q v"] and doc["env"]["JSP_LABEL"] == "q v"
    again = entry(server, "tb@quiet")
    assert again["parameters"] == {"label": "q v"} and again["pid"] != quiet["pid"]
    for name in ("tb@quiet", "tb@busy"):
        api(server, "DELETE", name)


def test_a_crash_loop_holds_only_its_own_instance(server: JupyterServer) -> None:
    """An instance whose starts keep failing ends in a crash loop; requests to it then start
    nothing, while the app's other instances start and serve; the API starts the looping one
    again with other values."""
    status, failure = api(server, "POST", "modes@bad", {"parameters": {"mode": "crash"}})
    assert status == 503 and failure["exit_code"] == 3
    for _ in range(4):  # each a start with the values it ran with last
        assert get(server, "modes@bad/")[0] == 503
    bad = entry(server, "modes@bad")
    assert bad["state"] == "failed" and bad["reason"] == "crash-loop"
    status, body = get(server, "modes@bad/")
    assert status == 503 and b"crash loop" in body
    assert get(server, "modes@good/")[0] == 200
    assert get(server, "modes/")[0] == 200
    status, fixed = api(server, "POST", "modes@bad", {"parameters": {"mode": "ok"}})
    assert status == 200 and fixed["state"] == "running", fixed
    for name in ("modes@bad", "modes@good", "modes"):
        api(server, "DELETE", name)


def test_never_keeps_one_instance_down_and_serves_the_others(server: JupyterServer) -> None:
    """Under restart: never, an instance that exited stays down for requests (503 naming the
    policy) while its sibling serves; the API starts it."""
    assert api(server, "POST", "never@a")[0] == 200
    assert api(server, "POST", "never@b")[0] == 200
    assert get(server, "never@a/exit")[0] == 200
    wait_until(lambda: entry(server, "never@a")["state"] == "exited", "the exit")
    status, body = get(server, "never@a/")
    assert status == 503 and b"'never'" in body
    assert get(server, "never@b/")[0] == 200
    assert api(server, "POST", "never@a")[0] == 200
    assert get(server, "never@a/")[0] == 200
    for name in ("never@a", "never@b"):
        api(server, "DELETE", name)


def test_delete_during_the_always_back_off_keeps_it_stopped(server: JupyterServer) -> None:
    """A DELETE while an instance under restart: always waits out its back-off stops it for
    good: the restart that was due does not happen (a sibling's restart, due later, shows the
    time has passed)."""
    assert api(server, "POST", "always@d")[0] == 200
    assert api(server, "POST", "always@clock")[0] == 200
    assert get(server, "always@d/exit")[0] == 200
    wait_until(lambda: entry(server, "always@d")["state"] == "exited", "the exit")
    status, stopped = api(server, "DELETE", "always@d")
    assert status == 200 and stopped["state"] == "stopped" and stopped["reason"] == "user"
    first = entry(server, "always@clock")["pid"]
    assert get(server, "always@clock/exit")[0] == 200

    def clock_restarted() -> bool:
        now = entry(server, "always@clock")
        return now["state"] == "running" and now["pid"] != first

    wait_until(clock_restarted, "the sibling's restart")
    after = entry(server, "always@d")
    assert after["state"] == "stopped" and after["pid"] is None and after["reason"] == "user"
    for name in ("always@clock",):
        api(server, "DELETE", name)


def test_instances_reach_their_backends_over_tls(server: JupyterServer) -> None:
    """Two instances of an app with a ``tls`` key each answer over TLS from their own process."""
    one, two = get(server, "secure@one/echo/x"), get(server, "secure@two/echo/y")
    assert one[0] == 200 and two[0] == 200, (one, two)
    assert json.loads(one[1])["path"].startswith("/echo/x")
    assert entry(server, "secure@one")["pid"] != entry(server, "secure@two")["pid"]
    for name in ("secure@one", "secure@two"):
        api(server, "DELETE", name)


def test_stop_and_restart_under_requests_in_flight(server: JupyterServer) -> None:
    """A DELETE of an instance that is still starting answers the requests waiting for it,
    the POST that started it and a proxied request, with a 503 rather than a server error."""

    async def go() -> None:
        async with aiohttp.ClientSession() as session:

            async def request(method: str, path: str, **kw: Any) -> tuple[int, bytes]:
                async with session.request(
                    method, server.url(path), headers=server.auth, **kw
                ) as r:
                    return r.status, await r.read()

            start = asyncio.ensure_future(
                request(
                    "POST",
                    "server-proxy/api/servers/modes@slow",
                    json={"parameters": {"mode": "slow"}},
                )
            )

            async def starting() -> bool:
                status, raw = await request("GET", "server-proxy/api/servers/modes@slow")
                return status == 200 and json.loads(raw)["state"] == "starting"

            await poll_until(starting, "the slow start")
            waiting = asyncio.ensure_future(request("GET", "modes@slow/x"))
            status, raw = await request("DELETE", "server-proxy/api/servers/modes@slow")
            assert status == 200 and json.loads(raw)["state"] == "stopped"
            status, raw = await asyncio.wait_for(start, 30)
            assert status == 503, raw
            status, raw = await asyncio.wait_for(waiting, 30)
            assert status == 503, raw

    run(go())
    assert "Traceback" not in server.log()


def test_hostile_parameter_values(server: JupyterServer) -> None:
    """A value that is no text a process can be given (a lone surrogate) is a 400 naming the
    parameter, and creates nothing; a value too long for an argument list fails the start with
    the system's reason (503), and the instance is left failed, not starting."""
    status, doc = api(server, "POST", "tb@sur", {"parameters": {"label": "\ud800"}})
    assert status == 400 and "'label'" in doc["message"], doc
    assert api(server, "GET", "tb@sur")[0] == 404
    status, doc = api(server, "POST", "tb@long", {"parameters": {"label": "a" * 200_000}})
    assert status == 503 and "Argument list too long" in doc["message"]
    long = entry(server, "tb@long")
    assert long["state"] == "failed" and long["reason"] == "start-failed"


@pytest.mark.parametrize(
    "body",
    [b"{bad", b"[1]", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b'{"parameters": 1}'],
    ids=["broken", "list", "not-utf8", "deep", "not-object"],
)
def test_malformed_bodies_are_400(server: JupyterServer, body: bytes) -> None:
    """A POST whose body is not ``{"parameters": {...}}`` is a 400 in the API's JSON, whatever
    its content type, and starts nothing."""
    status, _, raw = run(
        call(
            server,
            "POST",
            "server-proxy/api/servers/tb@malformed",
            data=body,
            headers={"Content-Type": "text/plain"},
        )
    )
    assert status == 400 and json.loads(raw)["status"] == 400, raw[:200]
    assert api(server, "GET", "tb@malformed")[0] == 404


@pytest.mark.parametrize(
    "name", ["tb@", "@x", "tb@b@c", "tb@..%2Fx", "tb@%2e%2e", "tb%40", "nosuch@x", "tb@" + "a" * 33]
)
def test_names_that_name_nothing_are_404(server: JupyterServer, name: str) -> None:
    """Every form that is no ``<app>@<instance>`` of an app with instances is a 404 naming it,
    for every method, and creates nothing."""
    for method in ("GET", "POST", "DELETE"):
        status, doc = api(server, method, name)
        assert status == 404 and doc["status"] == 404, (method, doc)
    _, listed = api(server, "GET", "")
    assert unquote(name) not in [e["name"] for e in listed["servers"]]


def test_percent_encoded_at_names_the_same_instance(server: JupyterServer) -> None:
    """``%40`` in the API's path is ``@``: the same instance."""
    status, started = api(server, "POST", "tb%40pct")
    assert status == 200 and started["name"] == "tb@pct"
    assert entry(server, "tb@pct")["pid"] == started["pid"]
    api(server, "DELETE", "tb@pct")


def test_shutdown_leaves_no_process(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A server that stops with instances running, one still starting and one waiting out its
    back-off leaves no app process behind."""
    base = "/user/shutdown/"
    s = JupyterServer(
        tmp_path_factory.mktemp("srv"), config(tmp_path_factory.mktemp("tls")), base
    ).start()
    try:
        for name in ("tb@one", "tb@two", "always@waits", "modes"):
            assert api(s, "POST", name)[0] == 200
        slow = {"parameters": {"mode": "slow"}}
        with pytest.raises(asyncio.TimeoutError):  # the client gives up; the start goes on
            run(
                asyncio.wait_for(
                    call(s, "POST", "server-proxy/api/servers/modes@slow", json=slow), 1
                )
            )
        wait_until(lambda: entry(s, "modes@slow")["pid"] is not None, "the slow start's spawn")
        assert get(s, "always@waits/exit")[0] == 200
        wait_until(lambda: entry(s, "always@waits")["state"] == "exited", "the exit")
    finally:
        s.stop()
    marker = f"JUPYTER_SERVER_PROXY_PREFIX={base}".encode()

    def ours() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if any(v.startswith(marker) for v in f.read().split(b"\0")):
                        found.append(int(pid))
            except OSError:
                continue
        return [p for p in found if alive(p)]

    assert ours() == []


def test_restart_under_a_stalled_download(server: JupyterServer) -> None:
    """A restart from the API while a download from the instance is stalled mid-body ends that
    download, answers with the new run, and leaves its sibling and the server's log clean; the
    log of the new run is there at once."""

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                server.url("secure@dl/stall/1000"), headers=server.auth
            ) as download:
                assert download.status == 200
                await download.content.readexactly(1000)
                _, _, raw = await call(server, "GET", "server-proxy/api/servers/secure@dl")
                first = json.loads(raw)["pid"]
                _, _, raw = await call(server, "POST", "server-proxy/api/servers/secure@dl/restart")
                restarted = json.loads(raw)
                assert restarted["state"] == "running" and restarted["pid"] != first
                with pytest.raises(aiohttp.ClientPayloadError):
                    await asyncio.wait_for(download.content.read(), 30)

    asyncio.run(go())
    assert get(server, "secure@dl/echo/again")[0] == 200
    assert api(server, "GET", "secure@dl/logs")[0] == 200
    assert "Traceback" not in server.log()
    api(server, "DELETE", "secure@dl")

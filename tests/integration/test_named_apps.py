"""Named apps through a real Jupyter server: start on first request, proxy, lifecycle API, and
failures that explain themselves. Real child processes; nothing may be left running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import BASE_URLS, HERE, JupyterServer, alive, module_server, run, wait_until

ECHO = str(HERE / "backends" / "echo.py")
ICON = HERE / "backends" / "icon.svg"

CONFIG = f"""
import sys
c.ServerProxy.servers = {{
    "echo": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        "launcher_entry": {{
            "title": "Echo", "icon_path": {str(ICON)!r}, "category": "Apps", "rank": 2
        }},
        "request_headers_override": {{"X-App-Port": "{{port}}"}},
        "mappath": {{"/mapped": "/echo/was-mapped"}},
    }},
    "sockecho": {{
        "command": [sys.executable, {ECHO!r}, "--unix-socket", "{{unix_socket}}"],
        "unix_socket": True,
        "timeout": 20,
        "new_browser_tab": False,
    }},
    "absecho": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "absolute_url": True,
        "timeout": 20,
    }},
    "dot.name": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
    }},
    "crashes": {{
        "command": [sys.executable, "-c", "import sys; print('boom <b>bold</b>'); sys.exit(3)"],
    }},
    "never-listens": {{
        "command": [
            sys.executable, "-c", "import time; print('sleeping', flush=True); time.sleep(600)"
        ],
        "timeout": 1,
    }},
    "wrong-port": {{
        "command": [sys.executable, {ECHO!r}, "--port", "1"],
        "timeout": 1,
    }},
    "no-such-command": {{
        "command": ["/nonexistent/definitely-not-here", "{{port}}"],
    }},
    "bad-spec": {{"command": "not a list", "timeout": "soon"}},
}}
"""


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read().replace("\0", " ")
    except OSError:
        return ""


def assert_no_children(s: JupyterServer) -> None:
    assert s.proc is not None
    assert s.proc.poll() is not None, "server still running"


server = module_server(CONFIG, BASE_URLS, after=assert_no_children)


async def call(server: JupyterServer, method: str, path: str, **kw: Any) -> tuple[int, Any, bytes]:
    headers = dict(server.auth)
    headers.update(kw.pop("headers", {}))
    async with aiohttp.ClientSession() as s:
        async with s.request(
            method, server.url(path), headers=headers, allow_redirects=False, **kw
        ) as r:
            return r.status, r.headers, await r.read()


def api(server: JupyterServer, method: str, path: str) -> tuple[int, Any]:
    status, _, body = run(call(server, method, f"server-proxy/api/servers/{path}"))
    return status, json.loads(body) if body else None


def test_first_request_starts_the_app_and_proxies(server: JupyterServer) -> None:
    """/echo/... starts the app, strips the prefix, sends the context path and the override."""
    status, _, body = run(call(server, "GET", "echo/echo/hi?x=1"))
    assert status == 200, body
    doc = json.loads(body)
    assert doc["path"] == "/echo/hi" and doc["query"] == "x=1"
    headers = {k.lower(): v for k, v in doc["headers"]}
    assert headers["x-forwarded-context"] == f"{server.base_url}echo"
    status, info = api(server, "GET", "echo")
    assert status == 200 and info["state"] == "running"
    assert headers["x-app-port"] == str(info["port"])


def test_mappath(server: JupyterServer) -> None:
    """mappath maps a request path to another path on the app."""
    status, _, body = run(call(server, "GET", "echo/mapped"))
    assert status == 200 and json.loads(body)["path"] == "/echo/was-mapped"


def test_unix_socket_app(server: JupyterServer) -> None:
    """unix_socket: True runs the app on a socket in a private directory, removed on stop."""
    status, _, body = run(call(server, "GET", "sockecho/over/unix"))
    assert status == 200, body
    assert json.loads(body)["path"] == "/over/unix"
    status, info = api(server, "GET", "sockecho")
    sock = info["unix_socket"]
    assert sock and os.path.exists(sock)
    assert (os.stat(os.path.dirname(sock)).st_mode & 0o777) == 0o700
    status, info = api(server, "DELETE", "sockecho")
    assert status == 200 and info["state"] in ("stopped", "exited")
    assert not os.path.exists(os.path.dirname(sock))


def test_absolute_url_app(server: JupyterServer) -> None:
    """absolute_url apps get the full path."""
    status, _, body = run(call(server, "GET", "absecho/x"))
    assert status == 200 and json.loads(body)["path"] == f"{server.base_url}absecho/x"


def test_name_is_matched_literally(server: JupyterServer) -> None:
    """A '.' in an app name is not a regex: dotXname does not reach dot.name."""
    status, _, _ = run(call(server, "GET", "dot.name/"))
    assert status == 200
    status, _, body = run(call(server, "GET", "dotXname/"))
    assert status != 200 and b'"path"' not in body


def test_add_slash_keeps_query(server: JupyterServer) -> None:
    """/<name> redirects to /<name>/ and keeps the query string."""
    status, headers, _ = run(call(server, "GET", "echo?a=1&b=2"))
    assert status in (301, 302)
    assert headers["Location"].endswith(f"{server.base_url}echo/?a=1&b=2")


def test_websocket_to_named_app(server: JupyterServer) -> None:
    """Websockets reach named apps, over TCP and unix sockets; a long message (which the relay
    splices between the sockets) passes whole and the next one after it."""
    big = os.urandom(3 << 20)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            for name in ("echo", "sockecho"):
                async with s.ws_connect(
                    server.url(f"{name}/ws", scheme="ws"), headers=server.auth, max_msg_size=0
                ) as ws:
                    await ws.send_str("ping " + name)
                    assert await ws.receive_str() == "ping " + name
                    await ws.send_bytes(big)
                    await ws.send_str("after")
                    assert await ws.receive_bytes() == big
                    assert await ws.receive_str() == "after"

    run(go())


def test_app_that_crashes_explains_itself(server: JupyterServer) -> None:
    """503 page names the app, the exit code, the command and the escaped log tail."""
    status, headers, body = run(call(server, "GET", "crashes/", headers={"Accept": "text/html"}))
    assert status == 503
    text = body.decode()
    assert "crashes" in text and "3" in text
    assert "boom &lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text
    status, info = api(server, "GET", "crashes")
    assert info["state"] == "failed" and info["exit_code"] == 3
    # The API says the same, as JSON, for the Lab tab and the Running panel.
    status, failure = api(server, "POST", "crashes")
    assert status == 503 and failure["exit_code"] == 3
    assert "boom <b>bold</b>" in failure["log_tail"] and failure["app"] == "crashes"


def test_app_that_never_listens_times_out_and_is_stopped(server: JupyterServer) -> None:
    """An app not ready in its timeout: 503 naming the timeout, and its process is gone."""
    status, _, body = run(call(server, "GET", "never-listens/"))
    assert status == 503
    assert b"not ready" in body or b"timeout" in body.lower()
    assert b"sleeping" in body
    status, info = api(server, "GET", "never-listens")
    assert info["state"] == "failed"
    assert info["pid"] is None or not alive(info["pid"])


def test_missing_command_is_a_clear_503(server: JupyterServer) -> None:
    """A command that does not exist is reported with its path."""
    status, _, body = run(call(server, "GET", "no-such-command/"))
    assert status == 503
    assert b"/nonexistent/definitely-not-here" in body


def test_bad_spec_is_left_out_and_logged(server: JupyterServer) -> None:
    """A spec with wrong types is left out (404), named in the log; the rest works."""
    status, _, body = run(call(server, "GET", "bad-spec/"))
    assert status != 200 and b'"path"' not in body
    assert "bad-spec" in server.log()


def test_servers_info_and_icon(server: JupyterServer) -> None:
    """servers-info lists the apps as the peer does; the icon is served as SVG, authenticated."""
    status, _, body = run(call(server, "GET", "server-proxy/servers-info"))
    assert status == 200
    procs = {p["name"]: p for p in json.loads(body)["server_processes"]}
    assert procs["echo"]["launcher_entry"] == {
        "enabled": True,
        "title": "Echo",
        "path_info": "echo/",
        "category": "Apps",
        "rank": 2.0,
        "icon_url": f"{server.base_url}server-proxy/icon/echo",
    }
    assert procs["sockecho"]["new_browser_tab"] is False
    assert "bad-spec" not in procs
    problems = json.loads(body)["problems"]
    assert [p["name"] for p in problems] == ["bad-spec"] and "command" in problems[0]["message"]
    status, headers, body = run(call(server, "GET", "server-proxy/icon/echo"))
    assert status == 200 and headers["Content-Type"] == "image/svg+xml" and b"<svg" in body

    async def anonymous() -> int:
        async with aiohttp.ClientSession() as s:
            async with s.get(server.url("server-proxy/icon/echo"), allow_redirects=False) as r:
                return r.status

    assert run(anonymous()) in (302, 403)


def test_lifecycle_api(server: JupyterServer) -> None:
    """List, start, logs, restart (new pid), stop (process gone), unknown name 404."""
    status, doc = api(server, "GET", "")
    assert status == 200 and {s["name"] for s in doc["servers"]} >= {"echo", "sockecho"}
    status, info = api(server, "POST", "absecho")
    assert status == 200 and info["state"] == "running" and alive(info["pid"])
    assert info["url"] == f"{server.base_url}absecho/"
    first_pid = info["pid"]
    status, info = api(server, "POST", "absecho")  # already running: same process
    assert info["pid"] == first_pid
    status, info = api(server, "POST", "absecho/restart")
    assert status == 200 and info["pid"] != first_pid and alive(info["pid"])
    assert not alive(first_pid)
    status, logs = api(server, "GET", "absecho/logs")
    assert status == 200 and isinstance(logs["lines"], list)
    second = info["pid"]
    status, info = api(server, "DELETE", "absecho")
    assert status == 200 and not alive(second)
    status, _ = api(server, "GET", "nope")
    assert status == 404


def test_app_that_exits_is_started_again(server: JupyterServer) -> None:
    """An app that exits after it was ready is started again on the next request."""
    status, _, _ = run(call(server, "GET", "dot.name/"))
    assert status == 200
    _, info = api(server, "GET", "dot.name")
    os.kill(info["pid"], signal.SIGKILL)

    wait_until(lambda: api(server, "GET", "dot.name")[1]["state"] == "exited", "exit noticed")
    status, _, _ = run(call(server, "GET", "dot.name/"))
    assert status == 200
    _, info2 = api(server, "GET", "dot.name")
    assert info2["pid"] != info["pid"]


def test_concurrent_first_requests_start_one_process(server: JupyterServer) -> None:
    """Ten concurrent first requests share one start."""
    api(server, "DELETE", "echo")

    async def go() -> list[int]:
        results = await asyncio.gather(*(call(server, "GET", "echo/echo/c") for _ in range(10)))
        return [r[0] for r in results]

    assert run(go()) == [200] * 10
    _, info = api(server, "GET", "echo")
    assert server.proc is not None
    port = str(info["port"])
    echo_children = [
        p for p in children_of(server.proc.pid) if ECHO in cmdline(p) and port in cmdline(p)
    ]
    assert echo_children == [info["pid"]]


def test_server_shutdown_stops_every_app(tmp_path: Path) -> None:
    """SIGTERM to the server stops every app it started and removes their socket dirs."""
    s = JupyterServer(tmp_path, CONFIG).start()
    try:
        for name in ("echo", "sockecho"):
            status, _, _ = run(call(s, "GET", f"{name}/"))
            assert status == 200
        pids = [api(s, "GET", n)[1]["pid"] for n in ("echo", "sockecho")]
        sock = api(s, "GET", "sockecho")[1]["unix_socket"]
    finally:
        s.stop()
    assert all(not alive(p) for p in pids)
    assert not os.path.exists(os.path.dirname(sock))


_ = sys


def test_app_listening_on_the_wrong_port_times_out(server: JupyterServer) -> None:
    """An app that never listens where it was told: 503 naming the timeout; nothing left."""
    status, _, body = run(call(server, "GET", "wrong-port/"))
    assert status == 503 and b"not ready after 1s" in body
    _, info = api(server, "GET", "wrong-port")
    assert info["state"] == "failed" and info["pid"] is None


def test_api_shutdown_stops_every_app(tmp_path: Path) -> None:
    """POST /api/shutdown stops every app the server started, with its socket directory."""
    s = JupyterServer(tmp_path, CONFIG).start()
    try:
        pids = []
        for name in ("echo", "sockecho"):
            status, info = api(s, "POST", name)
            assert status == 200
            pids.append(info["pid"])
        sock = api(s, "GET", "sockecho")[1]["unix_socket"]
        status, _, _ = run(call(s, "POST", "api/shutdown"))
        assert status == 200
        assert s.proc is not None
        s.proc.wait(30)
    finally:
        s.stop()
    assert all(not alive(p) for p in pids)
    assert not os.path.exists(os.path.dirname(sock))

"""What happens to a named app nobody asks about, through a real Jupyter server and real
processes: the idle stop (and the next request's start), each restart policy, the crash loop
that ends restarts, and what the API keeps about an app that is down (why, since when, its exit
code, command and log)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from tests.conftest import HERE, JupyterServer, alive, module_server, poll_until, run, wait_until

ECHO = str(HERE / "backends" / "echo.py")
EXITS = str(HERE / "backends" / "exits.py")
#: Long enough over the websocket's stamp interval (1 s) that a busy loop does not make a
#: socket passing messages look idle.
IDLE = 2.5

CONFIG = f"""
import sys
c.ServerProxy.stop_timeout = 2
c.ServerProxy.servers = {{
    "idler": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        "idle_timeout": {IDLE},
    }},
    "polled": {{
        "command": [sys.executable, {ECHO!r}, "--port", "{{port}}"],
        "timeout": 20,
        "idle_timeout": {IDLE},
        "exclude_last_activity_patterns": ["/poll$"],
    }},
    "kept": {{
        "command": [sys.executable, {EXITS!r}, "--port", "{{port}}"],
        "timeout": 20,
    }},
    "always": {{
        "command": [sys.executable, {EXITS!r}, "--port", "{{port}}"],
        "timeout": 20,
        "restart": "always",
    }},
    "never": {{
        "command": [sys.executable, {EXITS!r}, "--port", "{{port}}", "--code", "5"],
        "timeout": 20,
        "restart": "never",
    }},
    "looping": {{
        "command": [sys.executable, {EXITS!r}, "--port", "{{port}}", "--after", "0.2"],
        "timeout": 20,
        "restart": "always",
    }},
    "crashes": {{
        "command": [sys.executable, "-c", "import sys; print('boom', flush=True); sys.exit(3)"],
    }},
    "bad-idle": {{"command": ["x"], "idle_timeout": -1}},
    "bad-restart": {{"command": ["x"], "restart": "sometimes"}},
}}
"""


server = module_server(CONFIG)


async def call(
    server: JupyterServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s:
        headers = {**server.auth, **(headers or {})}
        async with s.request(method, server.url(path), headers=headers) as r:
            return r.status, await r.read()


def api(server: JupyterServer, path: str, method: str = "GET") -> tuple[int, Any]:
    status, body = run(call(server, method, f"server-proxy/api/servers/{path}"))
    return status, json.loads(body)


def info(server: JupyterServer, name: str) -> dict[str, Any]:
    return api(server, name)[1]  # type: ignore[no-any-return]


async def ainfo(server: JupyterServer, name: str) -> dict[str, Any]:
    """``info`` from inside a running event loop."""
    _, body = await call(server, "GET", f"server-proxy/api/servers/{name}")
    return json.loads(body)  # type: ignore[no-any-return]


def logs(server: JupyterServer, name: str) -> list[str]:
    return api(server, f"{name}/logs")[1]["lines"]  # type: ignore[no-any-return]


def test_entries_name_their_policy_and_idle_timeout(server: JupyterServer) -> None:
    """Every entry carries restart and idle_timeout; an app never started has no reason and
    no stopped_at."""
    _, doc = api(server, "")
    entries = {e["name"]: e for e in doc["servers"]}
    assert entries["idler"]["idle_timeout"] == IDLE and entries["idler"]["restart"] == "on-request"
    assert entries["always"]["restart"] == "always" and entries["always"]["idle_timeout"] == 0
    assert entries["never"]["reason"] is None and entries["never"]["stopped_at"] is None


def test_bad_lifecycle_keys_are_reported_naming_app_and_key(server: JupyterServer) -> None:
    """A bad idle_timeout or restart leaves the app out, with a log line naming app and key."""
    _, doc = api(server, "")
    names = {e["name"] for e in doc["servers"]}
    assert "bad-idle" not in names and "bad-restart" not in names
    log = server.log()
    assert "app 'bad-idle': idle_timeout = -1 is not valid" in log
    assert "app 'bad-restart': restart = 'sometimes' is not valid" in log


def test_idle_app_is_stopped_and_the_next_request_starts_it(server: JupyterServer) -> None:
    """No traffic for idle_timeout: the app is stopped (its process gone) with reason idle,
    keeping its exit code and command; the next request starts it again."""
    status, _ = run(call(server, "GET", "idler/echo/x"))
    assert status == 200
    first = info(server, "idler")
    assert first["state"] == "running" and first["reason"] is None
    wait_until(lambda: info(server, "idler")["state"] == "stopped", "the idle stop")
    stopped = info(server, "idler")
    assert stopped["reason"] == "idle" and stopped["stopped_at"] is not None
    assert stopped["exit_code"] is not None and stopped["command"] == first["command"]
    assert not alive(first["pid"])
    assert "no traffic for" in server.log() and f"idle_timeout {IDLE:g} s" in server.log()
    status, _ = run(call(server, "GET", "idler/echo/y"))
    assert status == 200
    again = info(server, "idler")
    assert again["state"] == "running" and again["pid"] != first["pid"]
    assert again["reason"] is None and again["stopped_at"] is None


def test_silent_websocket_does_not_keep_an_app_alive(server: JupyterServer) -> None:
    """An open websocket on which nothing passes is no traffic: the app is stopped as idle."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url("idler/ws", scheme="ws"), headers=server.auth):
                pid = (await ainfo(server, "idler"))["pid"]

                async def idle() -> bool:
                    return bool((await ainfo(server, "idler"))["reason"] == "idle")

                await poll_until(idle, "the idle stop with a silent websocket open")
                assert not alive(pid)

    run(go())


def test_websocket_passing_messages_keeps_an_app_alive(server: JupyterServer) -> None:
    """Messages passing on a websocket are traffic: while they pass, for three times the idle
    timeout, the app keeps running (the same process)."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url("idler/ws", scheme="ws"), headers=server.auth) as ws:
                pid = (await ainfo(server, "idler"))["pid"]
                until = time.monotonic() + 3 * IDLE
                while time.monotonic() < until:
                    await ws.send_str("hello")
                    assert await ws.receive_str(timeout=30) == "hello"
                    await asyncio.sleep(0.2)
                now = await ainfo(server, "idler")
                assert now["state"] == "running" and now["pid"] == pid

    run(go())
    api(server, "idler", "DELETE")


def test_excluded_requests_are_no_traffic(server: JupyterServer) -> None:
    """Requests the app's activity rules leave out (its own polling) do not keep it running
    (a poll after the stop starts it again, as any request does)."""
    assert run(call(server, "GET", "polled/echo/start"))[0] == 200
    pid = info(server, "polled")["pid"]

    def polled_and_stopped() -> bool:
        run(call(server, "GET", "polled/poll"))
        return "polled: no traffic for" in server.log()

    wait_until(polled_and_stopped, "the idle stop while polling", interval=0.2)
    # The line is logged as the stop begins; the app's exit follows within its grace period.
    wait_until(lambda: not alive(pid), "the idle-stopped app's exit")
    api(server, "polled", "DELETE")


def test_on_request_app_that_exited_keeps_its_record_until_the_next_request(
    server: JupyterServer,
) -> None:
    """An app that exits by itself (restart on-request) is exited, with reason, exit code,
    command and log, and is not started until a request comes; then it is."""
    assert run(call(server, "GET", "kept/exit"))[0] == 200
    wait_until(lambda: info(server, "kept")["state"] == "exited", "the exit")
    entry = info(server, "kept")
    assert entry["reason"] == "exited" and entry["exit_code"] == 7
    assert entry["stopped_at"] is not None and EXITS in entry["command"]
    assert "exits.py ending with code 7" in logs(server, "kept")
    status, body = run(call(server, "GET", "kept/"))
    assert status == 200 and body.startswith(b"up ")
    assert info(server, "kept")["state"] == "running"


def test_user_stop_keeps_exit_code_command_and_log(server: JupyterServer) -> None:
    """DELETE stops the app with reason user; its exit code, command and log stay."""
    assert run(call(server, "GET", "kept/"))[0] == 200
    status, entry = api(server, "kept", "DELETE")
    assert status == 200 and entry["state"] == "stopped" and entry["reason"] == "user"
    assert entry["exit_code"] is not None and entry["command"]
    assert any("exits.py up" in line for line in logs(server, "kept"))


def test_always_restarts_an_app_that_exited(server: JupyterServer) -> None:
    """restart: always starts an app that exited again by itself, with no request."""
    assert run(call(server, "GET", "always/"))[0] == 200
    first = info(server, "always")["pid"]
    assert run(call(server, "GET", "always/exit"))[0] == 200

    def restarted() -> bool:
        entry = info(server, "always")
        return entry["state"] == "running" and entry["pid"] not in (None, first)

    wait_until(restarted, "the automatic restart")
    assert "restart policy 'always': restarting in 0.5 s" in server.log()
    api(server, "always", "DELETE")


def test_never_leaves_an_exited_app_down_until_the_api_starts_it(server: JupyterServer) -> None:
    """restart: never: a request to an app that exited gets a 503 naming the exit and the
    policy, and starts nothing (a browser gets that page, not the starting page, which would
    start it); a start from the API starts it."""
    assert run(call(server, "GET", "never/exit"))[0] == 200
    wait_until(lambda: info(server, "never")["state"] == "exited", "the exit")
    status, body = run(call(server, "GET", "never/"))
    assert status == 503
    assert b"exited" in body and b"'never'" in body and b"exit code 5" in body
    navigate = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}
    status, body = run(call(server, "GET", "never/", navigate))
    assert status == 503 and b"restart policy is" in body and b"Starting" not in body
    entry = info(server, "never")
    assert entry["state"] == "exited" and entry["pid"] is None and entry["exit_code"] == 5
    status, entry = api(server, "never", "POST")
    assert status == 200 and entry["state"] == "running" and entry["reason"] is None
    assert run(call(server, "GET", "never/"))[0] == 200
    api(server, "never", "DELETE")


def test_always_ends_in_a_crash_loop(server: JupyterServer) -> None:
    """An app that keeps exiting under restart: always ends in failed / crash-loop, with its
    exit code and log; a request gets the failure, and only the API starts it again."""
    run(call(server, "GET", "looping/"))
    wait_until(
        lambda: info(server, "looping")["reason"] == "crash-loop", "the crash loop", timeout=90
    )
    entry = info(server, "looping")
    assert entry["state"] == "failed" and entry["exit_code"] == 7 and entry["pid"] is None
    assert "exits.py ending with code 7" in logs(server, "looping")
    status, body = run(call(server, "GET", "looping/"))
    assert status == 503 and b"crash loop" in body
    assert info(server, "looping")["reason"] == "crash-loop"  # the request started nothing
    status, entry = api(server, "looping", "POST")
    assert status == 200 and entry["state"] == "running"
    api(server, "looping", "DELETE")


def test_on_request_crash_loop_stops_starts_by_request(server: JupyterServer) -> None:
    """Under on-request, an app whose starts keep failing ends in a crash loop after 5 ends:
    then a request answers with the failure (exit code, log) without starting it."""
    for _ in range(5):
        status, _ = run(call(server, "GET", "crashes/"))
        assert status == 503
    entry = info(server, "crashes")
    assert entry["state"] == "failed" and entry["reason"] == "crash-loop"
    assert entry["exit_code"] == 3 and logs(server, "crashes") == ["boom"]
    status, body = run(call(server, "GET", "crashes/"))
    assert status == 503 and b"crash loop" in body and b"boom" in body
    status, failure = api(server, "crashes", "POST")  # the API starts it: it fails again
    assert status == 503 and failure["exit_code"] == 3
    assert info(server, "crashes")["reason"] == "start-failed"

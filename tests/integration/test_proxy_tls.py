"""Backends over TLS through a real Jupyter server: named apps with a ``tls`` key (a fixed
port, one we start and probe over TLS, one on a unix socket), ``/proxy/`` targets TLS-enabled
by ``c.ServerProxy.upstream_tls``, HTTP and websockets, a client certificate, each reason a
certificate fails to verify, and a 1 GiB download with the server's memory bounded.

The backends are the echo backend serving certificates of a CA made for this module.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import (
    HERE,
    Backend,
    JupyterServer,
    download_with_peak_rss,
    free_port,
    run,
    start_backend,
    stop_process,
)
from tests.tlsca import TlsFiles, make_tls_files

ECHO = str(HERE / "backends" / "echo.py")
TCPECHO = str(HERE / "backends" / "tcpecho.py")


@dataclass
class TlsBackends:
    files: TlsFiles
    good: Backend
    expired: Backend
    unknown_issuer: Backend
    wrong_name: Backend
    wants_client_cert: Backend


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBackends]:
    files = make_tls_files(tmp_path_factory.mktemp("tls"))
    started: list[Backend] = []

    def backend(cert: os.PathLike[str], *extra: str) -> Backend:
        b = start_backend(port=free_port(), extra=["--tls-cert", str(cert), *extra])
        started.append(b)
        return b

    try:
        yield TlsBackends(
            files,
            good=backend(files.server),
            expired=backend(files.expired),
            unknown_issuer=backend(files.unknown_issuer),
            wrong_name=backend(files.wrong_name),
            wants_client_cert=backend(files.server, "--tls-client-ca", str(files.ca)),
        )
    finally:
        for b in started:
            stop_process(b.proc)


def config(tls: TlsBackends) -> str:
    f = tls.files
    ca = {"ca_file": str(f.ca)}
    client = {**ca, "cert_file": str(f.client_cert), "key_file": str(f.client_key)}
    upstream = {
        f"localhost:{tls.good.port}": ca,
        f"127.0.0.1:{tls.good.port}": ca,
        f"127.0.0.1:{tls.expired.port}": ca,
        f"127.0.0.1:{tls.unknown_issuer.port}": ca,
        f"127.0.0.1:{tls.wrong_name.port}": ca,
    }
    started = [sys.executable, ECHO, "--tls-cert", str(f.server)]
    servers = {
        "fixed": {"port": tls.good.port, "tls": ca},
        "started": {"command": [*started, "--port", "{port}"], "tls": ca, "timeout": 20},
        "socket": {
            "command": [*started, "--unix-socket", "{unix_socket}"],
            "unix_socket": True,
            "tls": ca,
            "timeout": 20,
        },
        "with-cert": {"port": tls.wants_client_cert.port, "tls": client},
        "without-cert": {"port": tls.wants_client_cert.port, "tls": ca},
        "bad-tls": {"port": tls.good.port, "tls": {"ca_file": "/nonexistent/ca.pem"}},
        # Started, with a certificate its settings do not trust (no ca_file: the system's CAs),
        # and a timeout far past the test's: its start must fail at the first answer.
        "untrusted": {"command": [*started, "--port", "{port}"], "tls": True, "timeout": 3600},
        "raw": {
            "command": [sys.executable, TCPECHO, "--port", "{port}", "--tls-cert", str(f.server)],
            "raw_socket_proxy": True,
            "tls": ca,
            "timeout": 20,
        },
    }
    return f"""
c.ServerProxy.upstream_tls = {upstream!r}
c.ServerProxy.servers = {servers!r}
"""


@pytest.fixture(scope="module")
def server(tls: TlsBackends, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    s = JupyterServer(tmp_path_factory.mktemp("srv"), config(tls)).start()
    yield s
    s.stop()


async def fetch(
    server: JupyterServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            server.url(path), headers={**server.auth, **(headers or {})}, allow_redirects=False
        ) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def echo(server: JupyterServer, path: str) -> dict[str, Any]:
    status, _, body = run(fetch(server, path))
    assert status == 200, body
    doc: dict[str, Any] = json.loads(body)
    return doc


@pytest.mark.parametrize("app", ["fixed", "started", "socket"])
def test_named_apps_over_tls(server: JupyterServer, app: str) -> None:
    """An app with a ``tls`` key is reached over TLS: at a fixed port, started by us (its
    readiness probe over TLS too), and on a unix socket."""
    doc = echo(server, f"{app}/echo/a?x=1")
    assert doc["path"] == "/echo/a" and doc["query"] == "x=1"


def test_upstream_tls_for_proxy_targets(
    server: JupyterServer, tls: TlsBackends, backend: Backend
) -> None:
    """``/proxy/<port>/`` and ``/proxy/<host>:<port>/`` reach a TLS backend that
    ``upstream_tls`` names; a backend it does not name stays plain HTTP."""
    assert echo(server, f"proxy/{tls.good.port}/echo/p")["path"] == "/echo/p"
    assert echo(server, f"proxy/127.0.0.1:{tls.good.port}/echo/h")["path"] == "/echo/h"
    assert echo(server, f"proxy/{backend.port}/echo/plain")["path"] == "/echo/plain"


def test_a_bad_tls_key_leaves_only_that_app_out(server: JupyterServer) -> None:
    names = [a["name"] for a in echo(server, "server-proxy/servers-info")["server_processes"]]
    assert "bad-tls" not in names and "fixed" in names
    assert "'bad-tls'" in server.log() and "tls.ca_file" in server.log()


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("expired", "the certificate has expired"),
        ("unknown_issuer", "its issuer is unknown"),
        ("wrong_name", "name mismatch"),
    ],
)
def test_a_certificate_that_does_not_verify_is_a_502_naming_why(
    server: JupyterServer, tls: TlsBackends, which: str, reason: str
) -> None:
    port = getattr(tls, which).port
    status, kind, body = run(fetch(server, f"proxy/127.0.0.1:{port}/", {"Accept": "text/html"}))
    assert status == 502 and kind.startswith("text/html")
    assert "did not verify" in body.decode() and reason in body.decode()
    status, kind, body = run(
        fetch(server, f"proxy/127.0.0.1:{port}/", {"Accept": "application/json"})
    )
    assert status == 502 and kind.startswith("application/json")
    message = json.loads(body)["message"]
    assert f"127.0.0.1:{port} did not verify" in message and reason in message


def test_a_started_app_whose_certificate_does_not_verify_fails_at_once(
    server: JupyterServer,
) -> None:
    """The readiness probe meets the certificate the app's settings do not trust: the start
    fails then, naming why, not after the app's (hour-long) timeout."""
    status, _, body = run(fetch(server, "untrusted/", {"Accept": "application/json"}))
    doc = json.loads(body)
    assert status == 503, doc
    assert "did not verify" in doc["message"] and "issuer is unknown" in doc["message"], doc
    state = json.loads(run(fetch(server, "server-proxy/api/servers/untrusted"))[2])
    assert state["state"] == "failed" and state["pid"] is None


def test_client_certificate(server: JupyterServer) -> None:
    """A backend that requires a client certificate answers the app that sends one; the app
    without one gets a 502."""
    assert echo(server, "with-cert/echo/c")["path"] == "/echo/c"
    status, _, _ = run(fetch(server, "without-cert/echo/c"))
    assert status == 502


def test_a_raw_socket_app_over_tls(server: JupyterServer) -> None:
    """A raw socket app's stream can be TLS too: each message's bytes reach it decrypted."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(server.url("raw/", scheme="ws"), headers=server.auth) as ws:
                await ws.send_bytes(b"over tls")
                assert await ws.receive_bytes() == b"over tls"

    run(go())


@pytest.mark.parametrize("path", ["fixed/ws", "socket/ws", "PROXY/ws"])
def test_websockets_over_tls(server: JupyterServer, tls: TlsBackends, path: str) -> None:
    """Websockets to a TLS backend relay both ways, large messages and a flood the client
    reads slowly included, and a close keeps its code."""
    path = path.replace("PROXY", f"proxy/{tls.good.port}")
    big = os.urandom(3 << 20)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url(path, scheme="ws"), headers=server.auth, max_msg_size=0
            ) as ws:
                await ws.send_str("hello")
                assert await ws.receive_str() == "hello"
                await ws.send_bytes(big)
                assert await ws.receive_bytes() == big
                await ws.send_str("flood:16")
                for _ in range(16):
                    assert len(await ws.receive_bytes()) == 1 << 20
                await ws.send_str("close:4001:bye")
                closing = await ws.receive()
                assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4001

    run(go())


def test_one_gib_download_over_tls_streams_with_bounded_memory(
    server: JupyterServer, tls: TlsBackends
) -> None:
    """1 GiB from a TLS backend passes through while the server's memory grows by far less."""
    size = 1 << 30
    grew = download_with_peak_rss(server, f"proxy/{tls.good.port}/bytes/{size}", size)
    assert grew < 64 * 1024, f"memory grew by {grew // 1024} MiB"

"""4.x's request-building methods, overridden by ``ProxyHandler`` subclasses in a plain tornado
app, change what is sent upstream; and ``NamedLocalProxyHandler`` reaches a unix socket.

The methods: ``proxy_request_options`` (its timeouts honoured, other keys ignored with one
warning), ``proxy_request_headers`` (what it returns is sent, held to the header rules),
``get_client_uri`` (the request goes where its URL says, for HTTP and websockets). The
``get_request_headers_override`` case and a port-based ``NamedLocalProxyHandler`` are covered
by tests/compat.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Backend, _connects, free_port, stop_process, wait_until

APP = textwrap.dedent(
    """
    import asyncio, json, sys
    from tornado import web
    from jupyter_server_proxy.handlers import LocalProxyHandler, NamedLocalProxyHandler

    ELSEWHERE, SOCKET = int(sys.argv[2]), sys.argv[3]

    class Anyone:
        # dask's way: its own user, and none of Jupyter's prepare.
        def get_current_user(self):
            return "user"

        async def prepare(self):
            pass

    class Timeouts(Anyone, LocalProxyHandler):
        def proxy_request_options(self):
            options = super().proxy_request_options()
            self.set_header("X-Base-Options", json.dumps(options, sort_keys=True))
            options.update(request_timeout=1, validate_cert=False)
            return options

    class Headers(Anyone, LocalProxyHandler):
        def proxy_request_headers(self):
            headers = super().proxy_request_headers()
            headers["X-Added"] = "by-subclass"
            headers.pop("X-Remove-Me", None)
            return headers

    class OldStyleHeaders(Anyone, LocalProxyHandler):
        # 4.x-era code: the client's headers, credentials and hop-by-hop fields included.
        def proxy_request_headers(self):
            return self.request.headers.copy()

    class Renamed(Anyone, LocalProxyHandler):
        def get_client_uri(self, protocol, host, port, proxied_path):
            uri = super().get_client_uri(protocol, host, port, proxied_path)
            return uri.replace("/alias", "/echo/aliased" if protocol == "http" else "/ws", 1)

    class Elsewhere(Anyone, LocalProxyHandler):
        def get_client_uri(self, protocol, host, port, proxied_path):
            return f"{protocol}://127.0.0.1:{ELSEWHERE}/echo/elsewhere{proxied_path}?from=sub"

    class Tls(Anyone, LocalProxyHandler):
        def get_client_uri(self, protocol, host, port, proxied_path):
            return f"https://{host}:{port}{proxied_path}"

    class OnSocket(Anyone, NamedLocalProxyHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.unix_socket = SOCKET
            self.mappath = {"/": "/echo/root"}
            self.proxy_base = "named"

    async def main():
        route = r"/{}/(\\d+)(/.*|)"
        app = web.Application(
            [
                (route.format("timeouts"), Timeouts),
                (route.format("headers"), Headers),
                (route.format("oldheaders"), OldStyleHeaders),
                (route.format("renamed"), Renamed),
                (route.format("elsewhere"), Elsewhere),
                (route.format("tls"), Tls),
                (r"/named/(.*)", OnSocket),
            ]
        )
        app.listen(int(sys.argv[1]), "127.0.0.1")
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend, unix_backend: Backend
) -> Iterator[tuple[int, Path]]:
    """The plain tornado app above, running: (its port, its log)."""
    tmp = tmp_path_factory.mktemp("subclasses")
    script, log_path = tmp / "app.py", tmp / "app.log"
    script.write_text(APP)
    port = free_port()
    args = [str(port), str(backend.port), str(unix_backend.unix_socket)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-W", "error", str(script), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(lambda: _connects(port) or proc.poll() is not None, "plain tornado app")
        assert proc.poll() is None, log_path.read_text()
        yield port, log_path
    finally:
        stop_process(proc)


async def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        async with s.get(url, headers=headers or {}, allow_redirects=False) as r:
            return r.status, r.headers, await r.read()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    return asyncio.run(_get(url, headers))


def echoed_headers(body: bytes) -> list[tuple[str, str]]:
    return [(k, v) for k, v in json.loads(body)["headers"]]


def test_options_timeouts_are_honoured(app: tuple[int, Path], backend: Backend) -> None:
    """``super().proxy_request_options()`` is a dict with the timeouts in force; a subclass
    that lowers ``request_timeout`` gets a 504 when the backend stays silent that long, and a
    key the client cannot honour (``validate_cert``) is ignored, with one warning per class."""
    port, log = app
    base = f"http://127.0.0.1:{port}/timeouts/{backend.port}"
    status, headers, _ = get(f"{base}/echo/x")
    assert status == 200
    assert json.loads(headers["X-Base-Options"]) == {
        "connect_timeout": 10.0,
        "follow_redirects": False,
        "request_timeout": 300.0,
    }
    for _ in range(2):
        status, _, body = get(f"{base}/slow-head")
        assert status == 504, body
    warnings = [line for line in log.read_text().splitlines() if "validate_cert" in line]
    assert len(warnings) == 1 and "Timeouts" in warnings[0], warnings


def test_overridden_request_headers_are_sent(app: tuple[int, Path], backend: Backend) -> None:
    """What a subclass's ``proxy_request_headers()`` returns is what the backend gets: a field
    it adds arrives, one it removes does not, and ``super()``'s includes the context path."""
    port, _ = app
    status, _, body = get(
        f"http://127.0.0.1:{port}/headers/{backend.port}/echo/h",
        {"X-Remove-Me": "1", "X-Keep": "2"},
    )
    assert status == 200, body
    sent = dict(echoed_headers(body))
    assert sent["X-Added"] == "by-subclass" and sent["X-Keep"] == "2"
    assert "X-Remove-Me" not in sent
    assert sent["X-Forwarded-Prefix"] == f"/headers/{backend.port}"


def test_overridden_request_headers_keep_the_rules(app: tuple[int, Path], backend: Backend) -> None:
    """A 4.x-era override that returns the client's own headers still sends no Jupyter
    credential (login cookie, ``token`` authorization) and no hop-by-hop field."""
    port, _ = app
    status, _, body = get(
        f"http://127.0.0.1:{port}/oldheaders/{backend.port}/echo/h",
        {
            "Cookie": "username-127-0-0-1-8888=secret; app=1",
            "Authorization": "token abc",
            "X-Hop": "1",
            "Connection": "X-Hop",
        },
    )
    assert status == 200, body
    sent = echoed_headers(body)
    names = {k.lower() for k, _ in sent}
    assert ("Cookie", "app=1") in sent
    assert "authorization" not in names and "x-hop" not in names


def test_overridden_client_uri_path(app: tuple[int, Path], backend: Backend) -> None:
    """A subclass's ``get_client_uri`` built on ``super()``'s decides the path the backend
    gets, the query kept, for HTTP and for a websocket."""
    port, _ = app
    status, _, body = get(f"http://127.0.0.1:{port}/renamed/{backend.port}/alias/x?q=1")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["path"] == "/echo/aliased/x" and doc["query"] == "q=1"

    async def ws() -> str:
        url = f"ws://127.0.0.1:{port}/renamed/{backend.port}/alias"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as sock:
            await sock.send_str("path")
            return str(await asyncio.wait_for(sock.receive_str(), 30))

    assert asyncio.run(ws()) == "/ws"


def test_overridden_client_uri_target(app: tuple[int, Path], backend: Backend) -> None:
    """A ``get_client_uri`` that names another host and port sends the request there, with
    the path and query of its URL."""
    port, _ = app
    status, _, body = get(f"http://127.0.0.1:{port}/elsewhere/1/y")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["path"] == "/echo/elsewhere/y" and doc["query"] == "from=sub"


def test_client_uri_with_https_asks_for_tls(app: tuple[int, Path], backend: Backend) -> None:
    """An ``https://`` URL from ``get_client_uri`` reaches the backend over TLS, as 4.x's client
    did: to a backend that speaks plain HTTP, a 502 that names the failed TLS handshake."""
    port, _ = app
    status, _, body = get(f"http://127.0.0.1:{port}/tls/{backend.port}/z")
    assert status == 502
    assert f"TLS with localhost:{backend.port} failed".encode() in body


def test_named_local_handler_on_a_unix_socket(app: tuple[int, Path]) -> None:
    """A ``NamedLocalProxyHandler`` subclass with ``unix_socket`` and a dict ``mappath`` reaches
    the socket, maps the path, and tells the app its prefix; websockets go there too."""
    port, _ = app
    status, _, body = get(f"http://127.0.0.1:{port}/named/")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["path"] == "/echo/root"
    assert ("X-Forwarded-Prefix", "/named") in echoed_headers(body)

    async def ws() -> str:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"ws://127.0.0.1:{port}/named/ws") as sock:
                await sock.send_str("hello")
                return str(await asyncio.wait_for(sock.receive_str(), 30))

    assert asyncio.run(ws()) == "hello"

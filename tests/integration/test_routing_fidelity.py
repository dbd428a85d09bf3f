"""Routes as 4.x gives them: prefix headers, fragments and status codes, through a real Jupyter
server to a backend that records every request exactly as it arrives (its request line, its
headers), for HTTP and websockets alike.

The status table was measured side by side with jupyter-server-proxy 4.6.0 (its 302s are
Jupyter's trailing-slash redirects, which end in the same 404).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.conftest import JupyterServer, free_port

CONTEXT_HEADERS = ("x-forwarded-context", "x-proxycontextpath", "x-forwarded-prefix")
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class Seen:
    """One request as the backend received it."""

    line: str
    headers: list[tuple[str, str]]

    def context_headers(self) -> dict[str, str]:
        return {n.lower(): v for n, v in self.headers if n.lower() in CONTEXT_HEADERS}


@dataclass
class Recorder:
    """A loopback backend in a thread of this test process: answers every request 200 (a
    websocket upgrade 101) and keeps what it received."""

    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        line, *rest = head.decode("latin-1").split("\r\n")
        headers = [(n.strip(), v.strip()) for n, _, v in (h.partition(":") for h in rest if h)]
        self.seen.append(Seen(line, headers))
        fields = {n.lower(): v for n, v in headers}
        if fields.get("upgrade", "").lower() == "websocket":
            accept = base64.b64encode(
                hashlib.sha1((fields["sec-websocket-key"] + _WS_GUID).encode()).digest()
            ).decode()
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
            )
            await writer.drain()
            await reader.read()  # until the proxy closes its side
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        writer.close()

    def start(self) -> Recorder:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self.port)
            )
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(30), "recording backend did not start"
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def last(self) -> Seen:
        assert self.seen, "the backend received nothing"
        return self.seen[-1]


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    r = Recorder().start()
    yield r
    r.stop()


@pytest.fixture(scope="module", params=["/", "/user/alice/"], ids=["root", "hub-prefix"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, recorder: Recorder
) -> Iterator[JupyterServer]:
    # The default host_allowlist (localhost, 127.0.0.1); two named apps on the recorder.
    config = f"""
c.ServerProxy.servers = {{
    "absapp": {{"port": {recorder.port}, "absolute_url": True}},
    "relapp": {{"port": {recorder.port}}},
}}
"""
    s = JupyterServer(tmp_path_factory.mktemp("srv"), config, request.param).start()
    yield s
    s.stop()


def raw_request(server: JupyterServer, target: str, extra: str = "") -> tuple[int, bytes]:
    """Send ``target`` byte for byte (no client library cleans it up); (status, body)."""
    extra = extra or "Connection: close\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: token {server.token}\r\n{extra}\r\n".encode("latin-1")
        )
        data = b""
        for _ in range(10_000):  # bounded: until the server closes
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if b" 101 " in data and b"\r\n\r\n" in data:
                break  # an upgrade: the head is all there is to read
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def browser_ws_headers(server: JupyterServer) -> dict[str, str]:
    """What Chrome sends with a same-origin websocket (plus the test's login)."""
    return {
        **server.auth,
        "Origin": f"http://127.0.0.1:{server.port}",
        "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Mode": "websocket",
        "Sec-Fetch-Dest": "empty",
    }


async def open_ws(server: JupyterServer, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            server.url(path, scheme="ws"), headers=browser_ws_headers(server)
        ) as ws:
            await ws.close()


# -- item 5: absolute routes send no prefix headers ------------------------------------------


def _get(server: JupyterServer, path: str, headers: dict[str, str] | None = None) -> int:
    async def go() -> int:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                server.url(path), headers={**server.auth, **(headers or {})}
            ) as resp:
                await resp.read()
                return resp.status

    return asyncio.run(go())


@pytest.mark.parametrize(
    "route",
    ["proxy/absolute/{port}/x", "proxy/absolute/localhost:{port}/x", "absapp/x"],
    ids=["absolute-port", "absolute-host-port", "absolute_url-app"],
)
def test_absolute_routes_send_no_prefix_headers(
    server: JupyterServer, recorder: Recorder, route: str
) -> None:
    """On /proxy/absolute/... and for an app with absolute_url the backend gets the full path
    and none of X-Forwarded-Context, X-ProxyContextPath, X-Forwarded-Prefix (an app honouring
    X-Forwarded-Prefix would prefix twice), not even copies the client sent."""
    path = route.format(port=recorder.port)
    spoofed = {"X-Forwarded-Prefix": "/spoofed", "X-Forwarded-Context": "/spoofed"}
    assert _get(server, path, spoofed) == 200
    seen = recorder.last()
    assert seen.line == f"GET {server.base_url}{path} HTTP/1.1"
    assert seen.context_headers() == {}


@pytest.mark.parametrize(
    "route",
    ["proxy/absolute/{port}/ws", "proxy/absolute/127.0.0.1:{port}/ws", "absapp/ws"],
    ids=["absolute-port", "absolute-host-port", "absolute_url-app"],
)
def test_absolute_route_websockets_send_no_prefix_headers(
    server: JupyterServer, recorder: Recorder, route: str
) -> None:
    """A browser's websocket on an absolute route: full path, no prefix headers."""
    path = route.format(port=recorder.port)
    asyncio.run(open_ws(server, path))
    seen = recorder.last()
    assert seen.line == f"GET {server.base_url}{path} HTTP/1.1"
    assert seen.context_headers() == {}


@pytest.mark.parametrize(
    ("route", "context"),
    [("proxy/{port}/x", "proxy/{port}"), ("relapp/x", "relapp")],
    ids=["port", "app"],
)
def test_relative_routes_keep_the_prefix_headers(
    server: JupyterServer, recorder: Recorder, route: str, context: str
) -> None:
    """Without absolute_url the prefix is stripped and announced in all three headers."""
    assert _get(server, route.format(port=recorder.port)) == 200
    expected = server.base_url + context.format(port=recorder.port)
    assert recorder.last().line == "GET /x HTTP/1.1"
    assert recorder.last().context_headers() == dict.fromkeys(CONTEXT_HEADERS, expected)


# -- item 6: a fragment is never forwarded ---------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("proxy/{port}/a#bla", "/a"),
        ("proxy/{port}/a#bla?x=1", "/a"),  # after a "#" even a "?" is fragment
        ("proxy/{port}/a?x=1#bla", "/a?x=1"),
        ("proxy/{port}/a%23b?c=%23#bla", "/a%23b?c=%23"),  # an escaped "#" is data
        ("proxy/absolute/{port}/a#bla", "{base}proxy/absolute/{port}/a"),
        ("relapp/a#bla?x=1", "/a"),
        ("absapp/a?x=1#bla", "{base}absapp/a?x=1"),
    ],
)
def test_fragment_is_never_forwarded(
    server: JupyterServer, recorder: Recorder, sent: str, forwarded: str
) -> None:
    """A raw "#" in the request-target (invalid per RFC 9112 §3.2) ends what is forwarded, as
    with 4.x: the backend never sees "#..."."""
    fill = {"port": recorder.port, "base": server.base_url}
    status, _ = raw_request(server, server.base_url + sent.format(**fill))
    assert status == 200
    assert recorder.last().line == f"GET {forwarded.format(**fill)} HTTP/1.1"


def test_fragment_is_never_forwarded_on_websockets(
    server: JupyterServer, recorder: Recorder
) -> None:
    """The same for a websocket upgrade whose target carries a raw "#"."""
    key = base64.b64encode(b"0123456789abcdef").decode()
    status, _ = raw_request(
        server,
        f"{server.base_url}proxy/{recorder.port}/ws#bla?x=1",
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {key}\r\nOrigin: http://127.0.0.1:{server.port}\r\n",
    )
    assert status == 101
    assert recorder.last().line == "GET /ws HTTP/1.1"


# -- item 7: status codes as 4.x gives them --------------------------------------------------

# A host outside the allowlist: 403 in every form the routes take, malformed ones too, and
# whatever the port (4.x asks the allowlist first).
FORBIDDEN = [
    "example.com:80/",
    "absolute/example.com:80/",
    "EXAMPLE.COM:80/",
    "example%2Ecom:80/",
    "ex%20ample:80/",
    "a%40b:80/",
    "a%2Fb:80/",
    "-x:80/",
    "%3Cscript%3E:80/",
    "a..b:80/",
    "x" * 300 + ":80/",
    "[not-ipv6]:80/",
    "[::2]:80/",
    "absolute/[::2]:80/",
    "localhost.:80/",
    "127.0.0.2:80/",
    "example.com:99999/",
    "absolute/example.com:0/",
]

# A /proxy/ URL that names no target: 404 (4.x: no route matches; a port out of range was a
# 500 there).
NOT_FOUND = [
    "",
    "absolute",
    "absolute/",
    "proxy-me/x",
    "example.com/path",
    "absolute/host/x",
    "user@localhost:80/",
    "absolute/user@localhost:80/",
    "%3Cscript%3E/x",
    "::1:80/",
    "localhost:/",
    ":80/",
    "00080x/",
    "localhost:%38%30/",
    "%38%30/",
    "0/",
    "99999/",
    "65536/",
    "absolute/0/",
    "localhost:0/",
    "absolute/127.0.0.1:99999/",
]


@pytest.mark.parametrize("target", FORBIDDEN)
def test_host_outside_the_allowlist_is_403_in_every_form(
    server: JupyterServer, target: str
) -> None:
    """403 with our page naming host_allowlist, never 400; nothing is echoed unescaped."""
    status, body = raw_request(server, f"{server.base_url}proxy/{target}")
    assert status == 403, body
    assert b"host_allowlist" in body and b"<script>" not in body


@pytest.mark.parametrize("target", NOT_FOUND)
def test_url_naming_no_target_is_404(server: JupyterServer, target: str) -> None:
    """404 with our page saying what a target looks like (or which part is wrong)."""
    status, body = raw_request(server, f"{server.base_url}proxy/{target}")
    assert status == 404, body
    assert b"<script>" not in body
    assert b"/proxy/&lt;port&gt;/" in body or b"not a" in body


@pytest.mark.parametrize(
    ("target", "status"), [("example.com:80/ws", 403), ("99999/ws", 404), ("host/ws", 404)]
)
def test_websocket_status_codes(server: JupyterServer, target: str, status: int) -> None:
    """A browser's websocket to a forbidden host or to no target gets the same status."""

    async def go() -> Any:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await open_ws(server, f"proxy/{target}")
        return e.value.status

    assert asyncio.run(go()) == status


def test_allowlist_matches_host_names_case_insensitively(
    server: JupyterServer, recorder: Recorder
) -> None:
    """Deliberate difference from 4.x, which compares strings exactly (403): a host name is
    case-insensitive (RFC 3986 §3.2.2), so LOCALHOST is the allowlist's localhost."""
    status, _ = raw_request(server, f"{server.base_url}proxy/LOCALHOST:{recorder.port}/a")
    assert status == 200
    assert recorder.last().line == "GET /a HTTP/1.1"

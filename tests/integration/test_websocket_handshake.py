"""The websocket handshake as browsers and real backends do it, in a Jupyter server.

Browsers send ``Origin`` and (to localhost or over TLS) Chrome's Fetch Metadata headers
(``Sec-Fetch-Site``/``-Mode``/``-Dest``) and authenticate with Jupyter's login cookie; these
tests send the same. Backends that misbehave are scripted raw asyncio servers writing exact
bytes. The same origin rules in a plain tornado app and in ``jupyter-standaloneproxy`` are
tested in ``test_plain_tornado.py`` and ``test_standalone.py``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from tests.conftest import Backend, JupyterServer, module_server, poll_until, run

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
#: Bounded wait for anything that happens on its own (a backend seeing a close).
WAIT = 30.0
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


# A read timeout far beyond every wait here: a backend released "at once" is not one released
# by the timeout.
server = module_server("c.ServerProxy.read_timeout = 3600\n")


def browser_upgrade(
    path: str,
    host: str,
    *,
    origin: str | None = None,
    site: str | None = "same-origin",
    cookie: str | None = None,
    key: str | None = None,
) -> bytes:
    """An upgrade request as Chrome sends it for ``new WebSocket(...)`` from a page of
    ``origin`` (the page's own, ``http://<host>``, by default)."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Connection: Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        f"User-Agent: {CHROME}",
        "Upgrade: websocket",
        f"Origin: {origin or f'http://{host}'}",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br, zstd",
        "Accept-Language: en-US,en;q=0.9",
        f"Sec-WebSocket-Key: {key or base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    ]
    if site is not None:
        lines += [
            f"Sec-Fetch-Site: {site}",
            "Sec-Fetch-Mode: websocket",
            "Sec-Fetch-Dest: websocket",
        ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One response from a keep-alive connection: status, fields (lower-case names), body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    fields = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    if status == 101 or status == 204 or status == 304:
        return status, fields, b""
    if "content-length" in fields:
        body = await reader.readexactly(int(fields["content-length"]))
    else:
        assert fields.get("transfer-encoding") == "chunked", fields
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
    return status, fields, body


async def browser_websocket(
    port: int,
    path: str,
    origin: str | None = None,
    site: str | None = "same-origin",
    cookie: str | None = None,
) -> tuple[int, bytes]:
    """Open a websocket to the echo backend as Chrome does from a page of ``origin``:
    (status, body). Once open, a message must come back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        host = f"127.0.0.1:{port}"
        writer.write(browser_upgrade(path, host, origin=origin, site=site, cookie=cookie))
        status, _, body = await read_response(reader)
        if status == 101:
            key = b"abcd"  # a client's frames are masked (RFC 6455 §5.3)
            masked = bytes(b ^ key[i % 4] for i, b in enumerate(b"hi"))
            writer.write(b"\x81\x82" + key + masked)
            assert (await asyncio.wait_for(reader.readexactly(4), 30)) == b"\x81\x02hi"
        return status, body
    finally:
        writer.close()


async def login_cookie(server: JupyterServer) -> str:
    """The cookie a browser holds after logging in with the token (as ``?token=`` does)."""
    # (aiohttp keeps cookies of a host given by IP address only when told to.)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(server.url(f"api/status?token={server.token}")) as r:
            assert r.status == 200
        cookies = [f"{c.key}={c.value}" for c in s.cookie_jar]
    assert cookies, "Jupyter set no login cookie"
    return "; ".join(cookies)


# -- origins ----------------------------------------------------------------------------------


@pytest.mark.parametrize("site", ["same-origin", None], ids=["fetch-metadata", "origin-only"])
def test_same_origin_browser_websocket_opens(
    server: JupyterServer, backend: Backend, site: str | None
) -> None:
    """A page's own websocket (Origin equal to Host, with or without ``Sec-Fetch-Site``),
    authenticated by Jupyter's login cookie, opens and relays."""

    async def go() -> None:
        cookie = await login_cookie(server)
        path = f"/proxy/{backend.port}/ws"
        status, body = await browser_websocket(server.port, path, site=site, cookie=cookie)
        assert status == 101, body

    run(go())


@pytest.mark.parametrize("site", ["cross-site", None], ids=["fetch-metadata", "origin-only"])
def test_foreign_origin_is_refused(
    server: JupyterServer, backend: Backend, site: str | None
) -> None:
    """A page of another origin that has the user's cookie gets 403, never the backend."""

    async def go() -> None:
        cookie = await login_cookie(server)
        host = f"127.0.0.1:{server.port}"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = browser_upgrade(
            f"/proxy/{backend.port}/ws",
            host,
            origin="http://evil.example",
            site=site,
            cookie=cookie,
        )
        writer.write(request)
        status, _, _ = await read_response(reader)
        assert status == 403
        writer.close()

    run(go())


def test_jupyters_allow_origin_decides_about_other_origins(
    make_server: Callable[..., JupyterServer], backend: Backend
) -> None:
    """In a Jupyter server, an origin other than the page's own is Jupyter's to allow
    (``c.ServerApp.allow_origin``); any other stays refused."""
    server = make_server("c.ServerApp.allow_origin = 'https://lab.example'\n")

    async def go() -> None:
        cookie = await login_cookie(server)
        host = f"127.0.0.1:{server.port}"
        for origin, expected in (("https://lab.example", 101), ("http://evil.example", 403)):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                browser_upgrade(
                    f"/proxy/{backend.port}/ws",
                    host,
                    origin=origin,
                    site="cross-site",
                    cookie=cookie,
                )
            )
            status, _, _ = await read_response(reader)
            writer.close()
            assert status == expected, origin

    run(go())


# -- a refused upgrade keeps the connection ----------------------------------------------------


@pytest.mark.parametrize("refusal", ["no-login", "foreign-origin"])
def test_refused_upgrade_leaves_the_connection_usable(
    server: JupyterServer, backend: Backend, refusal: str
) -> None:
    """After a refused upgrade the connection stays open (no ``Connection: close``) and the next
    request on it gets its answer, as with tornado's own websockets: configurable-http-proxy
    reuses its connections, and a silently closed one fails the user's next request."""

    async def go() -> None:
        cookie = await login_cookie(server)
        host = f"127.0.0.1:{server.port}"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        if refusal == "no-login":
            request = browser_upgrade(f"/proxy/{backend.port}/ws", host)
        else:
            request = browser_upgrade(
                f"/proxy/{backend.port}/ws",
                host,
                origin="http://evil.example",
                site="cross-site",
                cookie=cookie,
            )
        writer.write(request)
        status, fields, _ = await read_response(reader)
        assert status == 403
        assert fields.get("connection", "").lower() != "close"
        writer.write(
            (
                f"GET /proxy/{backend.port}/echo/after HTTP/1.1\r\nHost: {host}\r\n"
                f"Cookie: {cookie}\r\nSec-Fetch-Site: same-origin\r\n\r\n"
            ).encode()
        )
        status, _, body = await read_response(reader)
        assert status == 200 and b"/echo/after" in body
        writer.close()

    run(go())


# -- scripted backends -------------------------------------------------------------------------


def accept_for(request: bytes) -> str:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    return base64.b64encode(hashlib.sha1(key + WS_GUID.encode()).digest()).decode()


Script = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def scripted_backend(script: Script) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A raw backend on loopback: reads an upgrade request's head, then runs ``script``.
    Yields (port, the heads it received)."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            received.append(request)
            await script(request, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield port, received
    finally:
        srv.close()
        await srv.wait_closed()


def text_frame(payload: bytes) -> bytes:
    return bytes((0x81, len(payload))) + payload  # from a server: unmasked


def test_interim_responses_before_the_101_are_skipped(server: JupyterServer) -> None:
    """A backend that sends 100 Continue and 103 Early Hints before its 101 is a websocket
    like any other: the interim responses are skipped, the 101's fields and the first frame
    sent with it reach the client."""

    async def script(request: bytes, reader: asyncio.StreamReader, writer: Any) -> None:
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept_for(request)}\r\n".encode()
            + b"Set-Cookie: app=1\r\n\r\n"
            + text_frame(b"hello")
        )
        await reader.read()  # until the proxy closes

    async def go() -> None:
        async with scripted_backend(script) as (port, _), aiohttp.ClientSession() as s:
            url = server.url(f"proxy/{port}/ws", "ws")
            async with s.ws_connect(url, headers=server.auth) as ws:
                assert await asyncio.wait_for(ws.receive_str(), WAIT) == "hello"

    run(go())


@pytest.mark.parametrize(
    ("line", "named"),
    [
        (b"X-App: a\x01b", b"X-App"),
        (b"X App: 1", b"X App"),
        (b"X-App: a\nb", b"X-App"),
    ],
    ids=["control-char", "space-in-name", "bare-lf"],
)
def test_malformed_header_in_the_101_is_a_502_naming_it(
    server: JupyterServer, line: bytes, named: bytes
) -> None:
    """A 101 with a header we could not pass on is a 502 whose page names the header (not an
    error of ours, 500)."""

    async def script(request: bytes, reader: asyncio.StreamReader, writer: Any) -> None:
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept_for(request)}\r\n".encode()
            + line
            + b"\r\n\r\n"
        )
        await reader.read()

    async def go() -> None:
        async with scripted_backend(script) as (port, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            host = f"127.0.0.1:{server.port}"
            request = browser_upgrade(f"/proxy/{port}/ws", host).replace(
                b"\r\n\r\n", f"\r\nAuthorization: token {server.token}\r\n\r\n".encode()
            )
            writer.write(request)
            status, _, body = await read_response(reader)
            writer.close()
        assert status == 502, body
        page = html.unescape(body.decode())
        assert "malformed header" in page and repr(named.decode()) in page

    run(go())


def test_client_that_gives_up_during_the_handshake_releases_the_backend(
    server: JupyterServer,
) -> None:
    """A client that hangs up while the backend has not answered its upgrade yet frees the
    backend connection at once (the read timeout here is an hour)."""

    async def script(request: bytes, reader: asyncio.StreamReader, writer: Any) -> None:
        await reader.read()  # never answers; returns when the proxy closes the connection
        released.set()

    released = asyncio.Event()

    async def go() -> None:
        async with scripted_backend(script) as (port, received):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            request = browser_upgrade(f"/proxy/{port}/ws", f"127.0.0.1:{server.port}").replace(
                b"\r\n\r\n", f"\r\nAuthorization: token {server.token}\r\n\r\n".encode()
            )
            writer.write(request)
            await poll_until(lambda: received, "the upgrade to reach the backend", WAIT, 0.02)
            writer.transport.abort()
            await asyncio.wait_for(released.wait(), WAIT)

    run(go())

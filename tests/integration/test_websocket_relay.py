"""The websocket relay's own duties, beyond echoing: frames sent with the upgrade, the rules a
frame header shows, the message size limit, pings to a silent client, either side vanishing,
backpressure, TLS clients and server shutdown."""

from __future__ import annotations

import asyncio
import base64
import collections
import os
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from jupyter_server_proxy.relay.splicepipes import PIPES_KEPT
from tests.conftest import Backend, JupyterServer, anon_kib, module_server, poll_until, run
from tests.wsframes import ws_frame, ws_read

LIMITS = """
c.ServerProxy.websocket_max_message_size = 4096
c.ServerProxy.websocket_ping_interval = 0.2
c.ServerProxy.websocket_ping_timeout = 1.0
"""


server = module_server(LIMITS)


# -- a minimal websocket client on a raw socket, to send what aiohttp never would ----------


async def raw_websocket(
    server: JupyterServer, path: str, early: bytes = b"", tls: ssl.SSLContext | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=tls)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {server.base_url}{path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: token {server.token}\r\n\r\n"
    )
    writer.write(request.encode() + early)  # one write: the frame rides with the upgrade
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def hang_up(writer: asyncio.StreamWriter, *, abort: bool = False) -> None:
    if abort:
        writer.transport.abort()
    else:
        writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


async def close_code_seen_by_backend(backend: Backend, ident: str) -> int:
    key, events = f"ws_close_code:{ident}", {}

    async def recorded() -> bool:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{backend.port}/events") as r:
                events.update(await r.json())
        return key in events

    await poll_until(recorded, f"the backend to record the close of websocket {ident}", 20)
    return int(events[key])


def test_frame_sent_with_the_upgrade_is_relayed(server: JupyterServer, backend: Backend) -> None:
    """A client that pipelines its first frame behind the upgrade request loses nothing."""

    async def go() -> None:
        reader, writer = await raw_websocket(
            server, f"proxy/{backend.port}/ws", early=ws_frame(0x1, b"early bird")
        )
        assert await asyncio.wait_for(ws_read(reader), 30) == (0x1, b"early bird")
        await hang_up(writer)

    run(go())


def test_unmasked_client_frame_is_refused_with_1002(
    server: JupyterServer, backend: Backend
) -> None:
    """RFC 6455 §5.1: a client's frames must be masked. The client hears 1002 and why; the
    backend gets 1001, not half a frame."""

    async def go() -> None:
        reader, writer = await raw_websocket(server, f"proxy/{backend.port}/ws?id=unmasked")
        writer.write(ws_frame(0x1, b"not masked", masked=False))
        opcode, payload = await asyncio.wait_for(ws_read(reader), 30)
        assert opcode == 0x8
        assert int.from_bytes(payload[:2], "big") == 1002
        assert b"masked" in payload[2:]
        await hang_up(writer)
        assert await close_code_seen_by_backend(backend, "unmasked") == 1001

    run(go())


def test_message_over_the_limit_is_refused_with_1009(
    server: JupyterServer, backend: Backend
) -> None:
    """websocket_max_message_size counts a fragmented message as a whole."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url(f"proxy/{backend.port}/ws?id=big", scheme="ws"), headers=server.auth
            ) as ws:
                await ws.send_bytes(b"a" * 4096)  # at the limit: passes
                assert await ws.receive_bytes() == b"a" * 4096
        reader, writer = await raw_websocket(server, f"proxy/{backend.port}/ws?id=big2")
        writer.write(ws_frame(0x2, b"b" * 3000, final=False) + ws_frame(0x0, b"b" * 3000))
        opcode, payload = await asyncio.wait_for(ws_read(reader), 30)
        assert (opcode, int.from_bytes(payload[:2], "big")) == (0x8, 1009)
        assert b"4096" in payload
        await hang_up(writer)
        assert await close_code_seen_by_backend(backend, "big2") == 1001

    run(go())


def test_client_that_stops_answering_pings_is_let_go(
    server: JupyterServer, backend: Backend
) -> None:
    """A client that answers no ping within websocket_ping_timeout is closed with 1001, and so
    is the backend's connection."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url(f"proxy/{backend.port}/ws?id=deaf", scheme="ws"),
                headers=server.auth,
                autoping=False,
            ) as ws:
                pings = 0
                while True:
                    msg = await asyncio.wait_for(ws.receive(), 30)
                    if msg.type is not aiohttp.WSMsgType.PING:
                        break
                    pings += 1
                assert pings >= 1
                assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 1001
        assert await close_code_seen_by_backend(backend, "deaf") == 1001

    run(go())


def test_client_answering_pings_stays_connected(server: JupyterServer, backend: Backend) -> None:
    """Pongs count as life: a quiet client that answers pings outlives the ping timeout."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url(f"proxy/{backend.port}/ws", scheme="ws"),
                headers=server.auth,
                autoping=False,
            ) as ws:
                for _ in range(10):  # 10 pings at 0.2 s: well past the 1 s timeout
                    msg = await asyncio.wait_for(ws.receive(), 30)
                    assert msg.type is aiohttp.WSMsgType.PING
                    await ws.pong(msg.data)
                await ws.send_str("still here")
                while (msg := await asyncio.wait_for(ws.receive(), 30)).type is (
                    aiohttp.WSMsgType.PING
                ):
                    await ws.pong(msg.data)
                assert msg.data == "still here"

    run(go())


def test_backend_dropping_its_connection_closes_client_with_1011(
    server: JupyterServer, backend: Backend
) -> None:
    """A backend gone without a close frame: the client hears 1011 and why."""

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url(f"proxy/{backend.port}/ws", scheme="ws"), headers=server.auth
            ) as ws:
                await ws.send_str("drop")
                msg = await asyncio.wait_for(ws.receive(), 30)
                assert msg.type is aiohttp.WSMsgType.CLOSE
                assert (msg.data, msg.extra) == (1011, "backend connection lost")

    run(go())


def test_client_vanishing_closes_backend_with_1001(server: JupyterServer, backend: Backend) -> None:
    """A client gone without a close frame (a closed laptop lid): the backend gets 1001."""

    async def go() -> None:
        reader, writer = await raw_websocket(server, f"proxy/{backend.port}/ws?id=vanish")
        writer.write(ws_frame(0x1, b"hi"))
        assert await asyncio.wait_for(ws_read(reader), 30) == (0x1, b"hi")
        await hang_up(writer, abort=True)
        assert await close_code_seen_by_backend(backend, "vanish") == 1001

    run(go())


def test_slow_client_slows_the_backend_and_memory_stays_bounded(
    make_server: Any, backend: Backend
) -> None:
    """The backend floods 256 MiB at a client that first reads nothing: the proxy stops reading
    the backend instead of buffering, and every byte still arrives."""
    server: JupyterServer = make_server()
    assert server.proc is not None
    pid = server.proc.pid
    messages = 256

    async def go() -> int:
        reader, writer = await raw_websocket(server, f"proxy/{backend.port}/ws")
        before = anon_kib(pid)
        writer.write(ws_frame(0x1, f"flood:{messages}".encode()))
        # The behaviour under test, not a wait for a condition: a client that reads nothing
        # for a second while the backend floods; everything the backend sends must wait.
        await asyncio.sleep(1.0)
        peak = anon_kib(pid)
        got = 0
        for _ in range(messages):
            opcode, payload = await asyncio.wait_for(ws_read(reader), 60)
            if opcode == 0x9:  # a keep-alive ping: answer it like a browser would
                writer.write(ws_frame(0xA, payload))
                continue
            got += len(payload)
            peak = max(peak, anon_kib(pid))
        await hang_up(writer)
        assert (peak - before) < 64 * 1024, f"memory grew by {(peak - before) // 1024} MiB"
        return got

    assert run(go()) == messages << 20


# -- long payloads, which the relay splices between plain sockets ---------------------------


@pytest.fixture(scope="module")
def roomy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """The default message size limit (1 GiB), and pings too rare to land mid-test."""
    s = JupyterServer(tmp_path_factory.mktemp("roomy"), "").start()
    yield s
    s.stop()


def descriptors(server: JupyterServer) -> collections.Counter[str]:
    """The server's open descriptors by kind ("socket", "pipe", ...)."""
    assert server.proc is not None
    where = f"/proc/{server.proc.pid}/fd"
    kinds: collections.Counter[str] = collections.Counter()
    for fd in os.listdir(where):
        try:
            kinds[os.readlink(f"{where}/{fd}").partition(":")[0]] += 1
        except FileNotFoundError:
            continue  # closed while we looked
    return kinds


async def fds_back_to(server: JupyterServer, before: collections.Counter[str]) -> None:
    """Every socket the relay opened is closed again; of the pipes that moved payloads, only
    the few kept for the next move (``PIPES_KEPT``) remain."""
    # The closes happen as the connections wind down.
    await poll_until(
        lambda: descriptors(server)["socket"] <= before["socket"],
        "the server to close the sockets the relay opened",
        20,
    )
    assert descriptors(server)["pipe"] <= before["pipe"] + 2 * PIPES_KEPT


async def read_until_end(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while chunk := await asyncio.wait_for(reader.read(1 << 20), 30):
        chunks.append(chunk)
    return b"".join(chunks)


def test_long_messages_pass_whole_and_in_order(
    roomy_server: JupyterServer, backend: Backend
) -> None:
    """Random megabytes each way, each followed at once by a short message in the same write:
    the long payload is moved between sockets by the kernel, and the relay takes over again at
    exactly the next frame header, in both directions, over and over."""

    async def go() -> None:
        before = descriptors(roomy_server)
        reader, writer = await raw_websocket(roomy_server, f"proxy/{backend.port}/ws")
        for size in (300_000, 6 << 20, 1 << 20):
            big = os.urandom(size)
            writer.write(ws_frame(0x2, big) + ws_frame(0x1, b"after %d" % size))
            assert await asyncio.wait_for(ws_read(reader), 30) == (0x2, big)
            assert await asyncio.wait_for(ws_read(reader), 30) == (0x1, b"after %d" % size)
        writer.write(ws_frame(0x8, (1000).to_bytes(2, "big")))
        assert (await asyncio.wait_for(ws_read(reader), 30))[0] == 0x8
        await hang_up(writer)
        await fds_back_to(roomy_server, before)

    run(go())


def test_client_vanishing_inside_a_long_message(
    roomy_server: JupyterServer, backend: Backend
) -> None:
    """Half of an 8 MiB frame, then the client is gone: no close frame can follow half a frame,
    so the backend's connection is simply ended, and nothing of the relay is left open."""

    async def go() -> None:
        before = descriptors(roomy_server)
        reader, writer = await raw_websocket(roomy_server, f"proxy/{backend.port}/ws?id=midway")
        whole = ws_frame(0x2, b"m" * (8 << 20))
        writer.write(whole[: 4 << 20])
        await writer.drain()
        await hang_up(writer, abort=True)
        assert await close_code_seen_by_backend(backend, "midway") == 0  # ended, no close frame
        await fds_back_to(roomy_server, before)

    run(go())


def test_backend_ending_inside_a_long_message(
    roomy_server: JupyterServer, backend: Backend
) -> None:
    """The backend announces 4 MiB, sends half and ends its connection: the client gets every
    byte that was sent, then the end of its connection (a close frame cannot follow half a
    frame), and nothing of the relay is left open."""
    size = 4 << 20

    async def go() -> None:
        before = descriptors(roomy_server)
        reader, writer = await raw_websocket(roomy_server, f"proxy/{backend.port}/ws")
        writer.write(ws_frame(0x1, b"cut:%d" % size))
        head = await asyncio.wait_for(reader.readexactly(10), 30)
        assert head == bytes((0x82, 127)) + size.to_bytes(8, "big")
        rest = await read_until_end(reader)
        assert rest == b"c" * (size // 2)
        await hang_up(writer)
        await fds_back_to(roomy_server, before)

    run(go())


# -- TLS and shutdown: servers of their own --------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("tls")
    cert, key = Path(root, "cert.pem"), Path(root, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    s = JupyterServer(root, "", tls=(cert, key))
    yield s.start()
    s.stop()


def test_websocket_through_a_tls_server(tls_server: JupyterServer, backend: Backend) -> None:
    """With Jupyter serving TLS the client's connection stays with tornado's TLS stream; text,
    a message bigger than any buffer, and close codes still pass."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def go() -> None:
        # A raw client: its ``wait_closed`` returns only once the TLS connection is really
        # gone, so no transport outlives the test's event loop.
        reader, writer = await raw_websocket(tls_server, f"proxy/{backend.port}/ws", tls=context)
        writer.write(ws_frame(0x1, b"over tls"))
        assert await asyncio.wait_for(ws_read(reader), 30) == (0x1, b"over tls")
        big = os.urandom(3 << 20)
        writer.write(ws_frame(0x2, big))
        assert await asyncio.wait_for(ws_read(reader), 30) == (0x2, big)
        writer.write(ws_frame(0x1, b"close:4003:tls bye"))
        opcode, payload = await asyncio.wait_for(ws_read(reader), 30)
        assert (opcode, payload) == (0x8, (4003).to_bytes(2, "big") + b"tls bye")
        await hang_up(writer)

    run(go())


def test_a_tls_client_that_reads_nothing_holds_both_directions_back(
    tls_server: JupyterServer, backend: Backend
) -> None:
    """A TLS client sends far more than every buffer on the way holds and reads nothing: the
    echoes back up to the backend, the backend stops reading, and the proxy stops reading the
    client (whose own sending then stalls); once the client reads, every message arrives,
    whole and in order."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    count, block = 96, os.urandom(1 << 20)

    async def go() -> None:
        reader, writer = await raw_websocket(tls_server, f"proxy/{backend.port}/ws", tls=context)

        async def send() -> None:
            for i in range(count):
                writer.write(ws_frame(0x2, i.to_bytes(4, "big") + block))
                await writer.drain()

        sending = asyncio.ensure_future(send())
        # Held back: the client's own buffer fills once the proxy stops reading it.
        await poll_until(
            lambda: sending.done() or writer.transport.get_write_buffer_size() > 0,
            "the client's sending to stall or end",
            60,
        )
        for i in range(count):
            assert await asyncio.wait_for(ws_read(reader), 60) == (
                0x2,
                i.to_bytes(4, "big") + block,
            )
        await asyncio.wait_for(sending, 60)
        await hang_up(writer)

    run(go())


def test_server_shutdown_closes_websockets_with_1001(make_server: Any, backend: Backend) -> None:
    """Stopping the server closes relayed websockets with 1001 and a reason."""
    server: JupyterServer = make_server()

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(
                server.url(f"proxy/{backend.port}/ws", scheme="ws"), headers=server.auth
            ) as ws:
                await ws.send_str("up")
                assert await ws.receive_str() == "up"
                async with s.post(server.url("api/shutdown"), headers=server.auth) as r:
                    assert r.status == 200
                msg = await asyncio.wait_for(ws.receive(), 30)
                assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
                assert "shutting down" in msg.extra

    run(go())


def test_with_the_relay_thread_and_loopback_tuning_off_websockets_still_relay(
    make_server: Any, backend: Backend
) -> None:
    """``websocket_relay_thread = False`` and ``loopback_congestion_control = ""``: the relay
    runs on the server's loop and the backend connection keeps the host's congestion control;
    short and long messages still pass whole and in order, and stopping the server still
    closes the websocket with 1001 and the reason."""
    server: JupyterServer = make_server(
        "c.ServerProxy.websocket_relay_thread = False\n"
        'c.ServerProxy.loopback_congestion_control = ""\n'
    )

    async def go() -> None:
        reader, writer = await raw_websocket(server, f"proxy/{backend.port}/ws")
        for size in (5, 1 << 20, 300_000):
            payload = os.urandom(size)
            writer.write(ws_frame(0x2, payload) + ws_frame(0x1, b"after %d" % size))
            assert await asyncio.wait_for(ws_read(reader), 30) == (0x2, payload)
            assert await asyncio.wait_for(ws_read(reader), 30) == (0x1, b"after %d" % size)
        async with aiohttp.ClientSession() as s:
            async with s.post(server.url("api/shutdown"), headers=server.auth) as r:
                assert r.status == 200
        opcode, payload = await asyncio.wait_for(ws_read(reader), 30)
        assert (opcode, payload[:2]) == (0x8, (1001).to_bytes(2, "big"))
        assert b"shutting down" in payload
        await hang_up(writer)

    run(go())


def test_bad_client_handshakes_are_refused_with_the_reason(
    server: JupyterServer, backend: Backend
) -> None:
    """A wrong websocket version gets 426 with the version we speak; a missing key gets 400.
    Neither reaches the backend."""

    async def attempt(version: str, key: str | None) -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        lines = [
            f"GET {server.base_url}proxy/{backend.port}/ws?id=bad{version} HTTP/1.1",
            f"Host: 127.0.0.1:{server.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Version: {version}",
            f"Authorization: token {server.token}",
        ]
        if key is not None:
            lines.append(f"Sec-WebSocket-Key: {key}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        body = await asyncio.wait_for(reader.read(1000), 30)
        await hang_up(writer)
        return head, body

    async def go() -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        head, body = await attempt("12", key)
        assert head.startswith(b"HTTP/1.1 426") and b"sec-websocket-version: 13" in head.lower()
        assert b"version 13" in body
        head, body = await attempt("13", None)
        assert head.startswith(b"HTTP/1.1 400") and b"Sec-WebSocket-Key" in body
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{backend.port}/events") as r:
                recorded = await r.json()
        assert not any(k.startswith("ws_close_code:bad") for k in recorded)

    run(go())

"""Property-based attacks through a real Jupyter server: generated ``/proxy/...`` URLs never
reach a host outside the allowlist, and random bytes on a websocket, from the client or from
the backend, never take the server down.

How "never reaches" is proven: on Linux every address in 127.0.0.0/8 is the loopback interface,
so catch-all listeners on 127.0.0.2 and up, on the real backend's port and on the server's own
port, record any connection the proxy makes there. The allowlist is the default (localhost and
127.0.0.1), so none may ever arrive.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import threading
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jupyter_server_proxy.core.wsframes import accept_key
from tests.attack.rawhttp import fetch, read_head, ws_upgrade
from tests.conftest import Backend, JupyterServer, anon_kib, free_port
from tests.wsframes import ws_frame

FEW = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

OUTSIDE = ["127.0.0.2", "127.0.0.3", "127.1.2.3", "127.255.255.254"]


class CatchAll:
    """Listeners on loopback addresses outside the allowlist; records every connection."""

    def __init__(self, ports: list[int]) -> None:
        self.hits: list[tuple[str, int, bytes]] = []
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        for address in OUTSIDE:
            for port in ports:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((address, port))
                s.listen(64)
                s.setblocking(False)
                self._selector.register(s, selectors.EVENT_READ)
                self._sockets.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                listener = key.fileobj
                assert isinstance(listener, socket.socket)
                try:
                    conn, _ = listener.accept()
                except BlockingIOError:
                    continue
                with conn:
                    conn.settimeout(1)
                    try:
                        first = conn.recv(200)
                    except OSError:
                        first = b""
                    self.hits.append((*listener.getsockname(), first))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for s in self._sockets:
            s.close()
        self._selector.close()


_rss_at_start: dict[int, int] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    s = JupyterServer(tmp_path_factory.mktemp("attack"), "").start()
    assert s.proc is not None
    _rss_at_start[s.port] = anon_kib(s.proc.pid)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def catch_all(server: JupyterServer, backend: Backend) -> Iterator[CatchAll]:
    assert backend.port is not None
    listeners = CatchAll([backend.port, server.port, free_port()])
    yield listeners
    listeners.close()


# -- URLs ------------------------------------------------------------------------------------


def _hosts(port: int) -> st.SearchStrategy[str]:
    """Spellings of hosts outside the allowlist, and of allowed ones with something attached."""
    outside = [
        "127.0.0.2",
        "127.2",
        "2130706434",
        "0x7f000002",
        "0177.0.0.2",
        "127.0.0.2.",
        "[::ffff:127.0.0.2]",
        "[::ffff:7f00:2]",
        "127.1.2.3",
        "127.255.255.254",
    ]
    allowed = ["localhost", "127.0.0.1", "LOCALHOST", "127.0.0.1."]
    glue = ["@", "%40", ":", "%3A", "/", "%2F", "\\", "#", "%23", "?", ".", "..", ";", "%00"]
    return st.one_of(
        st.sampled_from(outside + allowed),
        st.builds(
            lambda a, g, b: f"{a}{g}{b}",
            st.sampled_from(outside + allowed + [str(port)]),
            st.sampled_from(glue),
            st.sampled_from(outside + allowed + [f"{h}:{port}" for h in outside]),
        ),
    )


def _urls(port: int) -> st.SearchStrategy[str]:
    host = _hosts(port)
    ports = st.one_of(
        st.just(str(port)),
        st.sampled_from([f"{port}@127.0.0.2", f"{port}%40127.0.0.2:{port}", f"0{port}"]),
        st.integers(0, 70000).map(str),
    )
    path = st.one_of(
        st.just("/tag"),
        st.sampled_from(
            [
                f"@127.0.0.2:{port}/",
                f"%40127.0.0.2:{port}/",
                f"/@127.0.0.2:{port}/",
                f"//127.0.0.2:{port}/",
                "/../../127.0.0.2/",
                f"/..%2F..%2F127.0.0.2:{port}",
                f"#@127.0.0.2:{port}",
                f"?@127.0.0.2:{port}",
                "",
            ]
        ),
        st.text(alphabet="/@:%.?#;a2", max_size=12),
    )
    prefix = st.sampled_from(["/proxy/", "/proxy/absolute/", "/proxy//", "/proxy/%2e/"])
    return st.one_of(
        st.builds(lambda pre, h, p, rest: f"{pre}{h}:{p}{rest}", prefix, host, ports, path),
        st.builds(lambda pre, p, rest: f"{pre}{p}{rest}", prefix, ports, path),
        st.builds(lambda pre, h, rest: f"{pre}{h}{rest}", prefix, host, path),
    )


def _request_target(url: str) -> str:
    """Keep the request line valid HTTP (no space, control or non-ASCII byte) and the rest as
    generated: the request must reach the proxy's routing, not tornado's parse error."""
    return quote(url, safe="/:@%?#;=&.[]\\!$'()*+,~-_")


@given(data=st.data())
@FEW
def test_generated_urls_never_reach_a_host_outside_the_allowlist(
    server: JupyterServer, backend: Backend, catch_all: CatchAll, data: st.DataObject
) -> None:
    """Whatever ``/proxy/...`` URL a client sends (other spellings of other loopback
    addresses, userinfo, encoded delimiters, dot segments, ports with something attached), the
    proxy connects to no address outside the allowlist: the catch-all records nothing, and the
    server keeps answering."""
    assert backend.port is not None
    url = data.draw(_urls(backend.port))

    async def go() -> None:
        for method in ("GET", "POST"):
            body = b"x" if method == "POST" else None
            answer = await fetch(server, _request_target(url), method=method, body=body)
            assert answer.status != 0
        await _try_upgrade(server, _request_target(url))

    asyncio.run(go())
    assert catch_all.hits == [], catch_all.hits


async def _try_upgrade(server: JupyterServer, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(ws_upgrade(server, path))
        status, _ = await asyncio.wait_for(read_head(reader), 60)
        return status
    finally:
        writer.transport.abort()


def test_the_catch_all_would_see_a_connection(
    server: JupyterServer, catch_all: CatchAll, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The detector works: with 127.0.0.2 allowed, the same proxy does reach the catch-all."""
    allowing = JupyterServer(
        tmp_path_factory.mktemp("allowing"), 'c.ServerProxy.host_allowlist = ["127.0.0.2"]\n'
    ).start()
    try:
        asyncio.run(fetch(allowing, f"/proxy/127.0.0.2:{server.port}/seen"))
    finally:
        allowing.stop()
    assert [h[:2] for h in catch_all.hits] == [("127.0.0.2", server.port)]
    catch_all.hits.clear()


# -- websockets: random bytes from either side ---------------------------------------------


async def _server_answers(server: JupyterServer) -> None:
    answer = await fetch(server, "/api/status")
    assert answer.status == 200, answer.status


frame_soup = st.lists(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            ws_frame,
            st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB]),
            st.binary(max_size=300),
            masked=st.booleans(),
        ),
        st.sampled_from(
            [
                bytes((0x82, 0xFF)) + (1 << 63).to_bytes(8, "big") + b"k" * 4,
                bytes((0x82, 0xFF)) + (2**64 - 1).to_bytes(8, "big") + b"k" * 4,
                bytes((0x02, 0x85)) + b"k" * 9,  # a fragment, then whatever follows
                bytes((0x89, 0xFE, 0x00, 0xFF)) + b"k" * 4,  # a 255-byte ping
            ]
        ),
    ),
    max_size=6,
).map(b"".join)


@given(soup=frame_soup)
@example(soup=bytes((0x82, 0xFF)) + (1 << 63).to_bytes(8, "big") + b"mask")
@FEW
def test_random_bytes_from_a_websocket_client(
    server: JupyterServer, backend: Backend, soup: bytes
) -> None:
    """Whatever a client sends after its handshake, the server stays up and answers the next
    request, and the client's connection ends or stays open (never a hang of the server)."""

    async def go() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ws_upgrade(server, f"/proxy/{backend.port}/ws"))
        status, _ = await asyncio.wait_for(read_head(reader), 60)
        assert status == 101
        writer.write(soup)
        await writer.drain()
        await _server_answers(server)
        writer.transport.abort()
        await _server_answers(server)

    asyncio.run(go())


@given(soup=frame_soup, close_after=st.booleans())
@example(soup=bytes((0x82, 0x7F)) + (1 << 63).to_bytes(8, "big"), close_after=False)
@FEW
def test_random_bytes_from_a_websocket_backend(
    server: JupyterServer, soup: bytes, close_after: bool
) -> None:
    """Whatever a backend sends after its 101, the server stays up and answers the next
    request; when the backend then leaves, the client's connection ends too, and when the
    client leaves, the backend's connection is let go."""

    async def go() -> None:
        released = asyncio.Event()

        async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                key = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                )
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept_key(key).encode()
                    + b"\r\n\r\n"
                    + soup
                )
                await writer.drain()
                if not close_after:
                    while await reader.read(65536):  # until the proxy lets go
                        pass
            except ConnectionError:
                pass
            finally:
                writer.close()
                released.set()

        listener = await asyncio.start_server(hostile, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(ws_upgrade(server, f"/proxy/{port}/ws"))
            status, _ = await asyncio.wait_for(read_head(reader), 60)
            assert status == 101
            await _server_answers(server)
            if close_after:
                # The backend left: the proxy ends the client's side (bounded wait for EOF).
                while await asyncio.wait_for(reader.read(65536), 60):
                    pass
            writer.transport.abort()
            # The client left (or the backend did): the backend's connection is let go.
            await asyncio.wait_for(released.wait(), 60)
            await _server_answers(server)

    asyncio.run(go())


def test_memory_stays_bounded_after_the_attacks(server: JupyterServer) -> None:
    """After every attack above, the server still answers and holds no runaway memory (frames
    that announce 2^63 bytes are never allocated up front)."""
    assert server.proc is not None
    asyncio.run(_server_answers(server))
    assert anon_kib(server.proc.pid) - _rss_at_start[server.port] < 64 * 1024

"""Congestion control on backend connections: a pacing one (bbr) is replaced on loopback only."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.tcptune import is_loopback, unpaced_to_loopback
from jupyter_server_proxy.upstream import connect

OPTION = getattr(socket, "TCP_CONGESTION", None)
needs_option = pytest.mark.skipif(OPTION is None, reason="no TCP_CONGESTION on this platform")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.8.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%lo", False),  # link-local is another host's reach, not loopback
        ("localhost", False),  # getpeername gives addresses; a name is not trusted as one
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def congestion(sock: socket.socket) -> bytes:
    assert OPTION is not None
    return sock.getsockopt(socket.IPPROTO_TCP, OPTION, 16).rstrip(b"\0")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected TCP pair on 127.0.0.1: (our end, the backend's end)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()
    with ours, theirs:
        yield ours, theirs


def try_set(sock: socket.socket, name: bytes) -> None:
    assert OPTION is not None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, OPTION, name)
    except OSError as e:
        pytest.skip(f"congestion control {name.decode()} not available here: {e.strerror}")


@needs_option
def test_bbr_to_a_loopback_peer_becomes_reno(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    try_set(ours, b"bbr")
    try_set(theirs, b"bbr")
    unpaced_to_loopback(ours)
    assert congestion(ours) == b"reno"
    assert congestion(theirs) == b"bbr"  # the backend's own sending side is its business
    ours.sendall(b"still connected")
    assert theirs.recv(100) == b"still connected"


@needs_option
def test_a_control_that_does_not_pace_is_left_alone(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _ = pair
    try_set(ours, b"cubic")
    unpaced_to_loopback(ours)
    assert congestion(ours) == b"cubic"


def test_sockets_it_does_not_apply_to_are_left_alone(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = socket.socketpair()  # unix
    with left, right:
        unpaced_to_loopback(left)
        left.sendall(b"x")
        assert right.recv(1) == b"x"
    ours, theirs = pair
    theirs.close()
    ours.close()
    unpaced_to_loopback(ours)  # closed: getpeername fails, nothing is raised
    unpaced_to_loopback(None)  # a transport without a socket


@needs_option
def test_backend_connections_get_it_by_the_hosts_default() -> None:
    """``upstream.connect`` (every HTTP, websocket and raw-socket backend connection): reno if
    the host's default paces, else the default itself."""
    with socket.socket() as fresh:
        default = congestion(fresh)
    expected = b"reno" if default.startswith(b"bbr") else default

    async def go(port: int) -> bytes:
        transport = await connect(Target(host="127.0.0.1", port=port), asyncio.Protocol(), 5)
        try:
            return congestion(transport.get_extra_info("socket"))
        finally:
            transport.close()

    with socket.create_server(("127.0.0.1", 0)) as listener:
        got = asyncio.run(go(listener.getsockname()[1]))
        listener.accept()[0].close()
    assert got == expected

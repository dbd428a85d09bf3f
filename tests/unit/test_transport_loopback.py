"""Congestion control on backend connections: a pacing one (bbr) is replaced on loopback only."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.connect import connect
from jupyter_server_proxy.transport.loopback import is_loopback, refusal, unpaced_to_loopback

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
    unpaced_to_loopback(ours, "reno")
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
    unpaced_to_loopback(ours, "reno")
    assert congestion(ours) == b"cubic"


def test_sockets_it_does_not_apply_to_are_left_alone(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = socket.socketpair()  # unix
    with left, right:
        unpaced_to_loopback(left, "reno")
        left.sendall(b"x")
        assert right.recv(1) == b"x"
    ours, theirs = pair
    theirs.close()
    ours.close()
    unpaced_to_loopback(ours, "reno")  # closed: getpeername fails, nothing is raised
    unpaced_to_loopback(None, "reno")  # a transport without a socket


async def connected_control(port: int, congestion_control: str) -> bytes:
    """The congestion control of a backend connection ``transport.connect`` opens (every HTTP,
    websocket and raw-socket backend connection is opened by it)."""
    target = Target(host="127.0.0.1", port=port)
    transport = await connect(target, asyncio.Protocol(), 5, congestion_control=congestion_control)
    try:
        return congestion(transport.get_extra_info("socket"))
    finally:
        transport.close()


def control_of_a_backend_connection(congestion_control: str) -> bytes:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        got = asyncio.run(connected_control(listener.getsockname()[1], congestion_control))
        listener.accept()[0].close()
    return got


def hosts_default() -> bytes:
    with socket.socket() as fresh:
        return congestion(fresh)


@needs_option
def test_backend_connections_get_it_by_the_hosts_default() -> None:
    """With the default setting: reno if the host's default paces, else the default itself."""
    default = hosts_default()
    expected = b"reno" if default.startswith(b"bbr") else default
    assert control_of_a_backend_connection("reno") == expected


@pytest.fixture
def pacing_default() -> bytes:
    """The host's default congestion control, where it paces (else the test is skipped)."""
    if OPTION is None:
        pytest.skip("no TCP_CONGESTION on this platform")
    default = hosts_default()
    if not default.startswith(b"bbr"):
        pytest.skip(f"the host's default is {default.decode()}: the tuning would not apply")
    return default


def test_with_the_tuning_off_a_backend_connection_keeps_the_hosts_choice(
    pacing_default: bytes,
) -> None:
    """``loopback_congestion_control = ""``: nothing is changed, bbr included."""
    assert control_of_a_backend_connection("") == pacing_default


def test_another_replacement_can_be_named(pacing_default: bytes) -> None:
    if refusal("cubic") is not None:
        pytest.skip("cubic is not allowed here")
    assert control_of_a_backend_connection("cubic") == b"cubic"


def test_names_the_kernel_refuses_are_told_with_the_reason() -> None:
    assert refusal("") is None  # off
    assert refusal("reno") is None  # always allowed (net.ipv4.tcp_allowed_congestion_control)
    assert "not a congestion control name" in (refusal("x" * 16) or "")
    assert "not a congestion control name" in (refusal("rénö") or "")
    if OPTION is not None:
        problem = refusal("no-such-control")
        assert problem is not None and "no-such-control" in problem
        assert "tcp_allowed_congestion_control" in problem

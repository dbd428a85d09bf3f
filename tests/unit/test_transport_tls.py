"""The HTTP client over TLS (``transport/tls.py``, ``connect.py``, the pool's keys), against
small asyncio TLS servers on loopback and a unix socket, with certificates from a CA made here.

A backend's TLS is the configuration's choice; a TLS connection and a plain one to the same
address never stand in for each other in the pool; a certificate that does not verify is a 502
that says why; everything else about an exchange is as over plain TCP.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_server_proxy.core.errors import UpstreamUnavailable
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.core.tls import TlsSettings
from jupyter_server_proxy.transport.pool import Upstream
from tests.conftest import run
from tests.tlsca import TlsFiles, make_tls_files
from tests.unit.test_transport_reuse import OK, fake_connections, get
from tests.unit.transport_harness import TARGET, settle


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


class TlsServer:
    """Answers every request on a connection with 200 ``ok``; counts connections. Blocking
    sockets on threads, as a typical server does TLS: a failed handshake sends its alert
    (asyncio's own servers drop it unsent)."""

    def __init__(self, certfile: Path, client_ca: Path | None = None) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(certfile))
        if client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(str(client_ca))
        self.connections = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:  # closed: the server stops
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,))
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            try:
                with self.context.wrap_socket(sock, server_side=True) as tls:
                    pending = b""
                    while True:
                        data = tls.recv(65536)
                        if not data:
                            return
                        pending += data
                        while b"\r\n\r\n" in pending:
                            _, _, pending = pending.partition(b"\r\n\r\n")
                            tls.sendall(OK)
            except OSError:  # a handshake refused, a client gone
                return

    def _listen(self, family: int, address: str | tuple[str, int]) -> socket.socket:
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen()
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,))
        self._threads.append(thread)
        thread.start()
        return listener

    async def start_tcp(self) -> int:
        return int(self._listen(socket.AF_INET, ("127.0.0.1", 0)).getsockname()[1])

    async def start_unix(self, path: str) -> None:
        self._listen(socket.AF_UNIX, path)

    async def stop(self) -> None:
        assert self._listener is not None
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 10)


async def fetch(upstream: Upstream, target: Target) -> tuple[int, bytes]:
    response = await upstream.request("GET", target, "/", [], None)
    body = await response.read_all(1 << 20, "too big")
    response.release()
    return response.status, body


async def over_tcp(certfile: Path, tls: TlsSettings, requests: int = 1, **kw: Path) -> TlsServer:
    """``requests`` requests through one pool to a TLS server with ``certfile``."""
    server = TlsServer(certfile, **kw)
    port = await server.start_tcp()
    upstream = Upstream()
    try:
        for _ in range(requests):
            assert await fetch(upstream, Target("127.0.0.1", port, tls=tls)) == (200, b"ok")
    finally:
        await upstream.close()
        await server.stop()
    return server


def refusal(certfile: Path, tls: TlsSettings, **kw: Path) -> str:
    with pytest.raises(UpstreamUnavailable) as caught:
        run(over_tcp(certfile, tls, **kw))
    assert caught.value.status == 502
    return caught.value.message


def test_requests_over_tls_share_one_pooled_connection(files: TlsFiles) -> None:
    """Three requests to a TLS backend whose certificate verifies against ``ca_file`` go over
    one kept-alive TLS connection."""
    server = run(over_tcp(files.server, TlsSettings(ca_file=str(files.ca)), requests=3))
    assert server.connections == 1


@pytest.fixture
def socket_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="jsp-tls-")
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


def test_tls_over_a_unix_socket(files: TlsFiles, socket_dir: str) -> None:
    """TLS works over a unix socket too; the name checked is ``server_hostname`` (the
    certificate names ``localhost``, which is also what a unix target is called)."""
    path = os.path.join(socket_dir, "tls.sock")

    async def go() -> None:
        server = TlsServer(files.server)
        await server.start_unix(path)
        upstream = Upstream()
        try:
            tls = TlsSettings(ca_file=str(files.ca), server_hostname="localhost")
            target = Target("localhost", unix_socket=path, tls=tls)
            assert await fetch(upstream, target) == (200, b"ok")
            assert await fetch(upstream, target) == (200, b"ok")
        finally:
            await upstream.close()
            await server.stop()
        assert server.connections == 1

    run(go())


def test_expired_certificate_is_named(files: TlsFiles) -> None:
    message = refusal(files.expired, TlsSettings(ca_file=str(files.ca)))
    assert "did not verify: the certificate has expired" in message


def test_unknown_issuer_is_named(files: TlsFiles) -> None:
    message = refusal(files.unknown_issuer, TlsSettings(ca_file=str(files.ca)))
    assert "did not verify: its issuer is unknown" in message


def test_system_cas_do_not_trust_the_test_ca(files: TlsFiles) -> None:
    """``tls: True`` trusts the system's CAs only: a backend of a private CA is refused."""
    message = refusal(files.server, TlsSettings())
    assert "its issuer is unknown" in message


def test_name_mismatch_is_named(files: TlsFiles) -> None:
    message = refusal(files.wrong_name, TlsSettings(ca_file=str(files.ca)))
    assert "did not verify: it does not name the host (name mismatch)" in message
    assert "127.0.0.1" in message


def test_server_hostname_is_the_name_checked(files: TlsFiles) -> None:
    """A certificate for another name verifies when ``server_hostname`` is that name."""
    tls = TlsSettings(ca_file=str(files.ca), server_hostname="elsewhere.example")
    run(over_tcp(files.wrong_name, tls))


def test_verify_false_accepts_any_certificate(files: TlsFiles) -> None:
    run(over_tcp(files.unknown_issuer, TlsSettings(verify=False)))
    run(over_tcp(files.expired, TlsSettings(verify=False)))


def test_client_certificate(files: TlsFiles) -> None:
    """A backend that requires a client certificate gets ours from ``cert_file``/``key_file``;
    without one, the 502 says that a client certificate may be what is missing."""
    tls = TlsSettings(
        ca_file=str(files.ca), cert_file=str(files.client_cert), key_file=str(files.client_key)
    )
    run(over_tcp(files.server, tls, client_ca=files.ca))
    with pytest.raises(UpstreamUnavailable) as caught:
        run(over_tcp(files.server, TlsSettings(ca_file=str(files.ca)), client_ca=files.ca))
    # The backend's alert when it arrives, else (lost to the reset of our crossing request)
    # the closed connection with a hint at the client certificate.
    said = " ".join([caught.value.message, *caught.value.details]).lower()
    assert "certificate required" in said or "requires a client certificate" in said


def test_plain_speaking_backend_is_a_tls_failure(files: TlsFiles) -> None:
    """A backend configured for TLS that answers in plain HTTP fails the handshake: 502."""

    async def go() -> str:
        async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            writer.close()

        server = await asyncio.start_server(plain, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        upstream = Upstream()
        try:
            with pytest.raises(UpstreamUnavailable) as caught:
                await fetch(upstream, Target("127.0.0.1", port, tls=TlsSettings(verify=False)))
            return caught.value.message
        finally:
            await upstream.close()
            server.close()
            await server.wait_closed()

    assert run(go()).startswith("TLS with 127.0.0.1:")


def test_tls_and_plain_connections_never_mix() -> None:
    """Fed bytes: a plain connection kept idle for an address is not handed to a TLS request
    to that address, nor a TLS one to a request with other TLS settings; each gets its own
    connection, and each is reused by its own kind."""

    async def go() -> None:
        pool = Upstream()
        made = fake_connections(pool)
        plain = TARGET
        tls = Target(TARGET.host, TARGET.port, tls=TlsSettings())
        other = Target(TARGET.host, TARGET.port, tls=TlsSettings(verify=False))
        for target in (plain, tls, other, plain, tls, other):
            before = {id(t): len(t.written) for t in made}
            requesting = asyncio.ensure_future(pool.request("GET", target, "/", [], None))
            await settle()
            (transport,) = [t for t in made if len(t.written) > before.get(id(t), 0)]
            transport.feed(OK)
            response = await requesting
            assert await response.read_all(1 << 20, "too big") == b"ok"
            response.release()
        assert len(made) == 3
        assert await get(pool, made, OK) == b"ok"  # plain TARGET: still the first connection
        assert len(made) == 3
        await pool.close()

    run(go())

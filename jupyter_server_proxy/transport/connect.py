"""Opening a connection to a backend, for the HTTP client and the websocket and raw bridges;
over TLS when the target says so (``tls.py``), the handshake included in the connect's time."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from typing import Any

from ..core.errors import HostNotAllowed, UpstreamTimeout, UpstreamUnavailable
from ..core.routing import Target
from .loopback import unpaced_to_loopback
from .timelimit import within
from .tls import client_context, server_hostname, tls_failure


async def connect(
    target: Target, protocol: asyncio.BaseProtocol, timeout: float, *, congestion_control: str
) -> asyncio.BaseTransport:
    """Connect ``protocol`` to the backend over TCP or its unix socket, within ``timeout``
    seconds (0: no limit); failures become our errors, naming the backend. A loopback TCP
    connection gets ``congestion_control`` in place of a pacing one ("": left as it is)."""
    loop = asyncio.get_running_loop()
    tls: dict[str, Any] = {}
    try:
        if target.tls is not None:
            tls = {"ssl": client_context(target.tls), "server_hostname": server_hostname(target)}
        if target.unix_socket:
            connecting = loop.create_unix_connection(lambda: protocol, target.unix_socket, **tls)
        else:
            assert target.port is not None  # a Target has a port or a unix socket
            host = target.host
            if target.address_check is not None:
                host = await within(_allowed_address(target, target.address_check), timeout)
            connecting = loop.create_connection(lambda: protocol, host, target.port, **tls)
        transport, _ = await within(connecting, timeout)
    except asyncio.TimeoutError as e:
        raise UpstreamTimeout(
            f"could not connect to {target.where} within the configured timeout"
        ) from e
    except ssl.SSLError as e:
        raise tls_failure(target.where, e) from e
    except OSError as e:
        raise UpstreamUnavailable(f"could not connect to {target.where}: {e.strerror or e}") from e
    unpaced_to_loopback(transport.get_extra_info("socket"), congestion_control)
    return transport


async def _allowed_address(target: Target, allowed: Callable[[str], bool]) -> str:
    """The first address ``target``'s name resolves to that ``allowed`` accepts. The connection
    goes to that very address, so a name cannot be checked on one lookup and reach another
    (DNS rebinding). ``HostNotAllowed`` when none is, naming what the name resolved to."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        target.host, target.port, type=socket.SOCK_STREAM
    )
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        if allowed(address):
            return address
    raise HostNotAllowed(
        f"host {target.host!r} resolves to {', '.join(addresses)}, in no network of"
        " c.ServerProxy.host_allowlist"
    )

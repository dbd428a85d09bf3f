"""Opening a connection to a backend, for the HTTP client and the websocket and raw bridges."""

from __future__ import annotations

import asyncio

from ..core.errors import UpstreamTimeout, UpstreamUnavailable
from ..core.routing import Target
from .loopback import unpaced_to_loopback
from .timelimit import within


async def connect(
    target: Target, protocol: asyncio.BaseProtocol, timeout: float, *, congestion_control: str
) -> asyncio.BaseTransport:
    """Connect ``protocol`` to the backend over TCP or its unix socket, within ``timeout``
    seconds (0: no limit); failures become our errors, naming the backend. A loopback TCP
    connection gets ``congestion_control`` in place of a pacing one ("": left as it is)."""
    loop = asyncio.get_running_loop()
    try:
        if target.unix_socket:
            connecting = loop.create_unix_connection(lambda: protocol, target.unix_socket)
        else:
            assert target.port is not None  # a Target has a port or a unix socket
            connecting = loop.create_connection(lambda: protocol, target.host, target.port)
        transport, _ = await within(connecting, timeout)
    except asyncio.TimeoutError as e:
        raise UpstreamTimeout(
            f"could not connect to {target.where} within the configured timeout"
        ) from e
    except OSError as e:
        raise UpstreamUnavailable(f"could not connect to {target.where}: {e.strerror or e}") from e
    unpaced_to_loopback(transport.get_extra_info("socket"), congestion_control)
    return transport

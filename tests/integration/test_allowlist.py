"""``host_allowlist`` entries beyond 4.x's exact hosts, through ``/proxy/<host>:<port>/`` on a
real server: a network lets in an address in it, and a name whose address is in it (the
connection goes to the address that was checked); a port range limits an entry; a name that
resolves outside every network is refused with what it resolved to; a bad entry is named in the
log and allows nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import Backend, JupyterServer, module_server

CONFIG = """
c.ServerProxy.host_allowlist = ["127.0.0.0/8", "*.invalid:1-2", "bad entry"]
"""


server = module_server(CONFIG)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    config = 'c.ServerProxy.host_allowlist = ["10.0.0.0/8", "127.0.0.1:1-2"]\n'
    s = JupyterServer(tmp_path_factory.mktemp("srv"), config).start()
    yield s
    s.stop()


async def _get(server: JupyterServer, path: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url(path), headers=server.auth) as r:
            return r.status, await r.read()


def get(server: JupyterServer, path: str) -> Any:
    return asyncio.run(_get(server, path))


def test_an_address_in_a_network_is_allowed(server: JupyterServer, backend: Backend) -> None:
    status, body = get(server, f"proxy/127.0.0.1:{backend.port}/echo/net")
    assert status == 200, body


def test_a_name_resolving_into_a_network_is_allowed(
    server: JupyterServer, backend: Backend
) -> None:
    """``localhost`` is not listed as written; it resolves to 127.0.0.1 (and perhaps ::1, which
    no network here covers): the connection goes to the address in the network."""
    status, body = get(server, f"proxy/localhost:{backend.port}/echo/by-name")
    assert status == 200, body


def test_a_name_resolving_outside_every_network_is_refused_with_the_addresses(
    elsewhere: JupyterServer, backend: Backend
) -> None:
    status, body = get(elsewhere, f"proxy/localhost:{backend.port}/echo/")
    assert status == 403, body
    assert b"resolves to" in body and b"127.0.0.1" in body
    # 127.0.0.1 is listed, but for ports 1-2 only
    status, body = get(elsewhere, f"proxy/127.0.0.1:{backend.port}/echo/")
    assert status == 403, body


def test_a_bad_entry_is_named_in_the_log_and_the_rest_work(
    server: JupyterServer, backend: Backend
) -> None:
    assert "host_allowlist entry 'bad entry'" in server.log()
    status, body = get(server, f"proxy/bad%20entry:{backend.port}/echo/")
    assert status == 403, body

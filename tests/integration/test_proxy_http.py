"""The proxy engine over HTTP, through a real Jupyter server to a real backend.

Every test runs under the default base_url and under ``/user/alice/`` (as JupyterHub serves it).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import (
    Backend,
    JupyterServer,
    anon_kib,
    download_with_peak_rss,
    free_port,
    poll_until,
    run,
)


@pytest.fixture(scope="module", params=["/", "/user/alice/"], ids=["root", "hub-prefix"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    config = """
c.ServerProxy.host_allowlist = ["localhost", "127.0.0.1", "[::1]"]
"""
    s = JupyterServer(tmp_path_factory.mktemp("srv"), config, request.param).start()
    yield s
    s.stop()


async def fetch(
    server: JupyterServer,
    method: str,
    path: str,
    *,
    auth: bool = True,
    headers: dict[str, str] | None = None,
    data: Any = None,
    read: bool = True,
) -> tuple[int, Any, bytes]:
    hdrs = dict(server.auth if auth else {})
    hdrs.update(headers or {})
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.request(
            method, server.url(path), headers=hdrs, data=data, allow_redirects=False
        ) as resp:
            body = await resp.read() if read else b""
            return resp.status, resp.headers, body


def echo(server: JupyterServer, path: str, **kw: Any) -> dict[str, Any]:
    status, _, body = run(fetch(server, kw.pop("method", "GET"), path, **kw))
    assert status == 200, body
    return json.loads(body)


def header(doc: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def test_relative_route_strips_prefix_and_sends_context(
    server: JupyterServer, backend: Backend
) -> None:
    """/proxy/<port>/x reaches the backend as /x, with the context path in all three headers."""
    doc = echo(server, f"proxy/{backend.port}/echo/a?x=1&y=2")
    assert doc["path"] == "/echo/a"
    assert doc["query"] == "x=1&y=2"
    context = f"{server.base_url}proxy/{backend.port}"
    for name in ("X-Forwarded-Context", "X-ProxyContextPath", "X-Forwarded-Prefix"):
        assert header(doc, name) == [context]


def test_absolute_route_sends_full_path(server: JupyterServer, backend: Backend) -> None:
    """/proxy/absolute/<port>/x reaches the backend with the full path."""
    doc = echo(server, f"proxy/absolute/{backend.port}/echo/b")
    assert doc["path"] == f"{server.base_url}proxy/absolute/{backend.port}/echo/b"


def test_host_port_routes(server: JupyterServer, backend: Backend) -> None:
    """/proxy/<host>:<port>/ works for allowed hosts, relative and absolute."""
    doc = echo(server, f"proxy/127.0.0.1:{backend.port}/echo/c")
    assert doc["path"] == "/echo/c"
    assert header(doc, "X-Forwarded-Context") == [
        f"{server.base_url}proxy/127.0.0.1:{backend.port}"
    ]
    doc = echo(server, f"proxy/absolute/localhost:{backend.port}/echo/d")
    assert doc["path"] == f"{server.base_url}proxy/absolute/localhost:{backend.port}/echo/d"


def test_host_not_in_allowlist_is_403(server: JupyterServer) -> None:
    """A host outside host_allowlist gets 403 naming the host, and no connection is made."""
    status, _, body = run(fetch(server, "GET", "proxy/example.com:80/"))
    assert status == 403
    assert b"example.com" in body and b"host_allowlist" in body


def test_encoded_slash_is_forwarded_as_is(server: JupyterServer, backend: Backend) -> None:
    """%2F stays %2F (and other escapes stay escaped) on the way to the backend."""
    doc = echo(server, f"proxy/{backend.port}/a%2Fb/c%20d")
    assert doc["path"] == "/a%2Fb/c%20d"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_methods_with_body(server: JupyterServer, backend: Backend, method: str) -> None:
    """Every method carries its body (DELETE included)."""
    doc = echo(server, f"proxy/{backend.port}/m", method=method, data=b"payload")
    assert doc["method"] == method and doc["body"] == "payload"


def test_patch_without_body_and_options_and_head(server: JupyterServer, backend: Backend) -> None:
    """PATCH without a body, OPTIONS and HEAD work."""
    doc = echo(server, f"proxy/{backend.port}/m", method="PATCH")
    assert doc["method"] == "PATCH" and doc["body_length"] == 0
    doc = echo(server, f"proxy/{backend.port}/m", method="OPTIONS")
    assert doc["method"] == "OPTIONS"
    status, headers, body = run(fetch(server, "HEAD", f"proxy/{backend.port}/bytes/1000"))
    assert status == 200 and body == b"" and headers["Content-Length"] == "1000"


def test_unauthenticated_get_redirects_and_post_is_403(
    server: JupyterServer, backend: Backend
) -> None:
    """Without a Jupyter login: GET goes to the login page, other methods get 403."""
    status, headers, _ = run(fetch(server, "GET", f"proxy/{backend.port}/x", auth=False))
    assert status == 302 and "login" in headers["Location"]
    status, _, _ = run(fetch(server, "POST", f"proxy/{backend.port}/x", auth=False, data=b"x"))
    assert status == 403


def test_jupyter_credentials_never_reach_the_backend(
    server: JupyterServer, backend: Backend
) -> None:
    """The server's token (header and query), Jupyter login and JupyterHub cookies are removed;
    _xsrf, other cookies, other Authorization schemes and an app's own token pass."""
    port = server.port
    cookie = (
        f"username-127-0-0-1-{port}=secret; jupyterhub-session-id=hub; "
        "jupyterhub-user-alice=u; _xsrf=abc; app=1"
    )
    # A browser's Referer names the page the request came from: Lab, opened with the token.
    referer = f"http://127.0.0.1:{port}/lab/tree?token={server.token}&reset"
    doc = echo(
        server,
        f"proxy/{backend.port}/c?token={server.token}&keep=1",
        headers={"Cookie": cookie, "Referer": referer},
    )
    assert header(doc, "Authorization") == []
    assert header(doc, "Cookie") == ["_xsrf=abc; app=1"]
    assert doc["query"] == "keep=1"
    assert header(doc, "Referer") == [f"http://127.0.0.1:{port}/lab/tree?reset"]
    assert server.token not in json.dumps(doc)
    # The app's own token (another value) passes, and so does another Authorization scheme.
    # (Jupyter reads the last ``token`` argument, so the server's comes last here.)
    status, _, body = run(
        fetch(
            server,
            "GET",
            f"proxy/{backend.port}/c?token=apps-own&token={server.token}",
            auth=False,
            headers={"Authorization": "Basic dXNlcjpwYXNz"},
        )
    )
    doc = json.loads(body)
    assert status == 200
    assert doc["query"] == "token=apps-own"
    assert header(doc, "Authorization") == ["Basic dXNlcjpwYXNz"]


def test_repeated_set_cookie_survives(server: JupyterServer, backend: Backend) -> None:
    """Two Set-Cookie fields from the backend reach the client as two fields."""
    status, headers, _ = run(fetch(server, "GET", f"proxy/{backend.port}/cookies"))
    assert status == 200
    # (Jupyter may add its own login cookie after a token login; the backend's two must be there.)
    backend_cookies = [c for c in headers.getall("Set-Cookie") if not c.startswith("username-")]
    assert backend_cookies == ["a=1; Path=/", "b=2; Path=/"]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/login?next=%2F", "{prefix}/login?next=%2F"),
        ("next/page", "next/page"),
        ("../up", "../up"),
        ("https://example.org/x", "https://example.org/x"),
        ("http://127.0.0.1:{port}/same?q=1", "{prefix}/same?q=1"),
    ],
)
def test_location_rewritten_per_rfc3986(
    server: JupyterServer, backend: Backend, location: str, expected: str
) -> None:
    """Absolute paths and same-backend URLs get the prefix; relative and foreign ones stay."""
    prefix = f"{server.base_url}proxy/{backend.port}"
    loc = location.format(port=backend.port)
    status, headers, _ = run(
        fetch(
            server, "GET", f"proxy/{backend.port}/redirect?to={aiohttp.helpers.quote(loc, safe='')}"
        )
    )
    assert status == 302
    assert headers["Location"] == expected.format(prefix=prefix, port=backend.port)


def test_location_untouched_on_absolute_route(server: JupyterServer, backend: Backend) -> None:
    """With absolute_url the backend already knows the full path; its Location stays."""
    loc = f"{server.base_url}proxy/absolute/{backend.port}/y"
    status, headers, _ = run(
        fetch(server, "GET", f"proxy/absolute/{backend.port}/any?redirect_to={loc}")
    )
    assert status == 302 and headers["Location"] == loc


def test_content_encoding_passes_untouched(server: JupyterServer, backend: Backend) -> None:
    """A gzip body reaches the client compressed, with its Content-Encoding."""
    status, headers, body = run(fetch(server, "GET", f"proxy/{backend.port}/gzip"))
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == b"hello gzip"


def test_refused_backend_is_502_naming_the_cause(server: JupyterServer) -> None:
    """A port nothing listens on: 502, and the page says the connection was refused."""
    port = free_port()
    status, _, body = run(fetch(server, "GET", f"proxy/{port}/"))
    assert status == 502
    assert f"127.0.0.1:{port}".encode() in body or f"localhost:{port}".encode() in body
    assert b"onnect" in body


def test_json_errors_for_api_clients(server: JupyterServer) -> None:
    """Clients that ask for JSON get the error as JSON."""
    port = free_port()
    status, _, body = run(
        fetch(server, "GET", f"proxy/{port}/", headers={"Accept": "application/json"})
    )
    assert status == 502 and json.loads(body)["status"] == 502


@pytest.mark.parametrize("target", ["99999", "0", "proxy-me", "a@b:80", "%3Cscript%3E"])
def test_malformed_targets_are_404_and_escaped(server: JupyterServer, target: str) -> None:
    """A URL naming no valid target gets 404 (as with 4.x) explaining the URL forms; nothing is
    echoed unescaped."""
    status, _, body = run(fetch(server, "GET", f"proxy/{target}/x"))
    assert status == 404, body
    assert b"<script>" not in body
    assert b"/proxy/&lt;port&gt;/" in body or b"not a" in body


def test_header_injection_through_the_path_is_inert(
    server: JupyterServer, backend: Backend
) -> None:
    """Encoded CR/LF in a path stays encoded; no header appears out of it on either side."""
    status, headers, body = run(
        fetch(server, "GET", f"proxy/{backend.port}/x%0D%0ASet-Cookie:%20evil=1")
    )
    assert status == 200
    assert "evil=1" not in " ".join(headers.getall("Set-Cookie", []))
    doc = json.loads(body)
    assert doc["path"] == "/x%0D%0ASet-Cookie:%20evil=1"
    assert all(k.lower() != "set-cookie" for k, _ in doc["headers"])


def test_sse_events_flow_as_produced(server: JupyterServer, backend: Backend) -> None:
    """text/event-stream: the first events arrive before the backend produced the last one."""

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                server.url(f"proxy/{backend.port}/sse/3"), headers=server.auth
            ) as resp:
                assert resp.headers["Content-Type"].startswith("text/event-stream")
                first = await resp.content.readuntil(b"\n\n")
                assert first == b"data: event 0\n\n"
                second = await resp.content.readuntil(b"\n\n")
                assert second == b"data: event 1\n\n"
                # Only now let the backend produce the last one.
                async with session.get(f"http://127.0.0.1:{backend.port}/sse-go") as go_resp:
                    assert go_resp.status == 200
                assert await resp.content.readuntil(b"\n\n") == b"data: event 2\n\n"

    run(go())


def test_event_behind_a_large_one_is_not_held_back(server: JupyterServer, backend: Backend) -> None:
    """An event that arrives while a large one is still going out to a slow client is sent as
    soon as the client catches up, not when the backend produces something more."""
    big = 8 << 20

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                server.url(f"proxy/{backend.port}/sse/3?big={big}"), headers=server.auth
            ) as resp:
                # The behaviour under test, not a wait for a condition: a client that reads
                # nothing for a while, so the proxy's write of event 0 is still pending when
                # event 1 arrives (the test holds however the timing lands).
                await asyncio.sleep(0.5)
                size = len(b"data: event 0\n\n") + big
                first = await asyncio.wait_for(resp.content.readexactly(size), 30)
                assert first.startswith(b"data: event 0x")
                # The backend now waits for /sse-go: event 1 must come through on its own.
                second = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 30)
                assert second == b"data: event 1\n\n"
                async with session.get(f"http://127.0.0.1:{backend.port}/sse-go") as go_resp:
                    assert go_resp.status == 200
                assert await resp.content.readuntil(b"\n\n") == b"data: event 2\n\n"

    run(go())


def test_backend_dying_mid_body_aborts_the_client(server: JupyterServer, backend: Backend) -> None:
    """If the backend breaks off mid-body, the client sees a broken response, not a short one."""

    async def go() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                server.url(f"proxy/{backend.port}/die/1000"), headers=server.auth
            ) as resp:
                assert resp.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()

    run(go())


def test_large_download_streams_with_bounded_memory(
    server: JupyterServer, backend: Backend
) -> None:
    """512 MiB pass through while the server's memory grows by far less than the body."""
    size = 512 << 20
    grew = download_with_peak_rss(server, f"proxy/{backend.port}/bytes/{size}", size)
    assert grew < 64 * 1024, f"memory grew by {grew // 1024} MiB"


def test_large_upload_streams_with_bounded_memory(server: JupyterServer, backend: Backend) -> None:
    """A 640 MiB chunked upload (more than Jupyter's 512 MiB max_body_size, which applies to
    buffering handlers) streams to the backend intact while the server's memory stays bounded."""
    size = 640 << 20
    chunk = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    for _ in range(size // len(chunk)):
        digest.update(chunk)
    assert server.proc is not None
    before = anon_kib(server.proc.pid)
    peak = before

    async def body() -> AsyncIterator[bytes]:
        nonlocal peak
        for i in range(size // len(chunk)):
            if i % 32 == 0:
                peak = max(peak, anon_kib(server.proc.pid))  # type: ignore[union-attr]
            yield chunk

    status, _, data = run(fetch(server, "POST", f"proxy/{backend.port}/sink", data=body()))
    assert status == 200, data
    doc = json.loads(data)
    assert doc == {"received": size, "sha256": digest.hexdigest()}
    assert (peak - before) < 64 * 1024, f"memory grew by {(peak - before) // 1024} MiB"


def test_expect_100_continue(server: JupyterServer, backend: Backend) -> None:
    """A client that waits for 100 Continue before it sends its body (curl does so for large
    uploads, RFC 9110 §10.1.1) gets it, and the body then reaches the backend whole; an
    unauthenticated one gets its final answer instead and never sends the body."""
    body = bytes(range(256)) * 4096  # 1 MiB
    path = f"{server.base_url}proxy/{backend.port}/sink"

    async def post(auth: bool) -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            token = f"Authorization: token {server.token}\r\n" if auth else ""
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{token}"
                f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
            )
            first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            if not first.startswith(b"HTTP/1.1 100"):
                return first, b""
            writer.write(body)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            return head, await asyncio.wait_for(reader.readexactly(length), 30)
        finally:
            writer.close()

    head, data = run(post(auth=True))
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(data) == {"received": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    head, data = run(post(auth=False))
    assert head.startswith(b"HTTP/1.1 403"), head


def test_client_leaving_mid_download_frees_the_backend(
    server: JupyterServer, backend: Backend
) -> None:
    """A client that disconnects mid-stream makes the proxy drop the backend request too."""

    async def count() -> int:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{backend.port}/events") as r:
                return int((await r.json())["disconnects"])

    async def go() -> None:
        before = await count()
        async with aiohttp.ClientSession() as session:
            async with session.get(
                server.url(f"proxy/{backend.port}/bytes/{4 << 30}"), headers=server.auth
            ) as resp:
                await resp.content.readexactly(1 << 20)
            # leaving the block closes the connection mid-body

        async def dropped() -> bool:  # the backend notices within a few writes
            return await count() > before

        await poll_until(dropped, "the backend to stop streaming after the client left")

    run(go())


def test_proxied_traffic_counts_as_activity(server: JupyterServer, backend: Backend) -> None:
    """A proxied request moves jupyter_server's last_activity forward."""

    async def last_activity() -> str:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url("api/status"), headers=server.auth) as r:
                return str((await r.json())["last_activity"])

    async def go() -> None:
        before = await last_activity()
        status, _, _ = await fetch(server, "GET", f"proxy/{backend.port}/echo/activity")
        assert status == 200
        assert await last_activity() > before

    run(go())


def test_client_leaving_before_the_answer_frees_the_backend(
    server: JupyterServer, backend: Backend
) -> None:
    """A client that gives up while the backend is still thinking cancels the backend request
    (long before read_timeout)."""

    async def count() -> int:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{backend.port}/events") as r:
                return int((await r.json())["disconnects"])

    async def go() -> None:
        before = await count()
        async with aiohttp.ClientSession() as s:
            with pytest.raises(asyncio.TimeoutError):
                async with s.get(
                    server.url(f"proxy/{backend.port}/slow-head"),
                    headers=server.auth,
                    timeout=aiohttp.ClientTimeout(total=0.3),
                ):
                    pass

        async def dropped() -> bool:
            return await count() > before

        await poll_until(dropped, "the backend request to end with the client")

    run(go())

"""The proxy against a backend that sends exact, hostile or merely unusual byte sequences.

One table covers the HTTP/1.1 framing matrix (interim 1xx answers, Content-Length, chunked with
extensions and trailers, bad and huge chunk sizes, close-delimited bodies, ambiguous framing,
malformed fields, huge and numerous headers, cut heads and bodies, bytes after an answer,
HEAD/204/304 with bodies, a 101 to a plain GET). Each case says what the user gets and whether
the backend connection may serve the next request, and is run twice: against our HTTP client
(``Upstream``) directly, and through a real Jupyter server. The backend
(``tests/backends/scripted.py``) counts its connections, so reuse is checked from the outside,
and every case is followed by a request that must get its own answer.
"""

from __future__ import annotations

import asyncio
import html
import socket
import threading
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from jupyter_server_proxy.core.errors import UpstreamUnavailable
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.errors import BodyBroken
from jupyter_server_proxy.transport.pool import Upstream, UpstreamSettings
from tests.backends.scripted import CLOSE, Gap, Script, ScriptedBackend, Stream, Wait, answer
from tests.conftest import JupyterServer, anon_kib, module_server, run

OK = b"HTTP/1.1 200 OK\r\n"
CHUNKED = OK + b"Transfer-Encoding: chunked\r\n\r\n"
#: The handler reads a body announced this small whole before it answers (``_SMALL_BODY``).
SMALL_BODY = 64 << 10
SMUGGLED = answer(b"<script>alert(1)</script>", "Content-Type: text/html")


@dataclass(frozen=True)
class Case:
    id: str
    reply: Script
    #: What the user gets: the status, and the body (for a 502: words its page must name).
    status: int
    body: bytes
    #: Whether the backend connection may serve the next request afterwards.
    reuse: bool = False
    method: str = "GET"
    #: The status went out, then the body broke off: the client's connection is aborted.
    broken: bool = False


CASES = [
    # -- interim answers (RFC 9110 §15.2): skipped, the final answer is relayed whole --------
    Case(
        "100-continue", [b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"final")], 200, b"final", True
    ),
    Case(
        "102-then-chunked",
        [
            b"HTTP/1.1 102 Processing\r\n\r\n",
            Gap(),
            CHUNKED + b"5\r\nfinal\r\n",
            Gap(),
            b"0\r\n\r\n",
        ],
        200,
        b"final",
        True,
    ),
    Case(
        "103-body-in-a-later-read",
        [
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
            + OK
            + b"Content-Length: 5\r\n\r\n",
            Gap(),
            b"final",
        ],
        200,
        b"final",
        True,
    ),
    Case(
        "several-1xx",
        [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n",
            Gap(),
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.js>\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n"
            b"HTTP/1.1 199 Misc\r\n\r\n" + CHUNKED,
            Gap(),
            b"5\r\nfinal\r\n0\r\n\r\n",
        ],
        200,
        b"final",
        True,
    ),
    Case(
        "101-to-a-plain-get",
        [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"],
        502,
        b"switched protocols (101) in answer to a plain request",
    ),
    # -- framing that is fine --------------------------------------------------------------
    Case("content-length", [answer(b"hello")], 200, b"hello", True),
    Case(
        "chunked-extensions-trailers",
        [CHUNKED + b'3;name=value;q="x y"\r\nabc\r\n2;x\r\nde\r\n0;end\r\nX-Trailer: 1\r\n\r\n'],
        200,
        b"abcde",
        True,
    ),
    Case(
        "close-delimited",
        [OK + b"Connection: close\r\n\r\nuntil the ", Gap(), b"end", CLOSE],
        200,
        b"until the end",
    ),
    # -- framing errors: 502 naming the cause while nothing reached the client -----------------
    Case("bad-chunk-size", [CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n"], 502, b"chunk size"),
    Case("chunk-size-past-2^64", [CHUNKED + b"10000000000000000\r\n"], 502, b"Chunk size overflow"),
    Case("chunk-size-2^63-cut", [CHUNKED + b"8000000000000000\r\n", CLOSE], 502, b"broke off"),
    Case(
        "bad-chunk-after-data",
        [CHUNKED + b"2\r\nok\r\n", Gap(), b"zz\r\n"],
        200,
        b"ok",
        broken=True,
    ),
    Case(
        "content-length-past-2^64",
        [OK + b"Content-Length: 18446744073709551616\r\n\r\nx"],
        502,
        b"Content-Length overflow",
    ),
    Case(
        "te-and-cl",
        [OK + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
        502,
        b"Content-Length",
    ),
    Case(
        "two-content-lengths",
        [OK + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"],
        502,
        b"Content-Length",
    ),
    Case(
        "same-content-length-twice",
        [OK + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"],
        502,
        b"Duplicate Content-Length",
    ),
    Case(
        "transfer-coding-not-chunked",
        [OK + b"Transfer-Encoding: gzip\r\n\r\nnot really gzip", CLOSE],
        502,
        b"Transfer-Encoding we cannot pass on",
    ),
    Case(
        "chunked-not-last",
        [OK + b"Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n", CLOSE],
        502,
        b"Transfer-Encoding we cannot pass on",
    ),
    Case(
        "obs-fold", [OK + b"X-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok"], 502, b"invalid response"
    ),
    Case("bare-lf", [b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"], 502, b"invalid response"),
    Case(
        "cr-in-value", [OK + b"X-A: a\rb\r\nContent-Length: 2\r\n\r\nok"], 502, b"invalid response"
    ),
    Case(
        "nul-in-value",
        [OK + b"X-A: a\x00b\r\nContent-Length: 2\r\n\r\nok"],
        502,
        b"invalid response",
    ),
    Case(
        "status-below-100",
        [b"HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok"],
        502,
        b"status code 99",
    ),
    Case("not-http", [b"SSH-2.0-OpenSSH_9.2\r\n"], 502, b"invalid response"),
    # -- limits on what a backend sends outside of body data ---------------------------------
    Case(
        "huge-header-in-one-read",
        [OK + b"X-Big: " + b"a" * (80 << 10) + b"\r\nContent-Length: 2\r\n\r\nok"],
        502,
        b"c.ServerProxy.max_response_header_size",
    ),
    Case(
        "numerous-headers",
        [OK + b"".join(b"X-%d: 1\r\n" % i for i in range(150)) + b"Content-Length: 2\r\n\r\nok"],
        502,
        b"c.ServerProxy.max_response_header_count",
    ),
    Case(
        "endless-1xx",
        [Stream(b"HTTP/1.1 102 Processing\r\n\r\n", 1 << 16)],
        502,
        b"c.ServerProxy.max_response_header_size",
    ),
    Case(
        "huge-trailer",
        [CHUNKED + b"2\r\nok\r\n0\r\nX-T: ", Stream(b"t" * 4096, 1 << 10)],
        200,
        b"ok",
        broken=True,
    ),
    # -- cut short -------------------------------------------------------------------------
    Case("cut-head", [OK + b"Content-Le", CLOSE], 502, b"closed the connection"),
    Case("cut-body", [OK + b"Content-Length: 10\r\n\r\nhello", CLOSE], 502, b"broke off"),
    Case(
        "cut-chunked-body", [CHUNKED + b"5\r\nhello\r\n", Gap(), CLOSE], 200, b"hello", broken=True
    ),
    # -- bytes after the answer: the answer stands, the connection is never reused -----------
    Case("second-answer-in-the-same-read", [answer(b"mine") + SMUGGLED], 200, b"mine"),
    Case(
        "second-answer-after-chunked",
        [CHUNKED + b"4\r\nmine\r\n0\r\n\r\n" + SMUGGLED],
        200,
        b"mine",
    ),
    Case("garbage-after-answer", [answer(b"mine") + b"\x00garbage"], 200, b"mine"),
    Case(
        "data-after-connection-close",
        [OK + b"Connection: close\r\nContent-Length: 4\r\n\r\nmine" + b"trailing junk"],
        200,
        b"mine",
    ),
    Case("head-with-a-body", [OK + b"Content-Length: 5\r\n\r\nhello"], 200, b"", method="HEAD"),
    Case(
        "204-with-a-body", [b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"], 204, b""
    ),
    Case(
        "204-with-content-length",
        [b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"],
        204,
        b"",
        True,
    ),
    Case(
        "304-with-a-body",
        [b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello"],
        304,
        b"",
    ),
]


async def through_client(upstream: Upstream, backend: ScriptedBackend, case: Case) -> Any:
    """(status, body, broken) as our client sees it, or the error's message."""
    target = Target(host="127.0.0.1", port=backend.port)
    try:
        response = await upstream.request(case.method, target, "/case", [], None)
    except UpstreamUnavailable as e:
        return e.message
    parts: list[bytes] = []
    try:
        if case.method == "HEAD" or response.status in (204, 304):
            pass
        elif response.content_length is not None and response.content_length <= SMALL_BODY:
            parts.append(await response.read_all(SMALL_BODY, "too big"))  # as the handler does
        else:
            await response.stream_to(parts.append)
    except BodyBroken as e:
        # The handler answers 502 with this cause if nothing reached the client yet.
        return str(e) if not parts else (response.status, b"".join(parts), True)
    finally:
        response.release()
    return response.status, b"".join(parts), False


async def follow_up_client(upstream: Upstream, backend: ScriptedBackend) -> bytes:
    target = Target(host="127.0.0.1", port=backend.port)
    response = await upstream.request("GET", target, "/ok", [], None)
    parts: list[bytes] = []
    try:
        await response.stream_to(parts.append)
    finally:
        response.release()
    return b"".join(parts)


def check_reuse(backend: ScriptedBackend, case: Case) -> None:
    """The follow-up came on the case's connection exactly when that was safe."""
    assert [number for number, _ in backend.requests] == [1, 1 if case.reuse else 2]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_client_framing_matrix(case: Case) -> None:
    """Our HTTP client gives each case's answer (or its cause), and reuses the connection only
    when the answer ended exactly as framed with nothing after it."""

    async def go() -> None:
        backend = await ScriptedBackend(scripts={"/case": case.reply}).start()
        upstream = Upstream(UpstreamSettings(read_timeout=10))
        try:
            got = await through_client(upstream, backend, case)
            if case.status == 502:
                assert isinstance(got, str), got
                assert case.body.decode() in got and str(backend.port) in got
            else:
                assert got == (case.status, case.body, case.broken)
            assert await follow_up_client(upstream, backend) == b"ok"
            check_reuse(backend, case)
        finally:
            await upstream.close()
            await backend.stop()

    run(go())


def test_client_reads_a_final_answer_whose_body_comes_after_an_interim_one() -> None:
    """After a 103, the final answer's body is read in full even when it arrives only after
    its head was handed over, and the connection serves the next request cleanly."""

    async def go() -> None:
        body_now = asyncio.Event()
        backend = ScriptedBackend(
            scripts={
                "/case": [
                    b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                    + OK
                    + b"Content-Length: 11\r\n\r\n",
                    Wait(body_now),
                    b"final body!",
                ]
            }
        )
        await backend.start()
        upstream = Upstream()
        target = Target(host="127.0.0.1", port=backend.port)
        try:
            response = await upstream.request("GET", target, "/case", [], None)
            assert response.status == 200
            body_now.set()  # the head has been handed over; only now does the body leave
            parts: list[bytes] = []
            await response.stream_to(parts.append)
            response.release()
            assert b"".join(parts) == b"final body!"
            assert await follow_up_client(upstream, backend) == b"ok"
            assert [n for n, _ in backend.requests] == [1, 1]
        finally:
            await upstream.close()
            await backend.stop()

    run(go())


def test_client_closes_a_pooled_connection_that_speaks_while_idle() -> None:
    """Bytes that arrive on an idle pooled connection close it; the next request gets its own
    answer on a new connection."""

    async def go() -> None:
        spoken = asyncio.Event()
        backend = ScriptedBackend(scripts={"/case": [answer(b"mine"), Wait(spoken), SMUGGLED]})
        await backend.start()
        upstream = Upstream()
        target = Target(host="127.0.0.1", port=backend.port)
        try:
            response = await upstream.request("GET", target, "/case", [], None)
            await response.stream_to(lambda chunk: None)
            response.release()
            spoken.set()
            await backend.wait_gone(1)  # we closed it on the first unsolicited byte
            assert await follow_up_client(upstream, backend) == b"ok"
            assert [n for n, _ in backend.requests] == [1, 2]
        finally:
            await upstream.close()
            await backend.stop()

    run(go())


def test_client_never_reuses_a_connection_with_unread_bytes() -> None:
    """Bytes a backend sent on an idle connection that the event loop has not read yet are
    not taken for the next request's answer: a connection is checked before it is reused."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    smuggle, smuggled = threading.Event(), threading.Event()

    def backend() -> None:  # a thread, so that it sends while the test holds the event loop
        with listener:
            first, _ = listener.accept()
            with first:
                first.recv(65536)
                first.sendall(answer(b"mine"))
                smuggle.wait(10)
                first.sendall(SMUGGLED)
                smuggled.set()
                second, _ = listener.accept()
                with second:
                    second.recv(65536)
                    second.sendall(answer(b"ok"))
                    second.recv(1)  # until the client closes

    thread = threading.Thread(target=backend, daemon=True)
    thread.start()

    async def go() -> None:
        upstream = Upstream()
        target = Target(host="127.0.0.1", port=port)
        try:
            response = await upstream.request("GET", target, "/case", [], None)
            await response.stream_to(lambda chunk: None)
            response.release()
            smuggle.set()
            # Held without yielding: the bytes wait in the socket, unread by the loop.
            assert smuggled.wait(10)
            response = await upstream.request("GET", target, "/ok", [], None)
            parts: list[bytes] = []
            await response.stream_to(parts.append)
            response.release()
            assert b"".join(parts) == b"ok"
        finally:
            await upstream.close()

    run(go())
    thread.join(10)
    assert not thread.is_alive()


def test_client_stops_reading_a_never_ending_head_early() -> None:
    """A head that never ends is refused once it passes the limit, long before it is all
    sent: memory holds at most the limit and one read, never the whole head."""

    async def go() -> None:
        piece = b"a" * (64 << 10)
        times = 1024  # 64 MiB if nobody stopped it
        backend = ScriptedBackend(scripts={"/case": [OK + b"X-Big: ", Stream(piece, times)]})
        await backend.start()
        upstream = Upstream(UpstreamSettings(read_timeout=5, max_response_header_size=16 << 10))
        target = Target(host="127.0.0.1", port=backend.port)
        try:
            with pytest.raises(UpstreamUnavailable, match="max_response_header_size"):
                await upstream.request("GET", target, "/case", [], None)
            await backend.wait_gone(1)
            # What the kernel's socket buffers took, at most: the rest was never sent.
            assert backend.conns[0].streamed < 32 << 20
        finally:
            await upstream.close()
            await backend.stop()

    run(go())


# -- through a real Jupyter server ---------------------------------------------------------


server = module_server()


async def fetch(
    session: aiohttp.ClientSession, server: JupyterServer, port: int, path: str, method: str = "GET"
) -> tuple[int, Any, bytes, bool]:
    """(status, headers, body, broken) of one request through the proxy."""
    headers = {**server.auth, "Accept": "text/html,*/*", "Sec-Fetch-Mode": "navigate"}
    async with session.request(method, server.url(f"proxy/{port}{path}"), headers=headers) as r:
        parts: list[bytes] = []
        try:
            async for chunk in r.content.iter_any():
                parts.append(chunk)
        except aiohttp.ClientPayloadError:
            return r.status, r.headers, b"".join(parts), True
        return r.status, r.headers, b"".join(parts), False


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_proxy_framing_matrix(server: JupyterServer, case: Case) -> None:
    """Through the proxy, each case gives the user its answer, or a 502 naming the cause while
    nothing had reached them yet, or an aborted body once something had; a 204 never announces
    a length; and the backend connection is reused exactly when that is safe."""

    async def go() -> None:
        backend = await ScriptedBackend(scripts={"/case": case.reply}).start()
        try:
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                status, headers, body, broken = await fetch(
                    session, server, backend.port, "/case", case.method
                )
                assert status == case.status, body
                if status == 502:
                    assert case.body.decode() in html.unescape(body.decode())
                else:
                    assert (body, broken) == (case.body, case.broken)
                if status == 204:  # RFC 9110 §8.6, whatever the backend sent
                    assert "Content-Length" not in headers
                follow = await fetch(session, server, backend.port, "/ok")
                assert follow[0] == 200 and follow[2] == b"ok"
            check_reuse(backend, case)
        finally:
            await backend.stop()

    run(go())


def test_concurrent_tagged_requests_get_their_own_answers(server: JupyterServer) -> None:
    """A stream of concurrent requests on one backend, where answers come after interim 1xx
    answers, carry a smuggled second answer, or break their framing: every request gets its
    own body (or a 502 for its own broken answer), and the smuggled one reaches nobody."""

    def route(path: str) -> Script | None:
        n = int(path.rsplit("/", 1)[1])
        body = b"tag %d" % n
        kind = n % 5
        if kind == 1:
            return [
                b"HTTP/1.1 103 Early Hints\r\n\r\n"
                + OK
                + b"Content-Length: %d\r\n\r\n" % len(body),
                Gap(0.01),
                body,
            ]
        if kind == 2:
            return [answer(body) + SMUGGLED]
        if kind == 3:
            return [
                b"HTTP/1.1 100 Continue\r\n\r\n"
                + CHUNKED
                + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            ]
        if kind == 4:
            return [CHUNKED + b"zz\r\n" + body]
        return [answer(body)]

    async def go() -> None:
        backend = ScriptedBackend(router=route)
        await backend.start()
        try:
            connector = aiohttp.TCPConnector(limit=16)
            async with aiohttp.ClientSession(connector=connector) as session:
                results = await asyncio.gather(
                    *(fetch(session, server, backend.port, f"/tag/{n}") for n in range(200))
                )
            for n, (status, _, body, broken) in enumerate(results):
                if n % 5 == 4:
                    assert status == 502 and b"chunk size" in body
                else:
                    assert (status, body, broken) == (200, b"tag %d" % n, False)
            assert len(backend.requests) == 200
        finally:
            await backend.stop()

    run(go())


def test_proxy_drops_a_pooled_connection_that_speaks_while_idle(server: JupyterServer) -> None:
    """An answer the backend sends on an idle pooled connection closes that connection; it is
    never read as the answer to a later request."""

    async def go() -> None:
        spoken = asyncio.Event()
        backend = ScriptedBackend(scripts={"/case": [answer(b"mine"), Wait(spoken), SMUGGLED]})
        await backend.start()
        try:
            async with aiohttp.ClientSession() as session:
                assert (await fetch(session, server, backend.port, "/case"))[2] == b"mine"
                spoken.set()
                await backend.wait_gone(1)  # the proxy closed it on the unsolicited bytes
                follow = await fetch(session, server, backend.port, "/ok")
                assert follow[0] == 200 and follow[2] == b"ok"
            assert [n for n, _ in backend.requests] == [1, 2]
        finally:
            await backend.stop()

    run(go())


def test_proxy_limits_and_timeout_are_settings(make_server: Any) -> None:
    """c.ServerProxy.max_response_header_size and _count set the limits; the 502 names them,
    and a huge head streamed slowly does not grow the server's memory. A backend that goes
    silent after its head, before any body byte reached the client, is a 504."""
    server: JupyterServer = make_server(
        "c.ServerProxy.max_response_header_size = 1024\n"
        "c.ServerProxy.max_response_header_count = 10\n"
        "c.ServerProxy.read_timeout = 1\n"
    )

    async def go() -> None:
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(12))
        backend = ScriptedBackend(
            scripts={
                "/size": [OK + b"X-A: " + b"a" * 2000 + b"\r\nContent-Length: 0\r\n\r\n"],
                "/count": [OK + many + b"Content-Length: 0\r\n\r\n"],
                "/small": [OK + b"X-A: " + b"a" * 500 + b"\r\nContent-Length: 2\r\n\r\nok"],
                "/endless": [OK + b"X-Big: ", Stream(b"a" * (64 << 10), 768)],
                "/silent": [CHUNKED],
            }
        )
        await backend.start()
        assert server.proc is not None
        try:
            async with aiohttp.ClientSession() as session:
                status, _, body, _ = await fetch(session, server, backend.port, "/size")
                assert status == 502 and b"max_response_header_size" in body and b"1024" in body
                status, _, body, _ = await fetch(session, server, backend.port, "/count")
                assert status == 502 and b"max_response_header_count" in body
                assert (await fetch(session, server, backend.port, "/small"))[2] == b"ok"
                before = anon_kib(server.proc.pid)
                status, _, body, _ = await fetch(session, server, backend.port, "/endless")
                assert status == 502 and b"max_response_header_size" in body
                assert anon_kib(server.proc.pid) - before < 16 << 10  # KiB: 48 MiB were offered
                status, _, body, _ = await fetch(session, server, backend.port, "/silent")
                assert status == 504 and b"went silent mid-response" in body
        finally:
            await backend.stop()

    run(go())

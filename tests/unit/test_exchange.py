"""The HTTP exchange without a web framework: an in-memory client writer and a scripted backend
response, one case per rule of ``exchange.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from tornado import httputil

from jupyter_server_proxy.core.errors import UpstreamUnavailable
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.transport.errors import BodyBroken
from jupyter_server_proxy.web.exchange import (
    AHEAD,
    SMALL_BODY,
    ClientWatch,
    ResponsePlan,
    ResponseRelay,
    RewritePlan,
    Upload,
)

LOG = logging.getLogger("test_exchange")


class Gone(Exception):
    """The in-memory client's "the client has left"."""


class Client:
    """Records what the exchange does; flushes complete when the test says so (``complete``)."""

    client_gone_errors = (Gone,)

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.queued = bytearray()
        self.sent = bytearray()
        self.flushes: list[asyncio.Future[None]] = []
        self.head_sent = False
        self.done = False
        self.gone = False

    def start_response(
        self, status: int, reason: str | None, headers: list[tuple[str, str]]
    ) -> None:
        self.events.append(("head", status, reason, headers))

    def write(self, chunk: bytes) -> None:
        self.queued += chunk

    def flush(self) -> asyncio.Future[None]:
        self.head_sent = True
        self.sent += self.queued
        self.events.append(("flush", bytes(self.queued)))
        self.queued.clear()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.gone:
            future.set_exception(Gone())
        self.flushes.append(future)
        return future

    def complete(self) -> None:
        for future in self.flushes:
            if not future.done():
                future.set_result(None)

    async def finish(self) -> None:
        if self.gone:
            raise Gone()
        self.head_sent = True
        self.sent += self.queued
        self.events.append(("finish", bytes(self.queued)))
        self.queued.clear()
        self.done = True

    def abort(self) -> None:
        self.events.append(("abort",))
        self.done = True

    def headers_sent(self) -> bool:
        return self.head_sent

    def finished(self) -> bool:
        return self.done


class Backend:
    """A backend response: its head, and a body given read by read (or broken off)."""

    def __init__(
        self,
        status: int = 200,
        headers: Sequence[tuple[str, str]] = (),
        reads: Sequence[bytes] = (),
        *,
        broken_after: int | None = None,
        between: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.status = status
        self.reason = ""
        self.headers = list(headers)
        length = next((v for n, v in headers if n.lower() == "content-length"), None)
        self.content_length = int(length) if length is not None else None
        self.url = "http://127.0.0.1:9/x"
        self.reads = list(reads)
        self.broken_after = broken_after
        self.between = between

    async def stream_to(self, sink: Callable[[bytes], Awaitable[None] | None]) -> None:
        for i, chunk in enumerate(self.reads):
            if self.broken_after == i:
                raise BodyBroken(UpstreamUnavailable("the backend broke off"))
            busy = sink(chunk)
            if busy is not None:
                await busy
            if self.between is not None:
                await self.between(i)
        if self.broken_after == len(self.reads):
            raise BodyBroken(UpstreamUnavailable("the backend broke off"))

    async def read_all(self, limit: int, too_big: str) -> bytes:
        parts: list[bytes] = []

        def keep(chunk: bytes) -> None:
            if sum(map(len, parts)) + len(chunk) > limit:
                raise UpstreamUnavailable(too_big)
            parts.append(chunk)

        await self.stream_to(keep)
        return b"".join(parts)


def plan(method: str = "GET", rewrite: RewritePlan | None = None) -> ResponsePlan:
    return ResponsePlan(
        method=method,
        target=Target(host="localhost", port=8050),
        context="/proxy/8050",
        absolute_url=False,
        client_host="jupyter.test",
        request_path="/proxy/8050/x",
        rewrite=rewrite,
    )


def relay(client: Client, backend: Backend, the_plan: ResponsePlan | None = None) -> ClientWatch:
    watch = ClientWatch()

    async def go() -> None:
        await ResponseRelay(client, watch, lambda: LOG).relay(backend, the_plan or plan())  # type: ignore[arg-type]

    asyncio.run(go())
    return watch


def test_a_small_announced_body_goes_out_in_one_write_with_the_head() -> None:
    """At most ``SMALL_BODY`` bytes with a Content-Length: read whole, then one write."""
    client = Client()
    backend = Backend(headers=[("Content-Length", "6")], reads=[b"abc", b"def"])
    relay(client, backend)
    assert [e[0] for e in client.events] == ["head", "finish"]
    assert client.events[1] == ("finish", b"abcdef")


def test_location_is_rewritten_for_the_client() -> None:
    """A redirect to the backend's own root lands under the proxy's prefix (RFC 3986)."""
    client = Client()
    headers = [("Location", "http://localhost:8050/login"), ("Content-Length", "0")]
    relay(client, Backend(302, headers))
    _, status, _, sent = client.events[0]
    assert status == 302 and ("Location", "/proxy/8050/login") in sent


def test_head_and_204_answers_have_no_body() -> None:
    for method, status in (("HEAD", 200), ("GET", 204), ("GET", 304)):
        client = Client()
        relay(client, Backend(status, [("Content-Length", "3")], [b"abc"]), plan(method))
        assert client.events[-1] == ("finish", b""), (method, status)


def test_one_flush_in_flight_and_reads_held_behind_it() -> None:
    """While a flush is in flight, reads are held (not flushed) until it completes; then they go
    out together. The backend is not paused until ``AHEAD`` bytes are held."""
    client = Client()
    flushes_seen: list[int] = []

    async def between(i: int) -> None:
        flushes_seen.append(len(client.flushes))
        if i == 2:
            client.complete()  # the first flush lands: what was held goes out at once
            await asyncio.sleep(0)

    relay(client, Backend(reads=[b"a", b"b", b"c", b"d"], between=between))
    assert flushes_seen[:3] == [1, 1, 1]  # b and c were held behind the first flush
    flushed = [e[1] for e in client.events if e[0] == "flush"]
    assert flushed[0] == b"a" and flushed[1] == b"bc"
    assert client.sent == b"abcd" and client.done


def test_a_slow_client_pauses_the_backend_past_ahead_bytes() -> None:
    """Backpressure: once ``AHEAD`` bytes wait behind an unfinished flush, the relay waits for
    it before reading more."""
    client = Client()
    big = b"x" * (AHEAD // 2 + 1)
    paused: list[bool] = []

    async def go() -> None:
        watch = ClientWatch()
        backend = Backend(reads=[b"first", big, big, b"last"])
        task = asyncio.ensure_future(
            ResponseRelay(client, watch, lambda: LOG).relay(backend, plan())
        )  # type: ignore[arg-type]
        for _ in range(10):
            await asyncio.sleep(0)
        paused.append(not task.done() and len(client.flushes) == 1)
        for _ in range(100):  # each completed flush lets the relay read on
            if task.done():
                break
            client.complete()
            await asyncio.sleep(0)
        await task

    asyncio.run(go())
    assert paused == [True]
    assert client.sent == b"first" + big + big + b"last"


def test_a_backend_that_breaks_off_before_anything_is_sent_gets_the_client_its_error() -> None:
    client = Client()
    backend = Backend(headers=[("Content-Length", "6")], reads=[b"abc"], broken_after=1)
    with pytest.raises(UpstreamUnavailable):
        relay(client, backend)
    assert client.sent == b""


def test_a_backend_that_breaks_off_mid_stream_aborts_the_client() -> None:
    """Once the status is sent, the only honest signal is an aborted connection."""
    client = Client()
    backend = Backend(reads=[b"a" * (SMALL_BODY + 1)], broken_after=1)
    relay(client, backend)
    assert client.events[-1] == ("abort",)


def test_a_client_that_left_ends_the_relay_quietly() -> None:
    client = Client()
    client.gone = True
    watch = relay(client, Backend(reads=[b"a", b"b", b"c"]))
    assert watch.gone
    assert ("abort",) not in client.events


def test_rewrite_hooks_see_the_whole_body_and_the_length_is_redone() -> None:
    def hook(response: Any, path: str) -> None:
        response.body = response.body.upper() + path.encode()

    line = httputil.RequestStartLine("GET", "/proxy/8050/x", "HTTP/1.1")
    headers = httputil.HTTPHeaders({"Host": "jupyter.test"})
    request = httputil.HTTPServerRequest(start_line=line, headers=headers)
    rewrite = RewritePlan(
        hooks=[hook], limit=100, request=request, host="localhost", port="8050", path="/x",
        owner="c.ServerProxy", key="non_service_rewrite_response",
    )  # fmt: skip
    client = Client()
    backend = Backend(headers=[("Content-Length", "3"), ("X-A", "1")], reads=[b"abc"])
    relay(client, backend, plan(rewrite=rewrite))
    _, status, reason, headers = client.events[0]
    assert status == 200 and ("X-A", "1") in headers
    assert not any(n.lower() == "content-length" for n, _ in headers)
    assert client.events[-1] == ("finish", b"ABC/x")


def test_a_response_too_large_for_a_rewrite_hook_is_an_error_answer() -> None:
    rewrite = RewritePlan([lambda: None], 2, None, "localhost", "8050", "/", "o", "k")
    with pytest.raises(UpstreamUnavailable, match="rewrite_buffer_limit"):
        relay(Client(), Backend(reads=[b"abc"]), plan(rewrite=rewrite))


def test_a_client_leaving_cancels_the_work_done_for_it() -> None:
    """``ClientWatch.run`` returns False when the client left; the task itself goes on."""

    async def go() -> tuple[bool, bool]:
        watch = ClientWatch()
        started = asyncio.Event()

        async def work() -> None:
            started.set()
            await asyncio.Event().wait()  # a backend that never answers

        async def leave() -> None:
            await started.wait()
            watch.left()
            watch.left()  # a second notice cancels nothing more

        leaving = asyncio.ensure_future(leave())
        answered = await watch.run(work)
        await leaving
        again = await watch.run(work)  # gone already: nothing starts
        return answered, again

    assert asyncio.run(go()) == (False, False)


def test_an_upload_feeds_its_exchange_and_finish_waits_for_it() -> None:
    async def go() -> list[bytes]:
        got: list[bytes] = []
        upload: Upload | None = None

        async def exchange() -> None:
            assert upload is not None and upload.runs_here()
            got.extend([chunk async for chunk in upload.body()])

        upload = Upload(exchange)
        for chunk in (b"a", b"b", b"c"):
            await upload.put(chunk)
        assert not upload.runs_here()
        await upload.finish()
        return got

    assert asyncio.run(go()) == [b"a", b"b", b"c"]

"""One HTTP exchange between a client and a backend, with no web framework in it.

The handler hands over what the exchange needs as plain data (``ResponsePlan``) and a small
writer (``ClientWriter``) for the client's side of the connection; this module decides what to
send and when. Rules:

1. Bodies stream both ways with backpressure. An upload is read in chunks into a bounded channel
   (``Upload``); a response is written as it arrives, with one flush in flight and up to
   ``AHEAD`` bytes held behind it (``ResponseRelay``).
2. Only a response a ``rewrite_response`` hook must see is held whole (up to
   ``rewrite_buffer_limit``). A small response with a ``Content-Length`` goes out in one write.
3. Until the status line is sent, a failure becomes an error answer (the caller's ``ProxyError``);
   after it, the only honest signal left is to abort the client's connection.
4. A client that leaves cancels the work done for it (``ClientWatch``): the backend request or
   connection goes at once, not at ``read_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..core.errors import UpstreamUnavailable
from ..core.headers import HeaderInjection, downstream_response_headers
from ..core.location import LOCATION_HEADERS, rewrite_location_headers
from ..core.routing import Target
from ..transport.errors import BodyBroken
from ..transport.response import Response
from ..transport.upload import BodyChannel
from .rewrite import RewritableResponse, run_rewrite_hooks

Headers = list[tuple[str, str]]

#: Request bodies are read in chunks of up to ``BODY_CHUNK`` and at most ``BODY_QUEUE`` of them
#: wait for the backend, so an upload holds at most 4 MiB in memory however large it is.
BODY_QUEUE = 4
BODY_CHUNK = 1 << 20
#: Bytes of a response body that may wait while the previous flush is in flight.
AHEAD = 1 << 20
#: Responses of at most this many bytes with a Content-Length are sent in one write.
SMALL_BODY = 64 * 1024


class ClientWriter(Protocol):
    """The client's side of the connection, as the exchange writes to it."""

    #: The exceptions by which a write, flush or finish says the client has left.
    client_gone_errors: tuple[type[BaseException], ...]

    def start_response(self, status: int, reason: str | None, headers: Headers) -> None:
        """Set the status (the standard reason if ``reason`` is empty) and the backend's
        headers; nothing is sent yet."""

    def write(self, chunk: bytes) -> None:
        """Queue body bytes (sent with the next flush)."""

    def flush(self) -> asyncio.Future[None]:
        """Send what is queued; the future resolves once it is on the wire."""

    def finish(self) -> Awaitable[None]:
        """Send what is queued and end the response."""

    def abort(self) -> None:
        """Close the client's connection in the middle of a response."""

    def headers_sent(self) -> bool: ...

    def finished(self) -> bool: ...


class ClientWatch:
    """Whether the client is still there, and the work its leaving cancels."""

    def __init__(self) -> None:
        self.gone = False
        self._inner: asyncio.Task[Any] | None = None

    async def run(self, work: Callable[[], Awaitable[None]]) -> bool:
        """Run ``work`` in this task, as what a leaving client cancels (``left``). Returns False
        when the client left, before or during it: there is nothing to answer. The task itself
        goes on (it is the web server's request task), so a cancel of ours is undone."""
        if self.gone:  # it left while the request was authenticated: start nothing
            return False
        task = self._inner = asyncio.current_task()
        try:
            await work()
            return True
        except asyncio.CancelledError:
            if not self.gone:
                raise
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()
            return False
        finally:
            self._inner = None

    def left(self) -> None:
        """The client went away: cancel whatever waits for the backend."""
        self.gone = True
        # Taken, so that a second notice (tornado's ``on_close`` follows ``on_connection_close``)
        # does not cancel it again: a task cancelled twice is not undone by one ``uncancel``.
        inner, self._inner = self._inner, None
        if inner is not None and not inner.done():
            inner.cancel()


class Upload:
    """A request body on its way to the backend while the client still sends it.

    The web server hands chunks to ``put`` before the request method runs; the exchange is
    started (``start``) at the first chunk, and awaiting the bounded channel pauses reading from
    the client while the backend is slower (backpressure)."""

    def __init__(self, start: Callable[[], Awaitable[None]]) -> None:
        channel = self._channel = BodyChannel(BODY_QUEUE)

        async def run() -> None:
            await start()

        self.task: asyncio.Future[None] = asyncio.ensure_future(run())
        # Its outcome is collected by ``finish``, which the method call the web server makes
        # once the body is in reaches; if the client vanished first, nobody will.
        self.task.add_done_callback(_consume_outcome)
        # Once the exchange is over (answered early, or failed) the rest is dropped.
        self.task.add_done_callback(lambda _: channel.abandon())

    async def put(self, chunk: bytes) -> None:
        await self._channel.put(chunk)

    def runs_here(self) -> bool:
        """Whether the caller is the exchange this body feeds (not the method call the web
        server makes once the body is in)."""
        return asyncio.current_task() is self.task

    def body(self) -> AsyncIterator[bytes]:
        return aiter(self._channel)

    async def finish(self) -> None:
        """The client's body is complete: wait for the exchange it feeds."""
        self._channel.end()
        await self.task


@dataclass(frozen=True)
class RewritePlan:
    """What ``rewrite_response`` hooks are run with (see ``rewrite.py``)."""

    hooks: Sequence[Callable[..., Any]]
    limit: int  # rewrite_buffer_limit
    request: Any  # the client's request, handed to hooks that ask for it
    host: str
    port: Any
    path: str
    owner: str
    key: str


@dataclass(frozen=True)
class ResponsePlan:
    """What relaying one backend response needs to know of its request."""

    method: str
    target: Target
    context: str  # the path the client sees as the backend's root
    absolute_url: bool
    client_host: str | None  # the Host the client sent, for Location rewriting
    request_path: str  # for the log
    rewrite: RewritePlan | None


class ResponseRelay:
    """Relays one backend response to the client (rules 1-3 of this module)."""

    def __init__(
        self, client: ClientWriter, watch: ClientWatch, log: Callable[[], logging.Logger]
    ) -> None:
        """``log`` gives the logger when there is something to say: Jupyter's handlers look
        theirs up on every access, and this runs for every request."""
        self.client = client
        self.watch = watch
        self.log = log
        self._flushing: asyncio.Future[None] | None = None  # the flush of body reads in flight
        self._held = 0  # bytes of body reads written since, waiting for the next flush

    async def relay(self, response: Response, plan: ResponsePlan) -> None:
        try:
            headers = downstream_response_headers(response.headers, status=response.status)
        except HeaderInjection as e:
            raise UpstreamUnavailable(f"the backend sent an invalid header: {e}") from e
        if plan.rewrite is not None:
            await self._relay_rewritten(response, headers, plan, plan.rewrite)
            return
        client = self.client
        client.start_response(response.status, response.reason, self._locations(headers, plan))
        if plan.method == "HEAD" or response.status in (204, 304):
            await self._finish()
            return
        length = response.content_length
        try:
            if length is not None and length <= SMALL_BODY:
                # Small and announced: one write with the head. Nothing is sent yet, so a
                # backend that breaks off still gets the client an error page.
                too_big = f"{plan.target.where} sent more than its Content-Length"
                client.write(await _read_whole(response, length, too_big))
            else:
                await response.stream_to(self._send_chunk)
        except client.client_gone_errors:
            self.watch.gone = True
            return  # the caller's ``release()`` closes the backend connection
        except BodyBroken as e:
            if not client.headers_sent():  # nothing reached the client: it can get the cause
                raise e.error from e
            self.log().warning("%s, proxying %s", e, plan.request_path)
            client.abort()
            return
        await self._finish()

    def _locations(
        self, headers: Headers, plan: ResponsePlan, only: Collection[str] | None = None
    ) -> Headers:
        target = plan.target
        return rewrite_location_headers(
            headers,
            prefix=plan.context,
            backend_host=target.host,
            backend_port=target.port,
            client_host=plan.client_host,
            absolute_url=plan.absolute_url,
            only=only,
        )

    def _send_chunk(self, chunk: bytes) -> Awaitable[None] | None:
        """One read of the backend's body to the client. Returns what to wait for before
        reading more (backpressure), or None.

        One flush is in flight at a time (tornado resolves only the future of its latest
        write). While it is, reads are kept in the writer's buffer, up to ``AHEAD`` bytes, and
        go out as soon as it completes: the backend keeps sending while the client drains,
        instead of the two taking turns, and a held event of a stream is never left waiting
        for the next one."""
        self.client.write(chunk)
        flushing = self._flushing
        if flushing is not None and not flushing.done():
            self._held += len(chunk)
            return flushing if self._held >= AHEAD else None
        self._flush_held()
        return None

    def _flush_held(self) -> None:
        if self._flushing is not None:
            self._flushing.result()  # raises a client-gone error once the client is gone
        self._held = 0
        self._flushing = self.client.flush()
        self._flushing.add_done_callback(self._flushed)

    def _flushed(self, future: asyncio.Future[None]) -> None:
        if future is self._flushing and self._held and not self.client.finished():
            try:
                self._flush_held()
            except self.client.client_gone_errors:
                pass  # the client left: the next read, or the end of the body, sees it

    async def _relay_rewritten(
        self, response: Response, headers: Headers, plan: ResponsePlan, rewrite: RewritePlan
    ) -> None:
        too_big = (
            f"the response is larger than c.ServerProxy.rewrite_buffer_limit "
            f"({rewrite.limit} bytes), which a rewrite_response hook needs to hold in memory"
        )
        body = await _read_whole(response, rewrite.limit, too_big)
        rewritable = RewritableResponse.from_parts(
            code=response.status,
            reason=response.reason,
            headers=headers,
            body=body,
            request=rewrite.request,
            url=str(response.url),
        )
        run_rewrite_hooks(
            rewrite.hooks,
            rewritable,
            {
                "request": rewrite.request,
                "host": rewrite.host,
                "port": rewrite.port,
                "path": rewrite.path,
            },
            owner=rewrite.owner,
            key=rewrite.key,
        )
        kept = [(n, v) for n, v in rewritable.headers.get_all() if n.lower() != "content-length"]
        status = rewritable.code
        # Hooks see the backend's Location as 4.x showed it; a URL a hook set stays as it is.
        sent = {v for n, v in headers if n.lower() in LOCATION_HEADERS}
        self.client.start_response(status, rewritable.reason, self._locations(kept, plan, sent))
        if plan.method != "HEAD" and status not in (204, 304):
            self.client.write(rewritable.body)
        await self._finish()

    async def _finish(self) -> None:
        try:
            await self.client.finish()
        except self.client.client_gone_errors:
            self.watch.gone = True


async def _read_whole(response: Response, limit: int, too_big: str) -> bytes:
    """The whole body, for a response not yet started: a backend that breaks off gets the
    client an error page."""
    try:
        return await response.read_all(limit, too_big)
    except BodyBroken as e:
        raise e.error from e


def _consume_outcome(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()

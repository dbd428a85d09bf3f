"""Every use of a tornado or jupyter_server internal, in one place.

Rule: no other module of this package reads or writes a private attribute of tornado's or
jupyter_server's, or leans on a behaviour their documentation does not promise. Each function
here says what it relies on and why we need it; ``tests/unit/test_tornadocompat.py`` checks each
against the installed versions (the lowest-dependencies lane runs tornado 6.4, pip's newest
6.5/6.6), so a release that changes one fails a test instead of a user's upload.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.iostream import IOStream


def headers_written(handler: web.RequestHandler) -> bool:
    """Whether the status line and headers have gone to the client.

    Relies on ``RequestHandler._headers_written`` (set by ``flush()`` since tornado 1.x): once it
    is true, an error can no longer become a page, only an aborted connection."""
    return bool(handler._headers_written)


def is_finished(handler: web.RequestHandler) -> bool:
    """Whether the response is complete (or the connection was given up).

    Relies on ``RequestHandler._finished``, set by ``finish()``, ``detach()`` and
    ``abort_client``. Tornado itself checks it before every write."""
    return bool(handler._finished)


def abort_client(handler: web.RequestHandler) -> None:
    """Close the client's connection in the middle of a response, the one honest signal once the
    status is sent and the backend broke off (RFC 9112 §8: an incomplete message).

    Relies on ``HTTP1Connection.stream`` (the ``IOStream`` under a request, an attribute tornado
    does not document) and on ``_finished``: marking the handler finished stops tornado from
    writing the rest of a response (and logging an error for it) on the closed stream."""
    connection = handler.request.connection
    stream = getattr(connection, "stream", None)
    if stream is not None:
        stream.close()
    handler._finished = True


def early_bytes(stream: IOStream) -> bytes:
    """What tornado has read from a detached connection but not yet handed out: a client may send
    its first websocket frame right behind its handshake, in the same read.

    Relies on ``BaseIOStream._read_buffer``: a ``bytearray`` that holds exactly the input read
    from the socket and not yet consumed (tornado 6 deletes what a read hands out from its
    front), while no ``read_into`` is pending, which is so after ``detach()``."""
    return bytes(stream._read_buffer)


#: What ``stream_bodies_of_any_size`` hands back to ``restore_read_size``.
ReadSize = tuple[Any, int]


def stream_bodies_of_any_size(request: Any, chunk: int, no_limit: int) -> ReadSize | None:
    """For a handler that streams request bodies: lift the server's ``max_body_size`` (Jupyter:
    512 MiB, which protects handlers that buffer) for this request, and let tornado read a body
    in chunks of up to ``chunk`` bytes rather than 64 KiB (fewer, larger chunks make uploads much
    cheaper; memory stays bounded by the handler's queue of chunks).

    Relies on: ``HTTP1Connection.set_max_body_size`` (documented, for streaming handlers, before
    the body is read); ``HTTP1Connection.params`` (the ``HTTP1ConnectionParameters`` whose
    ``chunk_size`` is the largest piece handed to ``data_received``; copied, so only this
    connection's own copy changes); and ``IOStream.read_chunk_size`` (the size of each socket
    read). Returns (stream, its read size before) for ``restore_read_size``, or None when
    nothing was changed (no body, RFC 9112 §6.3, or the sizes were large enough)."""
    connection = getattr(request, "connection", None)
    if connection is not None and hasattr(connection, "set_max_body_size"):
        connection.set_max_body_size(no_limit)
    headers = request.headers
    if "Transfer-Encoding" not in headers and headers.get("Content-Length", "0") == "0":
        return None
    params = getattr(connection, "params", None)
    if params is not None and getattr(params, "chunk_size", chunk) < chunk:
        params = copy.copy(params)
        params.chunk_size = chunk
        connection.params = params  # type: ignore[union-attr]
    stream = getattr(connection, "stream", None)
    before = getattr(stream, "read_chunk_size", chunk)
    if before >= chunk:
        return None
    stream.read_chunk_size = chunk  # type: ignore[union-attr]
    return stream, before


def restore_read_size(changed: ReadSize) -> None:
    """Put a connection's read size back when its request ends: tornado allocates and zeroes a
    buffer of ``read_chunk_size`` for *every* read of the connection, which a keep-alive
    connection's later small requests must not pay."""
    stream, size = changed
    stream.read_chunk_size = size


@functools.cache
def prepare_takes_redirect_flag() -> bool:
    """Whether ``JupyterHandler.prepare`` accepts ``_redirect_to_login`` (jupyter_server >= 2.13):
    with it False, a request without a login is refused with 403 instead of redirected, which a
    websocket upgrade cannot follow. The parameter is underscored (internal) in jupyter_server;
    without it, ``get`` refuses the upgrade with 403 itself."""
    return "_redirect_to_login" in inspect.signature(JupyterHandler.prepare).parameters


def jupyter_prepare(handler: JupyterHandler, *, redirect_to_login: bool) -> Any:
    """``JupyterHandler.prepare``, told not to redirect to a login where it can be."""
    if not redirect_to_login and prepare_takes_redirect_flag():
        return JupyterHandler.prepare(handler, _redirect_to_login=False)
    return JupyterHandler.prepare(handler)


def mark_authenticating(method: Callable[..., Any]) -> None:
    """Leave the mark jupyter_server's own decorators (``web.authenticated``,
    ``ws_authenticated``) leave: ``__allow_unauthenticated = False`` says the method
    authenticates its requests. ``ServerApp`` (>= 2.13) lists extension handlers without one,
    and ``JupyterHandler.prepare`` checks it; the name is jupyter_server's convention, not a
    documented API."""
    setattr(method, "__allow_unauthenticated", False)  # noqa: B010


def trusted_origin(handler: web.RequestHandler, origin: str) -> bool:
    """Tornado's own rule for a cross-origin websocket in a plain tornado app: the
    ``trusted_origins`` setting, through ``RequestHandler.check_trusted_origin`` (new in 6.6);
    before 6.6 there was no such setting, so no other origin is trusted."""
    check = getattr(handler, "check_trusted_origin", None)
    return bool(check(origin)) if check is not None else False

"""What a backend's failure becomes, decided here and nowhere else in the client.

Rule: an exchange that fails before its response head was passed on raises ``UpstreamUnavailable``
(502) or ``UpstreamTimeout`` (504) from ``Upstream.request``; once the head is out, the body's
consumer gets ``BodyBroken``, which carries the 502 or 504 for a handler that has sent nothing of
the response yet. Every message names the backend.
"""

from __future__ import annotations

import asyncio

from ..core.errors import UpstreamTimeout, UpstreamUnavailable


class BodyBroken(Exception):
    """The backend broke off (or went silent) after its response head was passed on.
    ``error`` is the answer for a client that has received nothing of the response yet."""

    def __init__(self, error: UpstreamUnavailable | UpstreamTimeout) -> None:
        super().__init__(error.message)
        self.error = error


class ClosedUnanswered(Exception):
    """A connection closed before any byte of an answer: on a reused connection, the race
    RFC 9112 §9.3.1 warns of, which a request without a body may retry on a fresh one."""


def head_error(where: str, error: BaseException | None, cut_in_head: bool) -> BaseException:
    """The error ``request`` raises for a failure before the final head (``error`` None: the
    backend closed the connection; ``cut_in_head``: after it had sent part of a head)."""
    if isinstance(error, asyncio.TimeoutError):
        return UpstreamTimeout(f"{where} did not answer within the configured timeout")
    if error is None:
        when = "in its response head" if cut_in_head else "before it answered"
        return UpstreamUnavailable(f"{where} closed the connection {when}")
    return error


def body_error(where: str, error: BaseException | None) -> BaseException:
    """The error the body's consumer gets for a failure after the head (``error`` None: the
    backend closed the connection). What the consumer's own sink raised passes unchanged."""
    if error is None:
        return BodyBroken(UpstreamUnavailable(f"{where} broke off the response"))
    if isinstance(error, asyncio.TimeoutError):
        return BodyBroken(
            UpstreamTimeout(f"{where} went silent mid-response, past the read timeout")
        )
    if isinstance(error, UpstreamUnavailable):
        return BodyBroken(error)
    return error


def refusal(where: str, what: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"{where} {what}")


def head_too_big(where: str, limit: int, in_head: bool) -> UpstreamUnavailable:
    part = "response head" if in_head else "chunk-size lines or trailer section"
    return UpstreamUnavailable(
        f"{where} sent a {part} larger than {limit} bytes, the limit set by "
        "c.ServerProxy.max_response_header_size"
    )


def too_many_fields(where: str, limit: int) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"{where} sent more than {limit} header fields, the limit set by "
        "c.ServerProxy.max_response_header_count"
    )

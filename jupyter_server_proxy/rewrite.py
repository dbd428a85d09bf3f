"""``rewrite_response`` hooks: the peer's interface for changing a backend's response.

A hook is a callable that asks, by parameter name, for any of ``response`` (a
``RewritableResponse`` with ``.headers``, ``.body``, ``.code``, ``.reason``, to change in place),
``request`` (tornado's request), ``orig_response`` (a tornado ``HTTPResponse`` of what the backend
sent), ``host``, ``port`` and ``path``. Hooks run in order; each sees the previous one's changes.
Only responses that meet a hook are buffered; everything else streams.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from http.client import responses
from typing import Any

from tornado import httpclient, httputil

from .utils import call_with_asked_args


class RewritableResponse:
    """A backend response held in memory so a hook may change it."""

    def __init__(
        self,
        *,
        code: int,
        reason: str | None,
        headers: httputil.HTTPHeaders,
        body: bytes,
        orig_response: httpclient.HTTPResponse,
    ) -> None:
        self.headers = headers
        self.body = body
        self._code = code
        self.reason = reason or responses.get(code, "Unknown")
        self.orig_response = orig_response

    @property
    def code(self) -> int:
        return self._code

    @code.setter
    def code(self, value: int) -> None:
        # A hook that changes only the code gets the standard reason for it, as with the peer.
        if self.reason == responses.get(self._code, "Unknown"):
            self.reason = responses.get(value, "Unknown")
        self._code = value

    @classmethod
    def from_parts(
        cls,
        *,
        code: int,
        reason: str | None,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        request: httputil.HTTPServerRequest,
        url: str,
    ) -> RewritableResponse:
        hdrs = httputil.HTTPHeaders()
        for name, value in headers:
            hdrs.add(name, value)
        orig = httpclient.HTTPResponse(
            request=httpclient.HTTPRequest(url, method=request.method or "GET"),
            code=code,
            reason=reason,
            headers=httputil.HTTPHeaders(hdrs),
            buffer=io.BytesIO(body),
            effective_url=url,
        )
        return cls(code=code, reason=reason, headers=hdrs, body=body, orig_response=orig)


def run_rewrite_hooks(
    hooks: Iterable[Callable[..., Any]], response: RewritableResponse, context: Mapping[str, Any]
) -> None:
    args = dict(context)
    args["response"] = response
    args["orig_response"] = response.orig_response
    for hook in hooks:
        call_with_asked_args(hook, args)

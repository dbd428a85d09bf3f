"""``rewrite_response`` hooks: the peer's interface for changing a backend's response.

A hook is a callable that asks, by parameter name, for any of:
- ``response``: a ``RewritableResponse`` (``.headers``, ``.body``, ``.code``, ``.reason``) to change
  in place; its headers are the backend's, ``Location`` not yet rewritten to the proxy's URL (that
  happens after the hooks, so a hook may set a backend-relative one);
- ``orig_response``: what the backend sent, as the peer gives it: a ``RewritableResponse`` of its
  own that hooks don't change, whose ``.orig_response`` is a tornado ``HTTPResponse``;
- ``request``: tornado's ``HTTPServerRequest`` of the client's request;
- ``host``, ``port``, ``path``: as the peer gives them (see ``ProxyHandler._hook_target``).
Hooks run in order; each sees the previous one's changes. Only responses that meet a hook are
buffered; everything else streams. A hook that raises gets the client a 500 page naming it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from http.client import responses
from typing import Any

from tornado import httpclient, httputil

from ..core.hooks import call_hook


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

    def copy(self) -> RewritableResponse:
        """An independent copy (its own headers) of the response as it is now."""
        return RewritableResponse(
            code=self.code,
            reason=self.reason,
            headers=httputil.HTTPHeaders(self.headers),
            body=self.body,
            orig_response=self.orig_response,
        )

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
    hooks: Iterable[Callable[..., Any]],
    response: RewritableResponse,
    context: Mapping[str, Any],
    *,
    owner: str,
    key: str,
) -> None:
    """Run each hook on ``response``; one that raises is a ``HookFailed`` naming ``owner``,
    ``key`` and the hook."""
    args = dict(context)
    args["response"] = response
    args["orig_response"] = response.copy()
    for hook in hooks:
        call_hook(hook, args, owner=owner, key=key)

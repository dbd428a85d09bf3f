"""Errors the proxy can meet, each with the HTTP status it maps to and a cause a user can read.

Rule: every failure of ours that a user may see is one of these (a hook of the user's that fails
is ``utils.HookFailed``, a subclass). The status for each cause (backend refused, timed out,
host not allowed, app failed to start) is decided here and nowhere else; turning one into an
answer happens in one place, ``web/error_answers.write_error_answer``, with the page or JSON
``errorpage.py`` renders. Errors that are not ours (a refused login, an unknown route) are
tornado's ``HTTPError``s, answered by the same module in the same two forms.
"""

from __future__ import annotations

from collections.abc import Sequence


class ProxyError(Exception):
    """Base class. ``status`` is the HTTP status a handler answers with."""

    status: int = 500
    title: str = "Proxy error"

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        #: Extra lines shown below the message (for example an app's log tail); plain text.
        self.details = tuple(details)


class BadTarget(ProxyError):
    """The URL names no valid proxy target: no port, a port outside 1..65535, userinfo, a host
    that is no host. 404 as with 4.x, where such a URL matches no route: there is nothing at
    that address (the request itself is well-formed HTTP, so 400 would blame the client's
    syntax)."""

    status = 404
    title = "No such proxy target"


class HostNotAllowed(ProxyError):
    """The host is not in ``c.ServerProxy.host_allowlist``."""

    status = 403
    title = "Host not allowed"


class UpstreamUnavailable(ProxyError):
    """Nothing accepted our connection, or the backend broke the exchange."""

    status = 502
    title = "Bad gateway"


class CertificateRefused(UpstreamUnavailable):
    """A backend's TLS certificate did not verify: unlike a refused connection, waiting does
    not change it."""


class UpstreamTimeout(ProxyError):
    """The backend did not answer within the configured time."""

    status = 504
    title = "Gateway timeout"


class AppFailed(ProxyError):
    """A named app exited before it was ready, or was not ready within its timeout."""

    status = 503
    title = "App failed to start"

    def __init__(
        self,
        app: str,
        reason: str,
        *,
        command: Sequence[str] = (),
        log_tail: Sequence[str] = (),
        exit_code: int | None = None,
    ) -> None:
        super().__init__(f"{app}: {reason}", details=log_tail)
        self.app = app
        self.reason = reason
        self.command = tuple(command)
        self.log_tail = tuple(log_tail)
        self.exit_code = exit_code

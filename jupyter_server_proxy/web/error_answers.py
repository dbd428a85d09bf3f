"""The one place an error becomes an HTTP answer, for every route of ours: the proxy routes, the
named apps' routes and the REST API.

An error is answered in one of two forms with the same fields (``status``, ``title``,
``message``, and an ``AppFailed``'s exit code and log tail): JSON for an API client
(``core.errorpage.wants_json``, and always on the REST API, whose answers are JSON), the HTML
page otherwise. Our own failures are ``ProxyError``s (``write_error_answer``); errors raised as
tornado's ``HTTPError`` (a refused login, an unknown app on the API, a method an app does not
take) go through a handler's ``write_error`` to ``write_http_error``, whose page is Jupyter's,
or tornado's in a plain tornado app without Jupyter's templates.
"""

from __future__ import annotations

from http.client import responses
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from ..core.errorpage import error_html, error_json, json_text, status_json, wants_json
from ..core.errors import ProxyError

JSON = "application/json"


def wants_json_answer(handler: web.RequestHandler) -> bool:
    headers = handler.request.headers
    return wants_json(headers.get("Accept"), headers.get("Authorization"))


def write_error_answer(
    handler: web.RequestHandler, error: ProxyError, *, as_json: bool | None = None
) -> None:
    """Answer with ``error``: JSON if ``as_json`` (by default: if the client wants JSON), the
    page otherwise. Everything from the request or an app is escaped in both forms."""
    handler.set_status(error.status)
    if wants_json_answer(handler) if as_json is None else as_json:
        handler.set_header("Content-Type", JSON)
        handler.finish(json_text(error_json(error)))
    else:
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        handler.finish(error_html(error))


def write_http_error(
    handler: web.RequestHandler, status_code: int, *, as_json: bool | None = None, **kwargs: Any
) -> None:
    """A handler's ``write_error`` (tornado calls it for an ``HTTPError`` or an uncaught
    exception, with ``exc_info`` in ``kwargs``): the fields of ``status_json`` as JSON, or the
    server's own error page."""
    if wants_json_answer(handler) if as_json is None else as_json:
        error = kwargs.get("exc_info", (None, None))[1]
        title = responses.get(status_code, "Unknown")
        message = getattr(error, "log_message", None) or title
        handler.set_header("Content-Type", JSON)
        handler.finish(json_text(status_json(status_code, title, message)))
        return
    if "jinja2_env" not in handler.settings or not isinstance(handler, JupyterHandler):
        # A plain tornado app has none of Jupyter's templates: tornado's own page.
        web.RequestHandler.write_error(handler, status_code, **kwargs)
        return
    JupyterHandler.write_error(handler, status_code, **kwargs)

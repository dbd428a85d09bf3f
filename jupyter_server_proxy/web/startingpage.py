"""A browser's page load of an app that is not running: held while the app starts, for
``c.ServerProxy.start_hold`` seconds, then the "Starting…" page (``core/errorpage.py``), which
asks the lifecycle API to start the app and shows it once the answer says it is ready.

Only a top-level page load is held (Fetch Metadata: ``Sec-Fetch-Mode: navigate`` and
``Sec-Fetch-Dest: document``). Every current browser sends both (Chrome 76, Firefox 90, Safari
16.4); a client that sends neither (curl, scripts, older browsers), Lab's iframes
(``Sec-Fetch-Dest: iframe``) and fetches wait for the app as before, which is always correct,
if less telling. An ``Accept`` that prefers HTML is not taken as a sign: scripts send it too,
and a page with a script is no answer for them.
"""

from __future__ import annotations

import asyncio

from tornado import httputil, web

from ..apps.supervisor import ManagedApp
from ..core.errorpage import starting_html
from ..core.routing import Target
from ..transport.timelimit import within


def is_page_load(request: httputil.HTTPServerRequest) -> bool:
    headers = request.headers
    return (
        request.method == "GET"
        and headers.get("Sec-Fetch-Mode") == "navigate"
        and headers.get("Sec-Fetch-Dest") == "document"
    )


async def held_start(app: ManagedApp, hold: float) -> Target | None:
    """Start ``app`` (or join its start) and wait for it at most ``hold`` seconds: its target
    if it is ready by then, None if it is still starting (the start goes on: a waiter that
    gives up does not cancel it). A start that fails in time raises its ``AppFailed``, answered
    with the failure page as for any client."""
    if hold <= 0:
        return None
    try:
        return await within(app.ensure_ready(), hold)
    except asyncio.TimeoutError:
        return None


def write_starting_page(
    handler: web.RequestHandler, title: str, start_url: str, xsrf_token: str
) -> None:
    # 202: accepted, not done yet (RFC 9110 §15.3.3). Not an error status: a browser logs a
    # page that came with one as a failed load.
    handler.set_status(202)
    handler.set_header("Cache-Control", "no-store")
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.finish(starting_html(title, start_url, xsrf_token))

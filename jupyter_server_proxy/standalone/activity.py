"""Activity reports to JupyterHub, so that its idle culler sees the standalone app in use.

Rules (those of ``jupyterhub-singleuser``, whose reports the Hub already understands):
- Every ``interval`` seconds (with +-10 % jitter, so that many servers started together don't
  report in lockstep), POST ``{"servers": {<server name>: {"last_activity": t}},
  "last_activity": t}`` to ``$JUPYTERHUB_ACTIVITY_URL`` with ``Authorization: token
  $JUPYTERHUB_API_TOKEN``.
- ``t`` is the time of the last proxied request or websocket message (the handlers stamp it
  where jupyter_server's ``last_activity()`` reads it), or our start time before any traffic. A
  time already reported is not sent again: the Hub needs news, not a heartbeat.
- A failed report is logged and retried at the next tick; it never stops the proxy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import Callable
from datetime import datetime, timezone

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

#: How long one report may take before it counts as failed (the Hub answers in milliseconds).
REPORT_TIMEOUT = 30.0


def hub_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, the form JupyterHub writes and parses."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class ActivityReporter:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        server_name: str,
        interval: float,
        last_activity: Callable[[], datetime],
        log: logging.Logger,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.server_name = server_name
        self.interval = interval
        self.last_activity = last_activity
        self.log = log
        self.ssl_context = ssl_context
        self._sent: datetime | None = None

    def payload(self, moment: datetime) -> dict[str, object]:
        stamp = hub_timestamp(moment)
        return {"servers": {self.server_name: {"last_activity": stamp}}, "last_activity": stamp}

    async def run(self) -> None:
        """Report until cancelled."""
        while True:
            await asyncio.sleep(self.interval * random.uniform(0.9, 1.1))
            await self.report()

    async def report(self) -> bool:
        """Send one report if there is news; True when the Hub took it (or there was none)."""
        moment = self.last_activity()
        if self._sent is not None and moment <= self._sent:
            return True
        request = HTTPRequest(
            self.url,
            method="POST",
            body=json.dumps(self.payload(moment)),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            request_timeout=REPORT_TIMEOUT,
            ssl_options=self.ssl_context,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (HTTPClientError, asyncio.TimeoutError, OSError) as e:  # no answer at all
            self.log.error("Hub activity report to %s failed: %s", self.url, e or type(e).__name__)
            return False
        if response.code >= 400:
            body = (response.body or b"")[:200].decode(errors="replace")
            self.log.error(
                "Hub activity report to %s failed: HTTP %s %s", self.url, response.code, body
            )
            return False
        self._sent = moment
        self.log.debug("Reported activity at %s to the Hub", hub_timestamp(moment))
        return True

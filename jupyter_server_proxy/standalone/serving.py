"""What serving the standalone proxy needs besides its application: TLS from the Hub's
environment, activity reports to the Hub, the start-up announcement, and what one run owns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone

from tornado import httpserver, web

from ..apps.specs import ServerSpec
from . import hubenv
from .activity import ActivityReporter
from .options import StandaloneOptions, StartupError

#: How long open client connections get to close at shutdown before we exit anyway.
CLOSE_GRACE = 5.0


@dataclass(frozen=True)
class Served:
    """Everything one run owns, so that shutdown can release each of them."""

    server: httpserver.HTTPServer
    app: web.Application
    activity: asyncio.Task[None] | None


def server_ssl() -> ssl.SSLContext | None:
    """The TLS context JupyterHub asks for (``JUPYTERHUB_SSL_*``), if it asks for one."""
    try:
        return hubenv.server_ssl_context(os.environ)
    except (OSError, ssl.SSLError) as e:
        raise StartupError(f"cannot use the certificate in JUPYTERHUB_SSL_*: {e}") from e


def start_activity(
    app: web.Application, interval: int, log: logging.Logger
) -> asyncio.Task[None] | None:
    """Report the app's last activity to the Hub every ``interval`` seconds, where the Hub gave
    an activity URL and a token (and the interval is not 0)."""
    url = os.environ.get("JUPYTERHUB_ACTIVITY_URL")
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if not (url and token and interval > 0):
        return None
    started = datetime.now(timezone.utc)

    def last_activity() -> datetime:
        # Where ProxyHandler stamps proxied traffic (jupyter_server's last_activity() key).
        stamp = app.settings.get("api_last_activity")
        return max(started, stamp) if isinstance(stamp, datetime) else started

    reporter = ActivityReporter(
        url=url,
        token=token,
        server_name=os.environ.get("JUPYTERHUB_SERVER_NAME", ""),
        interval=interval,
        last_activity=last_activity,
        log=log,
        ssl_context=hubenv.client_ssl_context(os.environ),
    )
    log.info("Reporting activity to %s every %ss", url, interval)
    return asyncio.ensure_future(reporter.run())


def announce(
    options: StandaloneOptions, log: logging.Logger, spec: ServerSpec, *, secure: bool
) -> None:
    """Say where the app is served, and loudly when authentication is off."""
    # tornado logs through its own loggers; send them where ours go.
    logging.getLogger("tornado").parent = log
    where = f"{'https' if secure else 'http'}://{options.address}:{options.port}{options.base_url}"
    command = spec.command if isinstance(spec.command, tuple) else ()
    log.info("Serving %s at %s: %s", spec.name, where, " ".join(command))
    if options.progressive:
        log.info("--progressive is not needed: responses are always streamed")
    if not options.auth_enabled:
        log.warning(
            "AUTHENTICATION IS OFF (--skip-authentication): anyone who can reach %s can use "
            "%s. Use this only for testing.",
            where,
            spec.name,
        )

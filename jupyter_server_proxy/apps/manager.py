"""Every supervised app of one server, and the single place where their lifetimes end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from ..core.publicurl import PublicLocation
from ..transport.pool import Upstream
from .specs import ServerSpec
from .state import Reason
from .supervisor import ManagedApp


class AppManager:
    """Owns every ``ManagedApp`` of a server; the single place their lifetimes end."""

    def __init__(
        self,
        specs: Mapping[str, ServerSpec],
        *,
        base_url: str,
        log: logging.Logger,
        upstream: Upstream,
        stop_grace: float = 5.0,
        public: Mapping[str, PublicLocation] | None = None,
    ) -> None:
        """``public``: where the browser reaches each app, by name (by default
        ``<base_url><name>/``, with no origin)."""
        public = public or {}
        self.apps: dict[str, ManagedApp] = {
            name: ManagedApp(
                spec,
                base_url=base_url,
                log=log,
                upstream=upstream,
                stop_grace=stop_grace,
                public=public.get(name),
            )
            for name, spec in specs.items()
        }

    def get(self, name: str) -> ManagedApp:
        return self.apps[name]

    async def stop_all(self) -> None:
        """Stop every app concurrently; never raises (it runs during server shutdown)."""
        results = await asyncio.gather(
            *(app.stop(Reason.SHUTDOWN) for app in self.apps.values()), return_exceptions=True
        )
        for app, result in zip(self.apps.values(), results, strict=True):
            if isinstance(result, BaseException):
                app.log.error("%s: error while stopping: %s", app.spec.name, result)

    def kill_all_sync(self) -> None:
        for app in self.apps.values():
            app.kill_sync()

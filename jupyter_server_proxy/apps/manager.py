"""Every supervised app of one server, and the single place where their lifetimes end.

Rules:
1. Each app has its default instance (``rstudio``) from the start. An app whose spec sets
   ``instances`` also has the instances it was asked for (``tb@exp1``), created when first
   started, by a request or the API, and kept (with their state and log) until the server
   stops: at most ``MAX_INSTANCES`` per app, a bound on the processes and logs one app can
   hold. Asking for one more is a ``TooManyInstances`` (409) that names the limit.
2. A start is given its launch parameters (``core/parameters.py``) here, checked before
   anything is created or started: the values given (through the API), else those the
   instance ran with last, else the defaults. Other values than those of a running instance
   are refused (``ParametersInUse``): restart it to change them.
3. An instance is reached at ``<name>@<instance>/`` beside ``<name>/``; that is its public
   location, which it is told as its default instance is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from ..core.errors import ProxyError
from ..core.instancenames import NoSuchApp, split_name
from ..core.parameters import ParametersInUse, Value, check_values, describe
from ..core.publicurl import PublicLocation
from ..transport.pool import Upstream
from .identity import instance_spec
from .specs import ServerSpec
from .state import AppState, Reason
from .supervisor import ManagedApp

#: The most instances one app may have (its default one not counted): each is a process and a
#: log of up to ``log_lines`` lines, kept until the server stops.
MAX_INSTANCES = 32


class TooManyInstances(ProxyError):
    status = 409
    title = "Too many instances"


def instance_location(app: PublicLocation, instance: str) -> PublicLocation:
    """Where the browser reaches an instance: its app's location with ``@<instance>`` added to
    the last path segment (``/user/a/tb/`` -> ``/user/a/tb@exp1/``)."""
    path = app.path.removesuffix("/") + f"@{instance}/"
    url = app.url.removesuffix("/") + f"@{instance}/" if app.url else ""
    return PublicLocation(path, url)


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
        self.specs = dict(specs)
        self.base_url = base_url
        self.log = log
        self.upstream = upstream
        self.stop_grace = stop_grace
        self.public = {
            name: (public or {}).get(name)
            or PublicLocation(base_url.rstrip("/") + "/").under(name + "/")
            for name in specs
        }
        self.apps: dict[str, ManagedApp] = {
            name: ManagedApp(
                spec,
                base_url=base_url,
                log=log,
                upstream=upstream,
                stop_grace=stop_grace,
                public=(public or {}).get(name),
            )
            for name, spec in specs.items()
        }
        #: Each app's instances besides its default one, by instance name, in creation order.
        self.instances: dict[str, dict[str, ManagedApp]] = {name: {} for name in specs}

    def get(self, name: str) -> ManagedApp:
        """The app or instance ``name`` (``tb``, ``tb@exp1``) as it is now; ``KeyError`` for
        a name that names nothing started."""
        app, instance = split_name(name)
        if instance is None:
            return self.apps[app]
        return self.instances[app][instance]

    def find(self, name: str) -> ManagedApp:
        """``get``, with a ``NoSuchApp`` that says why for a name that names nothing."""
        self.spec(name)  # an unknown app, or an instance of an app that has none
        try:
            return self.get(name)
        except KeyError:
            app, instance = split_name(name)
            raise NoSuchApp(f"app {app!r} has no instance {instance!r} (never started)") from None

    def spec(self, name: str) -> ServerSpec:
        """The spec of the app ``name`` names (``tb`` for ``tb@exp1``)."""
        app, instance = split_name(name)
        spec = self.specs.get(app)
        if spec is None:
            raise NoSuchApp(f"no app named {app!r}")
        if instance is not None and not spec.instances:
            raise NoSuchApp(f"app {app!r} has no instances (its spec does not set instances: true)")
        return spec

    def entries(self) -> list[ManagedApp]:
        """Every app's default instance, each followed by its instances: what the API lists."""
        return [m for name, app in self.apps.items() for m in (app, *self.instances[name].values())]

    # -- starting ---------------------------------------------------------------------------

    def to_start(
        self, name: str, given: Mapping[str, Any] | None = None, *, restart: bool = False
    ) -> ManagedApp:
        """The app or instance ``name``, made ready to be started (rule 2): created if it is
        a new instance (rule 1), its launch parameters set. ``given``: the values a client
        sent (None: none sent); ``restart``: the caller stops it first, so its values may
        change. Raises ``NoSuchApp``, ``BadParameter``, ``ParametersInUse`` or
        ``TooManyInstances``; then nothing was created or changed."""
        spec = self.spec(name)
        _, instance = split_name(name)
        try:
            existing: ManagedApp | None = self.get(name)
        except KeyError:
            existing = None
        values = self._values(spec, name, existing, given)
        if existing is None:
            assert instance is not None
            return self._create(spec, instance, values)
        busy = not restart and existing.state in (AppState.STARTING, AppState.RUNNING)
        if busy and existing.parameters is not None and values != existing.parameters:
            raise ParametersInUse(
                f"{name} runs with {describe(sorted(existing.parameters.items())) or 'none'}; "
                "restart it to start it with other parameters"
            )
        existing.parameters = values
        return existing

    def _values(
        self,
        spec: ServerSpec,
        name: str,
        existing: ManagedApp | None,
        given: Mapping[str, Any] | None,
    ) -> dict[str, Value]:
        if given is None and existing is not None and existing.parameters is not None:
            return existing.parameters
        return check_values(spec.parameters, given, f"app {name!r}")

    def _create(self, spec: ServerSpec, instance: str, values: dict[str, Value]) -> ManagedApp:
        kept = self.instances[spec.name]
        if len(kept) >= MAX_INSTANCES:
            raise TooManyInstances(
                f"app {spec.name!r} has {len(kept)} instances, the most one app may have "
                f"(MAX_INSTANCES = {MAX_INSTANCES}); start one of them again instead"
            )
        app = ManagedApp(
            instance_spec(spec, instance),
            base_url=self.base_url,
            log=self.log,
            upstream=self.upstream,
            stop_grace=self.stop_grace,
            public=instance_location(self.public[spec.name], instance),
        )
        app.parameters = values
        kept[instance] = app
        self.log.info("%s: new instance", app.spec.name)
        return app

    # -- stopping ---------------------------------------------------------------------------

    async def stop_all(self) -> None:
        """Stop every app and instance concurrently; never raises (it runs during server
        shutdown)."""
        apps = self.entries()
        results = await asyncio.gather(
            *(app.stop(Reason.SHUTDOWN) for app in apps), return_exceptions=True
        )
        for app, result in zip(apps, results, strict=True):
            if isinstance(result, BaseException):
                app.log.error("%s: error while stopping: %s", app.spec.name, result)

    def kill_all_sync(self) -> None:
        for app in self.entries():
            app.kill_sync()

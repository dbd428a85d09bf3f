"""Routes and handler of app instances: ``/<name>@<instance>/...`` for an app whose spec sets
``instances`` (``core/instancenames.py``).

An instance is proxied exactly as its app's default instance is (``named.py``): the handler is
the app's, with the addressable name ``<name>@<instance>`` in place of ``<name>``, so the
instance has its own process (``AppManager``), context path, starting page and API name. An
app without ``instances`` has no such route: ``/<name>@x/`` is Jupyter's 404.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jupyter_server.utils import url_path_join

from ..apps.specs import ServerSpec
from ..core.instancenames import INSTANCE_PATTERN, join_name
from .named import AddSlashHandler, SuperviseAndProxyHandler, app_route_names


class InstanceProxyHandler(SuperviseAndProxyHandler):
    """Proxies ``/<name>@<instance>/...`` to that instance, starting it (and making it, at its
    first request) if needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The route captures only the path after the instance, as the app's own route does
        # (one argument for every method); the instance is read from the path it matched.
        prefix: str = kwargs.pop("prefix")
        super().__init__(*args, **kwargs)
        instance = self.request.path[len(prefix) :].partition("/")[0]
        self.name = self.proxy_base = join_name(self.spec.name, instance)


def instance_routes(base_url: str, specs: Mapping[str, ServerSpec]) -> list[Any]:
    out: list[Any] = []
    for name, spec in specs.items():
        if not spec.instances:
            continue
        _, _, slash, proxy = app_route_names(name)
        at = url_path_join(base_url, re.escape(name)) + f"@(?:{INSTANCE_PATTERN})"
        prefix = url_path_join(base_url, name) + "@"
        out.append((at, AddSlashHandler, {}, slash))
        out.append((at + "(/.*)", InstanceProxyHandler, {"spec": spec, "prefix": prefix}, proxy))
    return out

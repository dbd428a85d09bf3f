"""The URL layout, all under the server's ``base_url`` (see DESIGN.md §1 for the contract).

Order matters: tornado takes the first pattern that matches, so specific routes come first and a
catch-all under ``/proxy/`` answers URLs that name no target (no port, userinfo, ``host/path``)
with 404, as 4.x does, but with a page that says what a target looks like (instead of Jupyter's
generic one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jupyter_server.utils import url_path_join

from .config import ServerProxy
from .specs import ServerSpec

# A host in a URL: anything in brackets (an IPv6 literal, or so it claims), or else 4.x's pattern,
# any text without "/", ":" or "@". It is broad on purpose: whatever the form, the allowlist
# judges the host first (403 if it is not on it), and only an allowed one is checked for syntax.
_HOST = r"(\[[^/@\]]*\]|[^/:@]+)"


def routes(base_url: str, config: ServerProxy, specs: Mapping[str, ServerSpec]) -> list[Any]:
    from .api import api_routes
    from .handlers import LocalProxyHandler, RemoteProxyHandler
    from .named import BadTargetHandler, named_routes

    def under(pattern: str) -> str:
        return url_path_join(base_url, pattern)

    common = {
        "host_allowlist": config.host_allowlist,
        "rewrite_response": config.non_service_rewrite_response,
    }
    out: list[Any] = []
    out += api_routes(base_url, specs)
    out += named_routes(base_url, specs)
    out += [
        (
            under(rf"/proxy/absolute/{_HOST}:(\d+)(/.*|)"),
            RemoteProxyHandler,
            {"absolute_url": True, **common},
        ),
        (
            under(r"/proxy/absolute/(\d+)(/.*|)"),
            LocalProxyHandler,
            {"absolute_url": True, **common},
        ),
        (
            under(rf"/proxy/{_HOST}:(\d+)(/.*|)"),
            RemoteProxyHandler,
            {"absolute_url": False, **common},
        ),
        (under(r"/proxy/(\d+)(/.*|)"), LocalProxyHandler, {"absolute_url": False, **common}),
        (under(r"/proxy/(.*)"), BadTargetHandler),
    ]
    return out


def literal(name: str) -> str:
    """A route pattern that matches ``name`` literally (a ``.`` in a name is not a regex)."""
    return re.escape(name)

"""The URL layout, all under the server's ``base_url`` (see DESIGN.md §1 for the contract).

Order matters: tornado takes the first pattern that matches, so specific routes come first and a
catch-all under ``/proxy/`` answers URLs that name no target (no port, userinfo, ``host/path``)
with 404, as 4.x does, but with a page that says what a target looks like (instead of Jupyter's
generic one).

Jupyter's own routes always win over a named app. Every extension's routes are tried before the
server's own, in the order the extensions were loaded, so an app named ``api`` or ``lab`` would
otherwise answer ``/api/status`` or ``/lab`` in Jupyter's place. An app whose ``/<name>/...``
would take a path that a route of the server, of another extension or of this extension serves
is left out and reported. The routes are read from the web application itself (``route_owners``):
once when our routes are added (the server's and the extensions loaded before us), and again
when the server starts (the extensions loaded after us).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_server.utils import url_path_join

from ..apps.config import ServerProxy
from ..apps.specs import ServerSpec

# A host in a URL: anything in brackets (an IPv6 literal, or so it claims), or else 4.x's pattern,
# any text without "/", ":" or "@". It is broad on purpose: whatever the form, the allowlist
# judges the host first (403 if it is not on it), and only an allowed one is checked for syntax.
_HOST = r"(\[[^/@\]]*\]|[^/:@]+)"


def routes(base_url: str, config: ServerProxy, specs: Mapping[str, ServerSpec]) -> list[Any]:
    # The handlers are imported here, not at the top: ``jupyter server-proxy list`` uses this
    # module's route checks and should not load tornado's handlers and ours to do so.
    from .api import api_routes
    from .instances import instance_routes
    from .named import named_routes
    from .porthandlers import BadTargetHandler, LocalProxyHandler, RemoteProxyHandler

    def under(pattern: str) -> str:
        return url_path_join(base_url, pattern)

    common = {
        "host_allowlist": config.host_allowlist,
        "rewrite_response": config.non_service_rewrite_response,
    }
    out: list[Any] = []
    out += api_routes(base_url, specs)
    out += named_routes(base_url, specs)
    out += instance_routes(base_url, specs)
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


#: Where a regex stops being a literal: a metacharacter, or a quantifier on the previous one.
_QUANTIFIERS = frozenset("*+?{")
_META = frozenset(".^$|()[]\\") | _QUANTIFIERS
#: A name no route serves, to tell a catch-all (Jupyter's 404 page, its trailing-slash
#: redirect) from a route that serves a given name.
_NOBODY = "jupyter-server-proxy-route-probe-0c6f"


def literal_prefix(pattern: str) -> str:
    """The text every path that ``pattern`` matches starts with (``\\.`` is a literal dot)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])
            i += 2
            continue
        if c in _META:
            if c in _QUANTIFIERS and out:
                out.pop()  # ``s?`` may leave the ``s`` out
            break
        out.append(c)
        i += 1
    return "".join(out)


def _app_paths(base_url: str, name: str) -> list[str]:
    at = url_path_join(base_url, name)
    return [at, at + "/", at + "/x", at + "/x/y"]


def takes_app_paths(pattern: str, base_url: str, name: str) -> bool:
    """Whether the route ``pattern`` serves paths of the app ``name`` (``{base_url}{name}`` and
    everything under it). Catch-alls (the 404 page, the trailing-slash redirect) don't count,
    nor does a route whose literal start merely begins the name (``/tree(.*)`` is Notebook's
    ``tree``, and leaves ``trees`` alone)."""
    prefix = literal_prefix(pattern)
    base = url_path_join(base_url, "/")
    if prefix.startswith(base) and len(prefix) > len(base):
        rel = prefix[len(base) :]
        first, slash, _ = rel.partition("/")
        if slash:  # the whole first segment is literal
            return first == name
        if first != name:
            return False
    try:
        regex = re.compile(pattern if pattern.endswith("$") else pattern + "$")
    except re.error:
        return False
    if any(regex.match(p) for p in _app_paths(base_url, _NOBODY)):
        return False
    return any(regex.match(p) for p in _app_paths(base_url, name))


@dataclass(frozen=True)
class RouteOwner:
    """A route that is not a named app's: its pattern, and who serves it."""

    pattern: str
    handler: str

    def __str__(self) -> str:
        return f"{self.pattern.removesuffix('$')} ({self.handler})"


def route_owners(router: Any, skip: frozenset[str] = frozenset()) -> list[RouteOwner]:
    """Every path route of a tornado router, its nested routers included, in matching order;
    the routes named in ``skip`` (our named apps' own) left out."""
    from tornado.routing import PathMatches

    out: list[RouteOwner] = []
    for rule in getattr(router, "rules", ()):
        if hasattr(rule.target, "rules"):
            out += route_owners(rule.target, skip)
        elif isinstance(rule.matcher, PathMatches) and rule.name not in skip:
            target = rule.target
            where = getattr(target, "__module__", "?")
            handler = f"{where}.{getattr(target, '__qualname__', target)}"
            out.append(RouteOwner(rule.matcher.regex.pattern, handler))
    return out


def route_clash(name: str, base_url: str, owners: list[RouteOwner]) -> str | None:
    """Why the app ``name`` cannot have ``{base_url}{name}/``: the first route it would hide."""
    for owner in owners:
        if takes_app_paths(owner.pattern, base_url, name):
            return (
                f"the name {name!r} is taken by the route {owner}, which the app would hide; "
                "app left out (rename it)"
            )
    return None


def drop_routes(router: Any, names: frozenset[str]) -> None:
    """Take the routes with these names out of a tornado router and its nested routers."""
    rules = getattr(router, "rules", None)
    if rules is None:
        return
    for rule in list(rules):
        if hasattr(rule.target, "rules"):
            drop_routes(rule.target, names)
        elif rule.name in names:
            rules.remove(rule)
            getattr(router, "named_rules", {}).pop(rule.name, None)


#: For ``jupyter server-proxy list``, which starts no server to read routes from: the first path
#: segments that jupyter_server 2.x serves itself (read off its routing table), and those of the
#: frontends usually installed beside it (JupyterLab, Notebook 7, nbclassic). Importing the
#: server's handler modules instead would import nbconvert, seconds of a CLI's time.
KNOWN_PREFIXES = {
    "jupyter_server": (
        "api", "files", "view", "nbconvert", "kernelspecs", "login", "logout", "static",
        "custom", "nbextensions", "terminals", "metrics", "robots.txt", "favicon.ico",
    ),
    "a frontend (JupyterLab, Notebook, nbclassic)": (
        "lab", "doc", "tree", "notebooks", "edit", "consoles", "nbclassic",
    ),
}  # fmt: skip


def known_route_owners() -> list[RouteOwner]:
    """Without a server: ``KNOWN_PREFIXES`` and our own routes. (A server reads its routes.)"""
    owners = [
        RouteOwner(rf"/{re.escape(prefix)}(/.*)?$", f"a route of {who}")
        for who, prefixes in KNOWN_PREFIXES.items()
        for prefix in prefixes
    ]
    for pattern, handler, *_ in routes("/", ServerProxy(), {}):
        owners.append(RouteOwner(pattern, f"{handler.__module__}.{handler.__qualname__}"))
    return owners

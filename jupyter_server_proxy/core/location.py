"""Rewriting ``Location`` (and ``Content-Location``) on backend responses, per RFC 3986.

The backend thinks it lives at ``/``; the client sees it under a prefix such as
``/user/alice/proxy/8050``. A redirect must still land in the right place:

- absolute-path references (``/login``) get the prefix, unless they already start with it (an app
  told its prefix through ``X-Forwarded-Prefix`` builds prefixed paths itself);
- absolute URLs that point at the backend itself (its host:port, or the ``Host`` the client sent,
  which we forward) become absolute-path references with the prefix, so the client never sees the
  backend's address and a TLS-terminating proxy in front keeps its scheme;
- relative references (``next``, ``../up``, ``?q=1``) already resolve correctly against the
  client's URL (RFC 3986 §5.2), and URLs to other hosts are none of our business: both stay.

With ``absolute_url`` the backend already sees the full path, so only same-backend absolute URLs are
shortened to their path.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit, urlunsplit


def join_prefix(prefix: str, path: str) -> str:
    """``prefix`` (no trailing slash needed) + an absolute path, with exactly one slash between."""
    prefix = prefix.rstrip("/")
    if path == prefix or path.startswith(prefix + "/"):
        return path
    return prefix + (path if path.startswith("/") else "/" + path)


def rewrite_location(
    location: str,
    *,
    prefix: str,
    backend_authorities: Collection[str],
    absolute_url: bool,
) -> str:
    """Return the ``Location`` value the client should see. ``backend_authorities`` are
    lower-case ``host[:port]`` strings that mean "this backend"."""
    try:
        parts = urlsplit(location)
    except ValueError:
        return location  # not a URI we understand: leave it to the client
    if parts.netloc:
        if parts.scheme not in ("", "http", "https", "ws", "wss"):
            return location
        if parts.netloc.lower() not in backend_authorities:
            return location
        path = parts.path or "/"
        if not absolute_url:
            path = join_prefix(prefix, path)
        return urlunsplit(("", "", path, parts.query, parts.fragment))
    if parts.scheme or not parts.path.startswith("/") or absolute_url:
        return location
    return urlunsplit(("", "", join_prefix(prefix, parts.path), parts.query, parts.fragment))


def backend_authorities(host: str, port: int | None, client_host: str | None) -> set[str]:
    """The ``host[:port]`` spellings a backend may use for itself in an absolute URL."""
    names = {host.lower()}
    if host.lower() in ("localhost", "127.0.0.1", "[::1]", "::1"):
        names |= {"localhost", "127.0.0.1", "[::1]"}
    out: set[str] = set()
    for name in names:
        if port is None or port == 80:
            out.add(name)
        if port is not None:
            out.add(f"{name}:{port}")
    if client_host:
        out.add(client_host.lower())
    return out


#: The response fields that carry a URL the client resolves (RFC 9110 §10.2.2, §8.7).
LOCATION_HEADERS = frozenset({"location", "content-location"})


def rewrite_location_headers(
    headers: list[tuple[str, str]],
    *,
    prefix: str,
    backend_host: str,
    backend_port: int | None,
    client_host: str | None,
    absolute_url: bool,
    only: Collection[str] | None = None,
) -> list[tuple[str, str]]:
    """``headers`` with every ``Location`` and ``Content-Location`` rewritten for the client
    (``rewrite_location``); the list itself when there is none, the common case.

    ``only``, after ``rewrite_response`` hooks: the values the backend sent. A value a hook set
    instead gets only what 4.x did to it (an absolute path goes below the prefix), and an
    absolute URL it set is left as it is, even one that names the client's host: the hook
    made that URL for the browser (jupyter-rsession-proxy sets the request's host on RStudio's
    redirects), where one from the backend is built on the ``Host`` we forwarded."""
    for name, _ in headers:  # a loop, not ``any(...)``: this runs for every response
        if name.lower() in LOCATION_HEADERS:
            break
    else:
        return headers
    authorities = backend_authorities(backend_host, backend_port, client_host)
    return [
        (
            name,
            rewrite_location(
                value,
                prefix=prefix,
                backend_authorities=authorities if only is None or value in only else (),
                absolute_url=absolute_url,
            )
            if name.lower() in LOCATION_HEADERS
            else value,
        )
        for name, value in headers
    ]

"""Location rewriting per RFC 3986 (see core/location.py for the rules)."""

from __future__ import annotations

import pytest

from jupyter_server_proxy.core.location import (
    backend_authorities,
    join_prefix,
    rewrite_location,
    rewrite_location_headers,
)

PREFIX = "/user/alice/proxy/8050"
AUTH = backend_authorities("localhost", 8050, "hub.example.org")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/", PREFIX + "/"),
        ("/login", PREFIX + "/login"),
        ("/login?next=/a#frag", PREFIX + "/login?next=/a#frag"),
        (PREFIX + "/already", PREFIX + "/already"),
        (PREFIX, PREFIX),
        ("login", "login"),
        ("./x", "./x"),
        ("../up", "../up"),
        ("?q=1", "?q=1"),
        ("#top", "#top"),
        ("", ""),
        ("http://localhost:8050/a?b=1", PREFIX + "/a?b=1"),
        ("http://127.0.0.1:8050/a", PREFIX + "/a"),
        ("https://LOCALHOST:8050", PREFIX + "/"),
        ("http://hub.example.org/x", PREFIX + "/x"),
        ("//localhost:8050/x", PREFIX + "/x"),
        ("http://localhost:9999/a", "http://localhost:9999/a"),
        ("https://example.org/a", "https://example.org/a"),
        ("mailto:someone@example.org", "mailto:someone@example.org"),
        ("http://[::1", "http://[::1"),
    ],
)
def test_relative_mode(location: str, expected: str) -> None:
    """Absolute paths and same-backend URLs get the prefix; relative and foreign ones stay."""
    assert (
        rewrite_location(location, prefix=PREFIX, backend_authorities=AUTH, absolute_url=False)
        == expected
    )


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/user/alice/proxy/absolute/8050/x", "/user/alice/proxy/absolute/8050/x"),
        ("/elsewhere", "/elsewhere"),
        (
            "http://localhost:8050/user/alice/proxy/absolute/8050/x",
            "/user/alice/proxy/absolute/8050/x",
        ),
        ("rel", "rel"),
    ],
)
def test_absolute_mode_keeps_paths(location: str, expected: str) -> None:
    """With absolute_url, paths are already right; same-backend URLs are shortened to a path."""
    assert (
        rewrite_location(location, prefix="/x", backend_authorities=AUTH, absolute_url=True)
        == expected
    )


def test_authorities_of_loopback_backends() -> None:
    """A loopback backend may name itself localhost, 127.0.0.1 or [::1]; port 80 may be implied."""
    auth = backend_authorities("127.0.0.1", 80, None)
    assert {"localhost", "localhost:80", "127.0.0.1", "[::1]:80"} <= auth
    assert "localhost" not in backend_authorities("127.0.0.1", 8050, None)
    assert backend_authorities("10.0.0.5", 8050, None) == {"10.0.0.5:8050"}


def test_join_prefix() -> None:
    assert join_prefix("/a/", "/b") == "/a/b"
    assert join_prefix("/a", "b") == "/a/b"
    assert join_prefix("/a", "/a/b") == "/a/b"
    assert join_prefix("/a", "/ab") == "/a/ab"


def test_after_hooks_only_the_backends_own_values_get_the_whole_rule() -> None:
    """With ``only`` (the values the backend sent), a URL a hook set is left alone even on a
    backend or client authority, and a path a hook set still gets the prefix."""
    headers = [
        ("Location", "http://localhost:8050/sent"),
        ("Content-Location", "http://hub.example.org/set-by-hook"),
        ("Location", "/path-set-by-hook"),
        ("X-Other", "/stays"),
    ]
    got = rewrite_location_headers(
        headers,
        prefix=PREFIX,
        backend_host="localhost",
        backend_port=8050,
        client_host="hub.example.org",
        absolute_url=False,
        only={"http://localhost:8050/sent"},
    )
    assert got == [
        ("Location", PREFIX + "/sent"),
        ("Content-Location", "http://hub.example.org/set-by-hook"),
        ("Location", PREFIX + "/path-set-by-hook"),
        ("X-Other", "/stays"),
    ]

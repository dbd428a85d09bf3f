"""Targets and paths: host/port validation, host allowlist, raw path recovery."""

from __future__ import annotations

import pytest

from jupyter_server_proxy.core.errors import BadTarget
from jupyter_server_proxy.core.routing import (
    Target,
    host_key,
    parse_host,
    parse_port,
    raw_suffix,
    strip_fragment,
    upstream_query,
    upstream_target_uri,
)


@pytest.mark.parametrize(("text", "port"), [("1", 1), ("8050", 8050), (65535, 65535)])
def test_ports(text: str | int, port: int) -> None:
    assert parse_port(text) == port


@pytest.mark.parametrize("text", ["0", "65536", "99999", "-1", "80a", "", " 80", "٣"])
def test_bad_ports(text: str) -> None:
    """Anything but a decimal 1..65535 is a BadTarget: the URL names no target (404)."""
    with pytest.raises(BadTarget) as e:
        parse_port(text)
    assert e.value.status == 404


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("localhost", "localhost"),
        ("LocalHost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("my-host.example.org", "my-host.example.org"),
        ("node_1", "node_1"),
    ],
)
def test_hosts(text: str, host: str) -> None:
    assert parse_host(text) == host


@pytest.mark.parametrize(
    "text",
    ["", "a b", "a@b", "a/b", "a%2Fb", "[not-ipv6]", "-leading", "a..b", "x" * 300, "<script>"],
)
def test_bad_hosts(text: str) -> None:
    """Hosts that could smuggle credentials, paths or markup are refused."""
    with pytest.raises(BadTarget):
        parse_host(text)


@pytest.mark.parametrize(
    ("raw", "decoded", "expected"),
    [
        ("/proxy/8050/a%2Fb", "/a/b", "/a%2Fb"),
        ("/proxy/8050/a/b", "/a/b", "/a/b"),
        ("/proxy/8050/c%20d/e", "/c d/e", "/c%20d/e"),
        ("/proxy/8050", "", ""),
        ("/proxy/8050/", "/", "/"),
        ("/rewritten/elsewhere", "/x y", "/x%20y"),
    ],
)
def test_raw_suffix(raw: str, decoded: str, expected: str) -> None:
    """The raw tail that decodes to the route argument is used; otherwise it is re-encoded."""
    assert raw_suffix(raw, decoded) == expected


def test_target_authority() -> None:
    assert Target("::1", 80).authority == "[::1]:80"
    assert Target("localhost", 8050).authority == "localhost:8050"


def test_upstream_target_uri() -> None:
    assert upstream_target_uri("", "") == "/"
    assert upstream_target_uri("a", "q=1") == "/a?q=1"
    assert upstream_target_uri("/a%2F", "") == "/a%2F"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("localhost", "localhost"),
        ("LocalHost", "localhost"),
        ("[::1]", "::1"),
        ("[0:0::1]", "::1"),
        ("::1", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("ex ample", "ex ample"),
        ("[not-ipv6]", "[not-ipv6]"),
        ("localhost.", "localhost."),
    ],
)
def test_host_key(text: str, key: str) -> None:
    """The allowlist compares hosts case-insensitively and IPv6 literals in canonical form,
    and sees even a malformed host as it came."""
    assert host_key(text) == key


@pytest.mark.parametrize(
    ("path", "query", "sent_path", "sent_query"),
    [
        ("/a", "x=1", "/a", "x=1"),
        ("/a#bla", "", "/a", ""),
        # tornado splits at the first "?": here the "?x=1" is part of the fragment.
        ("/a#bla", "x=1", "/a", ""),
        ("/a", "x=1#bla", "/a", "x=1"),
        ("/a", "x=1#b?c#d", "/a", "x=1"),
        ("/a%23b", "c=%23", "/a%23b", "c=%23"),
        ("/#", "", "/", ""),
    ],
)
def test_fragment_is_never_forwarded(
    path: str, query: str, sent_path: str, sent_query: str
) -> None:
    """Everything from the first raw "#" on is dropped (RFC 9112 §3.2: a request-target has no
    fragment), the query too when the "#" comes before it; an escaped %23 is data and stays."""
    assert strip_fragment(path) == sent_path
    assert upstream_query(path, query) == sent_query

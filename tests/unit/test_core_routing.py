"""Targets and paths: host/port validation, host allowlist, raw path recovery."""

from __future__ import annotations

import pytest

from jupyter_server_proxy.core.errors import BadTarget, HostNotAllowed
from jupyter_server_proxy.core.routing import (
    Target,
    check_host_allowed,
    parse_host,
    parse_port,
    raw_suffix,
    upstream_target_uri,
)


@pytest.mark.parametrize(("text", "port"), [("1", 1), ("8050", 8050), (65535, 65535)])
def test_ports(text: str | int, port: int) -> None:
    assert parse_port(text) == port


@pytest.mark.parametrize("text", ["0", "65536", "99999", "-1", "80a", "", " 80", "٣"])
def test_bad_ports(text: str) -> None:
    """Anything but a decimal 1..65535 is a BadTarget (400)."""
    with pytest.raises(BadTarget):
        parse_port(text)


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


def test_allowlist_is_case_insensitive_and_accepts_bracketed_ipv6() -> None:
    check_host_allowed("localhost", ["LOCALHOST"])
    check_host_allowed("::1", ["[::1]"])
    with pytest.raises(HostNotAllowed) as e:
        check_host_allowed("example.com", ["localhost"])
    assert "example.com" in e.value.message and e.value.status == 403


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

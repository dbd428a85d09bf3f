"""``host_allowlist`` entries: exact hosts (4.x's one form), CIDR networks, DNS suffixes, each with
an optional port or port range; invalid entries named and allowing nothing."""

from __future__ import annotations

import pytest

from jupyter_server_proxy.core.allowlist import allowlist_of, is_name, parse_entry

# (entries, host as the URL names it, port as the URL gives it, allowed as written)
CASES = [
    # 4.x's form: a host matched as written, on any port
    (["localhost", "127.0.0.1"], "localhost", "8888", True),
    (["localhost", "127.0.0.1"], "LocalHost", 8888, True),
    (["LOCALHOST"], "localhost", None, True),
    (["localhost", "127.0.0.1"], "127.0.0.2", "80", False),
    (["localhost"], "localhost.", "80", False),  # as written: the trailing dot is another name
    (["::1"], "[::1]", "80", True),
    (["[::1]"], "[0:0::1]", "80", True),
    (["10.0.0.5"], "10.0.0.5", "not-a-port", True),  # no port in the entry: any, as in 4.x
    # networks, v4 and v6
    (["10.0.0.0/8"], "10.1.2.3", "8787", True),
    (["10.0.0.0/8"], "11.0.0.1", "8787", False),
    (["10.0.0.0/8"], "10.example.org", "8787", False),  # a name is not an address
    (["fd00::/8"], "[fd12::1]", "80", True),
    (["fd00::/8"], "[fe80::1]", "80", False),
    (["10.0.0.0/8"], "[::ffff:10.0.0.1]", "80", False),  # a v4-mapped v6 literal is v6
    (["192.168.0.0/16"], "192.168.1.1", "80", True),
    # DNS suffixes: one label or more before the suffix; not the suffix; not an IP
    (["*.cluster.local"], "worker-0.dask.svc.cluster.local", "8787", True),
    (["*.cluster.local"], "Worker.Cluster.Local", "8787", True),
    (["*.cluster.local"], "cluster.local", "8787", False),
    (["*.cluster.local"], "evilcluster.local", "8787", False),
    (["*.cluster.local"], "a.cluster.local.evil.org", "8787", False),
    (["*.0.0.10.in-addr"], "10.0.0.10", "80", False),
    # ports and ranges
    (["10.0.0.0/8:8787"], "10.1.2.3", "8787", True),
    (["10.0.0.0/8:8787"], "10.1.2.3", "8788", False),
    (["10.0.0.0/8:8787"], "10.1.2.3", "x", False),
    (["*.svc:8000-8999"], "app.ns.svc", "8000", True),
    (["*.svc:8000-8999"], "app.ns.svc", "8999", True),
    (["*.svc:8000-8999"], "app.ns.svc", "9000", False),
    (["fd00::/8:8787"], "[fd00::9]", "8787", True),
    (["fd00::/8:8787"], "[fd00::9]", "8786", False),
    (["[fd00::5]:443"], "[fd00::5]", "443", True),
    (["[fd00::5]:443"], "[fd00::5]", "444", False),
    (["db.internal:5432"], "db.internal", "5432", True),
    (["db.internal:5432"], "db.internal", "5433", False),
    # nothing allows everything
    ([], "localhost", "80", False),
    (["*"], "anything", "80", False),
    (["0.0.0.0"], "10.0.0.1", "80", False),
]


@pytest.mark.parametrize(("entries", "host", "port", "allowed"), CASES)
def test_allowed_as_written(
    entries: list[str], host: str, port: str | int | None, allowed: bool
) -> None:
    assert allowlist_of(entries).allows(host, port) is allowed


@pytest.mark.parametrize(
    ("entries", "address", "port", "allowed"),
    [
        (["10.0.0.0/8"], "10.3.2.1", "8787", True),
        (["10.0.0.0/8"], "169.254.169.254", "80", False),  # metadata service: not listed
        (["10.0.0.0/8:8787"], "10.3.2.1", "22", False),
        (["fd00::/8"], "fd00::1", "80", True),
        (["10.0.0.5"], "10.0.0.5", "80", False),  # a host entry matches as written only
        (["*.svc"], "10.0.0.5", "80", False),
        (["10.0.0.0/8"], "not-an-address", "80", False),
    ],
)
def test_a_resolved_address_is_checked_against_networks_only(
    entries: list[str], address: str, port: str, allowed: bool
) -> None:
    assert allowlist_of(entries).allows_address(address, port) is allowed


def test_only_networks_covering_the_port_let_a_name_be_resolved() -> None:
    assert allowlist_of(["10.0.0.0/8"]).may_resolve_into("80")
    assert not allowlist_of(["10.0.0.0/8:8787"]).may_resolve_into("80")
    assert not allowlist_of(["localhost", "*.svc"]).may_resolve_into("80")


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ("*", "may only stand first"),
        ("a.*.svc", "may only stand first"),
        ("*.", "not a DNS suffix"),
        ("*.bad_suffix!", "not a DNS suffix"),
        ("10.0.0.1/8", "CIDR"),  # host bits set: strict, so a typo is not widened silently
        ("10.0.0.0/33", "CIDR"),
        ("host name", "not a host name"),
        ("[not-v6]", "not a host name"),
        ("localhost:0", "1-65535"),
        ("localhost:9000-8000", "lowest first"),
        ("localhost:http", "not a port"),
        ("[::1]x", "may follow ']'"),
        ("10.0.0.0/8:", "not a port"),
    ],
)
def test_an_invalid_entry_is_named_and_allows_nothing(entry: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_entry(entry)
    allowlist = allowlist_of([entry, "localhost"])
    assert len(allowlist.problems) == 1 and repr(entry) in allowlist.problems[0]
    assert allowlist.allows("localhost", "80")
    assert not allowlist.allows(entry, "80")


def test_a_value_that_is_no_string_is_named() -> None:
    allowlist = allowlist_of(["localhost", 8080])
    assert allowlist.problems == ("c.ServerProxy.host_allowlist entry 8080: not a string",)
    assert allowlist.allows("localhost", "1")
    unhashable = allowlist_of(["localhost", ["10.0.0.0/8"]])
    assert unhashable.problems == (
        "c.ServerProxy.host_allowlist entry ['10.0.0.0/8']: not a string",
    )
    assert unhashable.allows("localhost", "1")


@pytest.mark.parametrize(
    "host", ["ex ample", "a@b", "a/b", "-x", "<script>", "[not-ipv6]", "x" * 300, "localhost."]
)
def test_a_malformed_host_is_simply_not_on_the_list(host: str) -> None:
    """The allowlist is asked before the host's syntax (a refusal is 403 whatever the form)."""
    allowlist = allowlist_of(["localhost", "127.0.0.1", "10.0.0.0/8", "*.svc"])
    assert not allowlist.allows(host, "80")


def test_ipv6_entries_in_any_form() -> None:
    assert allowlist_of(["0:0::1"]).allows("[::1]", "80")
    assert allowlist_of(["[::1]"]).allows("::1", "80")
    assert not allowlist_of(["[::1]"]).allows("[::2]", "80")


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("localhost", True),
        ("worker-0.dask.svc", True),
        ("10.0.0.1", False),
        ("::1", False),
        ("[::1]", False),
        ("bad entry", False),
        ("a@b", False),
    ],
)
def test_only_a_valid_name_is_resolved_for_networks(host: str, name: bool) -> None:
    assert is_name(host) is name

"""What a 4.x handler subclass's overrides return is checked before it shapes a request, and the
response's ``Location`` fields are rewritten together (pure functions, no server)."""

from __future__ import annotations

import pytest
from tornado.httputil import HTTPHeaders

from jupyter_server_proxy.core.hooks import HookFailed
from jupyter_server_proxy.core.location import rewrite_location_headers
from jupyter_server_proxy.core.routing import Target
from jupyter_server_proxy.core.tls import TlsSettings
from jupyter_server_proxy.web.overrides import (
    checked_headers,
    request_timeouts,
    target_of_client_uri,
)

OWNER = "handler Mine"
LOCAL = Target(host="localhost", port=8050)


def test_checked_headers_keep_repeated_fields_apart_and_write_numbers() -> None:
    headers = HTTPHeaders()
    headers.add("X-A", "1")
    assert checked_headers(headers, "f()", OWNER) == {"X-A": "1"}
    assert checked_headers({"X-N": 3}, "f()", OWNER) == {"X-N": "3"}


@pytest.mark.parametrize("bad", [["X-A", "1"], {"X-A": None}, {1: "x"}, {"X-A": "a\r\nB: c"}])
def test_checked_headers_refuse_what_is_not_a_dict_of_strings(bad: object) -> None:
    with pytest.raises(HookFailed, match="handler Mine: its f\\(\\) returned"):
        checked_headers(bad, "f()", OWNER)


def test_request_timeouts_map_to_our_settings_and_warn_about_the_rest() -> None:
    ignored: list[tuple[str, object]] = []
    options = {
        "connect_timeout": 3,
        "request_timeout": None,
        "follow_redirects": False,
        "validate_cert": False,
    }
    got = request_timeouts(options, OWNER, lambda k, v: ignored.append((k, v)))
    assert got == {"connect_timeout": 3.0}
    assert ignored == [("validate_cert", False)]


@pytest.mark.parametrize("bad", [{"request_timeout": -1}, {"connect_timeout": True}, []])
def test_request_timeouts_refuse_nonsense(bad: object) -> None:
    with pytest.raises(HookFailed):
        request_timeouts(bad, OWNER, lambda k, v: None)


def test_a_client_uri_to_the_asked_host_keeps_our_target() -> None:
    target, uri = target_of_client_uri(
        "http://localhost:8050/a b?q=1#frag", LOCAL, ("localhost", "8050"), OWNER
    )
    assert target is LOCAL and uri == "/a%20b?q=1"


def test_a_client_uri_to_another_host_is_the_target() -> None:
    target, uri = target_of_client_uri("ws://127.0.0.2/x", LOCAL, ("localhost", "8050"), OWNER)
    assert target == Target(host="127.0.0.2", port=80) and uri == "/x"


def test_a_client_uri_over_https_or_wss_asks_for_tls() -> None:
    """As 4.x's client did: ``https``/``wss`` reach the backend over TLS (default settings,
    port 443 when none is named); a target with TLS settings of its own keeps them."""
    target, _ = target_of_client_uri("https://localhost:8050/", LOCAL, ("localhost", "8050"), OWNER)
    assert target == Target(host=LOCAL.host, port=LOCAL.port, tls=TlsSettings())
    target, _ = target_of_client_uri("wss://example.org/x", LOCAL, ("localhost", "8050"), OWNER)
    assert target == Target(host="example.org", port=443, tls=TlsSettings())
    own = Target(host="localhost", port=8050, tls=TlsSettings(verify=False))
    target, _ = target_of_client_uri("https://localhost:8050/", own, ("localhost", "8050"), OWNER)
    assert target is own


@pytest.mark.parametrize("bad", ["ftp://localhost/", "http://local host:x/", 42])
def test_a_client_uri_we_cannot_reach_is_refused(bad: object) -> None:
    with pytest.raises(HookFailed, match="get_client_uri"):
        target_of_client_uri(bad, LOCAL, ("localhost", "8050"), OWNER)


def test_location_headers_are_rewritten_and_others_left() -> None:
    headers = [
        ("Location", "http://localhost:8050/login"),
        ("Content-Location", "/doc"),
        ("Link", "</x>"),
    ]
    got = rewrite_location_headers(
        headers,
        prefix="/proxy/8050",
        backend_host="localhost",
        backend_port=8050,
        client_host="jupyter.test",
        absolute_url=False,
    )
    assert got == [
        ("Location", "/proxy/8050/login"),
        ("Content-Location", "/proxy/8050/doc"),
        ("Link", "</x>"),
    ]
    plain = [("Content-Type", "text/plain")]
    assert (
        rewrite_location_headers(
            plain,
            prefix="/p",
            backend_host="localhost",
            backend_port=1,
            client_host=None,
            absolute_url=False,
        )
        is plain
    )

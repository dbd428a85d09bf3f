"""Header rules of the pure core (RFC 9110 §7.6.1 hop-by-hop, credential removal, injection)."""

from __future__ import annotations

import pytest

from jupyter_server_proxy.core.headers import (
    CONTEXT_HEADERS,
    HeaderInjection,
    check_field,
    connection_tokens,
    downstream_response_headers,
    drop_hop_by_hop,
    filter_cookie_header,
    is_websocket_upgrade,
    strip_jupyter_credentials,
    strip_token_query,
    upstream_request_headers,
)


@pytest.mark.parametrize(
    "name",
    [
        "Connection",
        "Keep-Alive",
        "TE",
        "Transfer-Encoding",
        "Upgrade",
        "Proxy-Connection",
        "Proxy-Authorization",
        "Proxy-Authenticate",
        "Trailer",
        "connection",
        "KEEP-ALIVE",
    ],
)
def test_fixed_hop_by_hop_fields_are_dropped(name: str) -> None:
    """Each field RFC 9110 §7.6.1 names as hop-by-hop is dropped, whatever its case."""
    assert drop_hop_by_hop([(name, "x"), ("Accept", "*/*")]) == [("Accept", "*/*")]


def test_fields_named_in_connection_are_dropped() -> None:
    """Fields listed in Connection are hop-by-hop too, across several Connection lines."""
    headers = [
        ("Connection", "X-Foo, close"),
        ("connection", " x-bar "),
        ("X-Foo", "1"),
        ("X-Bar", "2"),
        ("X-Baz", "3"),
    ]
    assert connection_tokens(headers) == {"x-foo", "close", "x-bar"}
    assert drop_hop_by_hop(headers) == [("X-Baz", "3")]


def test_repeated_fields_survive_in_order() -> None:
    """Set-Cookie repeats are kept separate and in order (RFC 6265 §3)."""
    headers = [("Set-Cookie", "a=1"), ("X", "y"), ("Set-Cookie", "b=2")]
    assert downstream_response_headers(headers) == headers


@pytest.mark.parametrize("value", ["a\r\nSet-Cookie: x=1", "a\nb", "a\x00b", "a\rb"])
def test_header_values_with_cr_lf_nul_are_refused(value: str) -> None:
    """No field may carry CR, LF or NUL (RFC 9110 §5.5): no response splitting."""
    with pytest.raises(HeaderInjection):
        check_field("X-Test", value)
    with pytest.raises(HeaderInjection):
        downstream_response_headers([("X-Test", value)])


@pytest.mark.parametrize("name", ["", "Bad Name", "X:Y", "X\r\nY", "X\n"])
def test_bad_header_names_are_refused(name: str) -> None:
    """A field name must be an RFC 9110 token."""
    with pytest.raises(HeaderInjection):
        check_field(name, "v")


def test_cookie_filter_keeps_app_cookies_and_xsrf() -> None:
    """Login cookies of any Jupyter server and jupyterhub-* go; _xsrf and app cookies stay."""
    value = (
        "username-localhost-8888=s1; username-127-0-0-1-9999=s2; jupyterhub-session-id=h; "
        "jupyterhub-user-alice=u; __Host-jupyterhub-session-id=hh; _xsrf=x; theme=dark; "
        "session=app"
    )
    assert filter_cookie_header(value, set()) == "_xsrf=x; theme=dark; session=app"
    assert filter_cookie_header("mine=1; theme=dark", {"mine"}) == "theme=dark"


@pytest.mark.parametrize(
    ("referer", "sent"),
    [
        ("http://h:8888/lab?token=servertoken", "http://h:8888/lab"),
        ("http://h/user/a/lab/tree?a=1&token=hubtoken&b=%2F", "http://h/user/a/lab/tree?a=1&b=%2F"),
        ("http://h/lab?tok%65n=x&token=y#frag", "http://h/lab#frag"),
        ("http://h/app/?mytoken=1&tokens=2", "http://h/app/?mytoken=1&tokens=2"),
        ("http://h/token/page", "http://h/token/page"),
    ],
)
def test_referer_loses_its_token_arguments(referer: str, sent: str) -> None:
    """The page a request came from may have been opened with Jupyter's token in its URL: the
    Referer reaches the app without any ``token`` argument, and with everything else."""
    for websocket in (False, True):
        out = upstream_request_headers(
            [("Referer", referer)],
            context_path="/proxy/1",
            server_token="servertoken",
            login_cookie=None,
            websocket=websocket,
        )
        assert ("Referer", sent) in out
    chosen = strip_jupyter_credentials(
        [("Referer", referer)], server_token="servertoken", login_cookie=None
    )
    assert chosen == [("Referer", sent)]


def test_cookie_header_dropped_when_nothing_is_left() -> None:
    """A Cookie header of only Jupyter cookies is removed, not sent empty."""
    out = strip_jupyter_credentials(
        [("Cookie", "jupyterhub-session-id=1")], server_token="t", login_cookie=None
    )
    assert out == []


@pytest.mark.parametrize(
    ("value", "by_header", "dropped"),
    [
        ("token abc", False, True),
        ("Token other", False, True),
        ("Bearer servertoken", False, True),
        ("bearer someone-elses", False, False),
        ("Bearer hub-token", True, True),
        ("Basic dXNlcjpwYXNz", False, False),
        ("Basic dXNlcjpwYXNz", True, False),
    ],
)
def test_authorization_removed_only_when_it_is_jupyters(
    value: str, by_header: bool, dropped: bool
) -> None:
    """Jupyter's 'token' scheme always goes; bearer only when it is the server's token or the
    credential that logged this request in; other schemes pass."""
    out = strip_jupyter_credentials(
        [("Authorization", value)],
        server_token="servertoken",
        login_cookie=None,
        header_authenticated=by_header,
    )
    assert (out == []) is dropped


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("token=tok", ""),
        ("a=1&token=tok&b=%2F", "a=1&b=%2F"),
        ("token=other", "token=other"),
        ("token=tok&token=apps", "token=apps"),
        ("tok%65n=tok", ""),
        ("x=token%3Dtok", "x=token%3Dtok"),
        ("", ""),
    ],
)
def test_token_query_argument_removed_only_with_the_servers_value(
    query: str, expected: str
) -> None:
    """Only token=<server token> goes; the rest keeps its exact bytes and order."""
    assert strip_token_query(query, "tok") == expected


def test_no_server_token_means_query_untouched() -> None:
    assert strip_token_query("token=x", None) == "token=x"


def test_upstream_headers_order_of_rules() -> None:
    """Hop-by-hop and credentials go, context headers are set (client copies replaced), and
    request_headers_override is applied last."""
    out = upstream_request_headers(
        [
            ("Host", "localhost:8888"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("X-Forwarded-Context", "/spoofed"),
            ("Authorization", "token t"),
            ("X-Keep", "k"),
            ("X-Override", "client"),
        ],
        context_path="/proxy/8050",
        server_token="t",
        login_cookie=None,
        overrides={"X-Override": "config"},
    )
    assert ("Host", "localhost:8888") in out
    assert ("X-Keep", "k") in out
    assert all(n not in ("Connection", "X-Hop", "Authorization") for n, _ in out)
    for name in CONTEXT_HEADERS:
        assert [v for n, v in out if n == name] == ["/proxy/8050"]
    assert [v for n, v in out if n == "X-Override"] == ["config"]


def test_override_values_are_checked_for_injection() -> None:
    with pytest.raises(HeaderInjection):
        upstream_request_headers(
            [],
            context_path="/",
            server_token=None,
            login_cookie=None,
            overrides={"X-A": "1\r\nX-B: 2"},
        )


def test_websocket_handshake_fields_are_left_to_the_client_library() -> None:
    """For websockets, the client's Sec-WebSocket-* fields are not copied to the backend."""
    out = upstream_request_headers(
        [("Sec-WebSocket-Key", "k"), ("Sec-WebSocket-Protocol", "p"), ("Cookie", "a=1")],
        context_path="/c",
        server_token=None,
        login_cookie=None,
        websocket=True,
    )
    assert [n for n, _ in out if n.lower().startswith("sec-websocket")] == []
    assert ("Cookie", "a=1") in out


def test_is_websocket_upgrade() -> None:
    assert is_websocket_upgrade("WebSocket")
    assert is_websocket_upgrade("h2c, websocket")
    assert not is_websocket_upgrade("h2c")
    assert not is_websocket_upgrade(None)


@pytest.mark.parametrize(
    ("status", "kept"), [(204, False), (100, False), (103, False), (200, True), (304, True)]
)
def test_no_content_length_on_204_and_1xx(status: int, kept: bool) -> None:
    """A 204 or 1xx never announces a length, whatever the backend sent (RFC 9110 §8.6); a 304
    keeps it (it describes the representation the client has)."""
    headers = [("Content-Length", "5"), ("ETag", '"x"')]
    out = downstream_response_headers(headers, status=status)
    assert (("Content-Length", "5") in out) is kept
    assert ("ETag", '"x"') in out


def test_absolute_routes_send_no_context_headers() -> None:
    """With no context path (absolute routes) none of the three context headers reaches the
    backend, not even a copy the client sent; request_headers_override may still set one."""
    client = [(name, "/spoofed") for name in CONTEXT_HEADERS] + [("X-Keep", "k")]
    out = upstream_request_headers(client, context_path=None, server_token=None, login_cookie=None)
    assert out == [("X-Keep", "k")]
    out = upstream_request_headers(
        client,
        context_path=None,
        server_token=None,
        login_cookie=None,
        overrides={"X-Forwarded-Prefix": "/mine"},
    )
    assert out == [("X-Keep", "k"), ("X-Forwarded-Prefix", "/mine")]

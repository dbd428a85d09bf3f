"""Routes of 4.x and what the app behind each one receives: path, query, prefix headers, status."""

from __future__ import annotations

import json

import pytest
from compat_support import JupyterServer, raw_request

PREFIX_HEADERS = ("X-Forwarded-Context", "X-ProxyContextPath", "X-Forwarded-Prefix")


def _prefixes(r: object) -> dict[str, list[str]]:
    return {h: r.header_values(h) for h in PREFIX_HEADERS}  # type: ignore[attr-defined]


def test_proxy_port_strips_prefix_and_sends_context(
    server: JupyterServer, backend_port: int
) -> None:
    """``/proxy/<port>/p?q`` reaches ``/p?q`` on localhost, with the prefix in three headers."""
    r = server.get(f"proxy/{backend_port}/some/path?a=1&b=2")
    assert r.status == 200
    doc = r.json()
    assert doc["path"] == "/some/path" and doc["query"] == "a=1&b=2"
    want = f"/base/proxy/{backend_port}"
    assert _prefixes(r) == {h: [want] for h in PREFIX_HEADERS}


def test_proxy_port_without_trailing_path(server: JupyterServer, backend_port: int) -> None:
    """``/proxy/<port>`` (no slash) reaches ``/`` of the app."""
    r = server.get(f"proxy/{backend_port}")
    assert r.status == 200 and r.json()["path"] == "/"


def test_proxy_host_port(server: JupyterServer, backend_port: int) -> None:
    """``/proxy/<host>:<port>/`` reaches an allowed host; the context names host and port."""
    r = server.get(f"proxy/127.0.0.1:{backend_port}/x")
    assert r.status == 200 and r.json()["path"] == "/x"
    want = f"/base/proxy/127.0.0.1:{backend_port}"
    assert _prefixes(r) == {h: [want] for h in PREFIX_HEADERS}


@pytest.mark.parametrize("target", ["{port}", "127.0.0.1:{port}"])
def test_proxy_absolute_keeps_path_and_sends_no_prefix(
    server: JupyterServer, backend_port: int, target: str
) -> None:
    """``/proxy/absolute/...`` forwards the full path, and no prefix headers (the app already
    sees the prefix; a prefix header would make it prefix twice)."""
    t = target.format(port=backend_port)
    r = server.get(f"proxy/absolute/{t}/x?y=1")
    assert r.status == 200
    assert r.json()["path"] == f"/base/proxy/absolute/{t}/x"
    assert r.json()["query"] == "y=1"
    assert _prefixes(r) == {h: [] for h in PREFIX_HEADERS}


def test_methods_and_body_are_forwarded(server: JupyterServer, backend_port: int) -> None:
    """Every method passes (with its body where it has one); no XSRF check on proxied requests."""
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        body = b"12345" if method in ("POST", "PUT", "PATCH") else None
        r = server.get(f"proxy/{backend_port}/m", method=method, body=body)
        assert r.status == 200, (method, r.body[:200])
        assert r.json()["method"] == method
        if method in ("POST", "PUT", "PATCH"):
            assert r.json()["body_length"] == 5


def test_cookie_login_post_needs_no_xsrf(server: JupyterServer, backend_port: int) -> None:
    """A browser's POST (login cookie, no ``_xsrf``) reaches the app: apps do their own CSRF."""
    from compat_support import request

    r = request(
        server.url(f"proxy/{backend_port}/form"),
        method="POST",
        body=b"a=1",
        headers={
            "Cookie": server.login_cookie(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert r.status == 200 and r.json()["body_length"] == 3  # type: ignore[index]


def test_head_is_forwarded(server: JupyterServer, backend_port: int) -> None:
    r = server.get(f"proxy/{backend_port}/h", method="HEAD")
    assert r.status == 200 and r.body == b""


def test_redirect_location_keeps_the_proxy_prefix(server: JupyterServer, backend_port: int) -> None:
    """A redirect to an absolute path of the app comes back under the proxy prefix."""
    r = server.get(f"proxy/{backend_port}/redirect?to=/elsewhere/x")
    assert r.status == 302
    assert r.headers["Location"] == f"/base/proxy/{backend_port}/elsewhere/x"


def test_host_allowlist_callable_gets_handler_and_host(
    server: JupyterServer, backend_port: int
) -> None:
    """A callable ``host_allowlist`` is called with the request handler and the host, and
    decides (the session's one refuses requests that carry ``X-Deny-Me``)."""
    assert server.get(f"proxy/127.0.0.1:{backend_port}/x").status == 200
    denied = server.get(f"proxy/127.0.0.1:{backend_port}/x", headers={"X-Deny-Me": "1"})
    assert denied.status == 403


@pytest.mark.parametrize(
    "path",
    ["proxy/10.1.2.3:{port}/x", "proxy/absolute/10.1.2.3:{port}/x", "proxy/example.invalid:80/x"],
)
def test_host_outside_allowlist_is_403(server: JupyterServer, backend_port: int, path: str) -> None:
    """A host not in ``host_allowlist`` is refused with 403 in every URL form."""
    r = server.get(path.format(port=backend_port))
    assert r.status == 403


@pytest.mark.parametrize(
    "path", ["proxy/example.invalid:99999/x", "proxy/example.invalid:0/x", "proxy/-bad-:80/x"]
)
def test_host_outside_allowlist_is_403_whatever_its_port_or_form(
    server: JupyterServer, path: str
) -> None:
    """The allowlist is checked first: an unlisted host with an odd port or name is 403 too."""
    assert server.get(path).status == 403


@pytest.mark.parametrize(
    "path",
    [
        "proxy/notaport/x",
        "proxy/127.0.0.1/x",
        "proxy/user@127.0.0.1:{port}/x",
        "proxy/%5B::1%5D:80/x",
    ],
)
def test_proxy_url_without_valid_target_is_404(
    server: JupyterServer, backend_port: int, path: str
) -> None:
    """A ``/proxy/...`` URL that names no valid target (no port, userinfo) is 404."""
    r = server.get(path.format(port=backend_port))
    assert r.status == 404


def test_fragment_in_request_target_is_not_forwarded(
    server: JupyterServer, backend_port: int
) -> None:
    """A raw ``#...`` in the request-target (invalid per RFC 9112 3.2) is dropped, not forwarded."""
    head = (
        f"GET /base/proxy/{backend_port}/frag#bla HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: token {server.token}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = raw_request(server.port, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 200 " in status_line
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["path"] == "/frag"


def test_named_app_without_slash_redirects_keeping_query(server: JupyterServer) -> None:
    """``/<name>?q`` redirects to ``/<name>/?q``."""
    r = server.get("external?a=1&b=2")
    assert r.status in (301, 302)
    assert r.headers["Location"].endswith("/base/external/?a=1&b=2")


def test_named_app_route_and_context(server: JupyterServer, backend_port: int) -> None:
    """``/<name>/p`` reaches ``/p`` of the app; the context is ``<base_url><name>``."""
    r = server.get("external/p/q?z=9")
    assert r.status == 200
    assert r.json()["path"] == "/p/q" and r.json()["query"] == "z=9"
    assert _prefixes(r) == {h: ["/base/external"] for h in PREFIX_HEADERS}


def test_login_is_required(server: JupyterServer, backend_port: int) -> None:
    """Without a login, proxied pages redirect to the login page and API-ish calls are refused."""
    from compat_support import request

    r = request(server.url(f"proxy/{backend_port}/x"))
    assert r.status in (302, 403)
    if r.status == 302:
        assert "/base/login" in r.headers["Location"]
    r = request(server.url("external/x"))
    assert r.status in (302, 403)

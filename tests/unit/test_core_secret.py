"""The per-run secret: ``verify`` as apps call it (any header type, constant-time compare, only
with a secret in the environment), the user's name, and the client's copies dropped."""

from __future__ import annotations

import http.client
import io
from typing import Any

import multidict
import pytest
from tornado.httputil import HTTPHeaders

import jupyter_server_proxy
from jupyter_server_proxy.core.headers import client_request_fields, upstream_request_headers
from jupyter_server_proxy.core.secret import (
    SECRET_HEADER,
    SECRET_VAR,
    USER_HEADER,
    identity_headers,
    new_secret,
    user_name,
    verify,
)

SECRET = "s3cret-value_of-the-run"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SECRET_VAR, SECRET)
    return SECRET


def http_server_headers(raw: str) -> Any:
    """Headers as ``http.server``'s ``self.headers`` has them (an ``email.message.Message``)."""
    return http.client.parse_headers(io.BytesIO(raw.encode("latin-1") + b"\r\n"))


def werkzeug_headers(pairs: list[tuple[str, str]]) -> Any:
    # Flask's; installed with the newest lane's test tools, not with the lowest lane's.
    return pytest.importorskip("werkzeug.datastructures").Headers(pairs)


def tornado_headers(pairs: list[tuple[str, str]]) -> HTTPHeaders:
    headers = HTTPHeaders()
    for name, value in pairs:
        headers.add(name, value)
    return headers


@pytest.mark.parametrize(
    "make",
    [
        lambda pairs: dict(pairs),
        lambda pairs: list(pairs),
        lambda pairs: [(n.lower().encode(), v.encode()) for n, v in pairs],  # an ASGI scope's
        lambda pairs: http_server_headers("".join(f"{n}: {v}\r\n" for n, v in pairs)),
        werkzeug_headers,
        tornado_headers,
        lambda pairs: multidict.CIMultiDict(pairs),  # aiohttp's
    ],
    ids=["dict", "pairs", "asgi", "http.server", "werkzeug", "tornado", "aiohttp"],
)
def test_verify_accepts_the_secret_in_any_header_type(make: Any, secret_env: str) -> None:
    """The run's secret verifies however the app's framework holds headers, in any case."""
    for name in (SECRET_HEADER, SECRET_HEADER.lower(), SECRET_HEADER.upper()):
        assert verify(make([("Accept", "*/*"), (name, secret_env)]))
        assert not verify(make([("Accept", "*/*"), (name, secret_env + "x")]))
        assert not verify(make([("Accept", "*/*")]))


def test_verify_is_the_package_root_name() -> None:
    """Apps import it as ``jupyter_server_proxy.verify``."""
    assert jupyter_server_proxy.verify is verify


@pytest.mark.parametrize("value", [None, ""])
def test_without_a_secret_in_the_environment_nothing_verifies(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app the proxy did not start has no secret: not even an empty header verifies."""
    if value is None:
        monkeypatch.delenv(SECRET_VAR, raising=False)
    else:
        monkeypatch.setenv(SECRET_VAR, value)
    assert not verify({SECRET_HEADER: ""})
    assert not verify({SECRET_HEADER: "anything"})


@pytest.mark.parametrize(
    "sent",
    [
        [(SECRET_HEADER, SECRET), (SECRET_HEADER, SECRET)],  # twice: which one was the proxy's?
        [(SECRET_HEADER, SECRET), (SECRET_HEADER, "forged")],
        [(SECRET_HEADER, SECRET[:-1])],
        [(SECRET_HEADER, "é" + SECRET)],  # non-ASCII: refused, not an exception
        [(SECRET_HEADER, "\udcff")],
        [(SECRET_HEADER.encode(), b"\xff" + SECRET.encode())],
        [(USER_HEADER, SECRET)],
    ],
)
def test_anything_but_the_one_secret_is_refused(
    sent: list[tuple[Any, Any]], secret_env: str
) -> None:
    """A repeated, shortened, non-ASCII or misplaced secret does not verify."""
    assert not verify(sent)


def test_a_repeated_secret_in_tornados_headers_is_refused(secret_env: str) -> None:
    """tornado's headers join repeats with commas: that does not verify either."""
    assert not verify(tornado_headers([(SECRET_HEADER, SECRET), (SECRET_HEADER, SECRET)]))


def test_surrounding_whitespace_is_not_part_of_the_value(secret_env: str) -> None:
    """Optional whitespace around a field value is not part of it (RFC 9110 §5.5)."""
    assert verify([(SECRET_HEADER, f" {secret_env}\t")])


def test_each_secret_is_fresh_and_long() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(len(s) >= 43 for s in secrets)  # 32 random bytes, URL-safe base64


class HubUser:
    """jupyter_server 2's ``User`` shape: ``username``, and a display ``name``."""

    username = "alice"
    name = "Alice A."


@pytest.mark.parametrize(
    "user,name",
    [
        (HubUser(), "alice"),
        ({"name": "bob", "kind": "user"}, "bob"),  # a JupyterHub user model (standalone)
        ({"username": "carol"}, "carol"),
        ("dave", "dave"),
        (None, None),
        ("", None),
        ({"name": None}, None),
        (object(), None),
    ],
)
def test_the_user_name_of_any_current_user(user: object, name: str | None) -> None:
    assert user_name(user) == name


def test_identity_headers_encode_what_a_field_cannot_hold() -> None:
    """A name with non-ASCII, spaces or control characters is percent-encoded as UTF-8, so it
    fits in a field and cannot split the request; printable ASCII passes as it is."""
    assert identity_headers("k", "a.b@example.org") == [
        (SECRET_HEADER, "k"),
        (USER_HEADER, "a.b@example.org"),
    ]
    assert identity_headers("k", "josé 100%\r\nX: y")[1] == (
        USER_HEADER,
        "jos%C3%A9%20100%25%0D%0AX:%20y",
    )
    assert identity_headers("k", None) == [(SECRET_HEADER, "k")]


@pytest.mark.parametrize("name", [SECRET_HEADER, USER_HEADER, SECRET_HEADER.lower()])
def test_a_clients_identity_fields_are_dropped(name: str) -> None:
    """A client's own secret or user field never passes: it could pass for the proxy."""
    assert client_request_fields([(name, "forged"), ("Accept", "*/*")]) == [("Accept", "*/*")]
    out = upstream_request_headers(
        client_request_fields([(name, "forged")]),
        context_path="/x",
        server_token=None,
        login_cookie=None,
        websocket=True,
    )
    assert all(n.lower() != name.lower() for n, _ in out)


def test_an_override_cannot_set_the_identity_fields() -> None:
    """``request_headers_override`` sets any field but the proxy's own two."""
    out = upstream_request_headers(
        [],
        context_path=None,
        server_token=None,
        login_cookie=None,
        overrides={SECRET_HEADER: "mine", USER_HEADER.upper(): "me", "X-Other": "kept"},
    )
    assert out == [("X-Other", "kept")]

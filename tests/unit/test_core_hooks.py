"""call_with_asked_args and template filling, as plugins and configs use them."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from jupyter_server_proxy.core.hooks import (
    HookFailed,
    call_with_asked_args,
    fill_templates,
    resolve,
)

ARGS = {"port": 8050, "unix_socket": "", "base_url": "/user/a/"}


def test_functions_get_only_what_they_ask_for() -> None:
    assert call_with_asked_args(lambda port: port, ARGS) == 8050
    assert call_with_asked_args(lambda: "none", ARGS) == "none"
    assert call_with_asked_args(lambda base_url, port: (base_url, port), ARGS) == ("/user/a/", 8050)


def test_keyword_only_and_var_keyword() -> None:
    def kwonly(*, unix_socket: str) -> str:
        return f"[{unix_socket}]"

    def everything(**kw: Any) -> list[str]:
        return sorted(kw)

    assert call_with_asked_args(kwonly, ARGS) == "[]"
    assert call_with_asked_args(everything, ARGS) == ["base_url", "port", "unix_socket"]


def test_partials_and_callable_objects() -> None:
    """Beyond the peer: functools.partial and objects with __call__ work."""

    def cmd(prog: str, port: int) -> list[str]:
        return [prog, str(port)]

    class Env:
        def __call__(self, port: int) -> dict[str, str]:
            return {"PORT": str(port)}

    assert call_with_asked_args(functools.partial(cmd, "serve"), ARGS) == ["serve", "8050"]
    assert call_with_asked_args(Env(), ARGS) == {"PORT": "8050"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("--port={port}", "--port=8050"),
        (["a", "{base_url}x", 3], ["a", "/user/a/x", 3]),
        ({"{port}": "{unix_socket}"}, {"8050": ""}),
        ({"k": ["{port}", {"n": "{base_url}"}]}, {"k": ["8050", {"n": "/user/a/"}]}),
        (None, None),
        (5, 5),
        ("{{literal}}", "{literal}"),
    ],
)
def test_templates_in_strings_lists_and_dict_keys_and_values(value: Any, expected: Any) -> None:
    assert fill_templates(value, ARGS) == expected


def test_unknown_template_is_an_error() -> None:
    with pytest.raises(KeyError):
        fill_templates("{nope}", ARGS)


def test_resolve_fills_templates_in_what_callables_return() -> None:
    def command(port: int) -> list[str]:
        return ["x", "{base_url}", str(port)]

    assert resolve(command, ARGS, owner="app 'a'", key="command") == ["x", "/user/a/", "8050"]
    assert resolve(["{port}"], ARGS, owner="app 'a'", key="command") == ["8050"]


def test_a_callable_that_raises_is_named_with_where_it_raised() -> None:
    """The error names the owner, the key, the callable and the line it raised on."""

    def make_env(port: int) -> dict[str, str]:
        raise LookupError("no such thing")

    with pytest.raises(HookFailed) as e:
        resolve(make_env, ARGS, owner="app 'a'", key="environment")
    assert e.value.status == 500 and isinstance(e.value.__cause__, LookupError)
    assert e.value.reason.startswith("its environment callable ")
    assert "make_env raised LookupError" in e.value.message
    assert e.value.message.startswith("app 'a': ") and "test_core_hooks.py, line" in e.value.message


def test_partials_and_callable_objects_are_named() -> None:
    class Rewriter:
        def __call__(self) -> None:
            raise ValueError("x")

    with pytest.raises(HookFailed, match=r"<locals>.Rewriter\(\) raised ValueError: x"):
        resolve(Rewriter(), ARGS, owner="c.ServerProxy", key="hook")
    with pytest.raises(HookFailed, match=r"callable partial\(int\) raised ValueError"):
        resolve(functools.partial(int, "nan"), ARGS, owner="c.ServerProxy", key="hook")


def test_a_template_naming_no_value_is_named() -> None:
    """``{nope}`` in a spec value: the error names the key and the templates there are."""
    with pytest.raises(HookFailed) as e:
        resolve({"X-A": "{nope}"}, ARGS, owner="app 'a'", key="request_headers_override")
    assert "request_headers_override cannot be filled in (KeyError: 'nope')" in e.value.message
    assert "{port}, {unix_socket}, {base_url}" in e.value.message

"""Spec validation: every key the peer takes, with one clear error per bad value."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from jupyter_server_proxy.apps.specs import KNOWN_KEYS
from jupyter_server_proxy.apps.validation import SpecError, validate_spec
from jupyter_server_proxy.core.tls import TlsSettings


def ok(raw: dict[str, Any], name: str = "app") -> Any:
    spec, warnings = validate_spec(name, raw)
    return spec


def test_defaults_match_the_peer() -> None:
    """An empty spec gets the peer's defaults: 5 s timeout, title = name, path_info = name/,
    category Notebook, new browser tab, activity counted."""
    spec = ok({})
    assert spec.timeout == 5.0 and spec.command == () and spec.port == 0
    assert spec.launcher_entry.title == "app" and spec.launcher_entry.path_info == "app/"
    assert spec.launcher_entry.category == "Notebook" and spec.launcher_entry.enabled
    assert spec.new_browser_tab and spec.update_last_activity is True
    assert spec.unix_socket is None and not spec.absolute_url and not spec.raw_socket_proxy


def test_every_key_is_read() -> None:
    """All documented keys land in the spec, callables kept as callables."""

    def hook(response: Any) -> None: ...

    spec = ok(
        {
            "command": ["run", "{port}"],
            "environment": {"A": "{port}"},
            "timeout": 12,
            "absolute_url": True,
            "port": 8050,
            "unix_socket": "/tmp/x.sock",
            "mappath": {"/": "/index.html"},
            "launcher_entry": {
                "enabled": False,
                "title": "T",
                "icon_path": "/i.svg",
                "path_info": "app/sub",
                "category": "Other",
                "rank": 3,
            },
            "new_browser_tab": False,
            "request_headers_override": {"X-A": "{base_url}"},
            "rewrite_response": hook,
            "update_last_activity": False,
            "exclude_last_activity_patterns": ["/ping$"],
            "raw_socket_proxy": False,
            "ready_path": "/health",
            "ready_statuses": [200, 204],
            "log_lines": 50,
            "tls": True,
        }
    )
    assert spec.command == ("run", "{port}") and spec.environment == {"A": "{port}"}
    assert spec.timeout == 12.0 and spec.absolute_url and spec.port == 8050
    assert spec.unix_socket == "/tmp/x.sock" and spec.mappath == {"/": "/index.html"}
    assert spec.launcher_entry.title == "T" and not spec.launcher_entry.enabled
    assert spec.launcher_entry.path_info == "app/sub" and spec.launcher_entry.category == "Other"
    assert spec.launcher_entry.rank == 3.0
    assert spec.rewrite_response == (hook,) and spec.update_last_activity is False
    assert spec.ready_path == "/health" and spec.ready_statuses == (200, 204)
    assert spec.log_lines == 50 and not spec.new_browser_tab
    assert spec.tls == TlsSettings()


def test_callables_are_accepted_where_the_peer_takes_them() -> None:
    """command, environment, mappath and update_last_activity may be callables, partials or
    callable objects."""

    class Cmd:
        def __call__(self, port: int) -> list[str]:
            return ["x", str(port)]

    spec = ok(
        {
            "command": Cmd(),
            "environment": functools.partial(dict, A="1"),
            "mappath": lambda path: path,
            "update_last_activity": lambda request: True,
        }
    )
    assert callable(spec.command) and callable(spec.environment) and callable(spec.mappath)


def test_request_headers_override_may_be_a_callable() -> None:
    """As 4.x: ``request_headers_override`` is a dict of strings or a callable (called per
    request with the arguments it names); the callable is kept as given, and the reference
    documentation says so."""
    from dataclasses import fields

    from jupyter_server_proxy.apps.specs import ServerSpec

    def headers(port: int) -> dict[str, str]:
        return {"X-Port": str(port)}

    assert ok({"request_headers_override": headers}).request_headers_override is headers
    assert ok({"request_headers_override": {"X-A": "{port}"}}).request_headers_override == {
        "X-A": "{port}"
    }
    doc = next(f for f in fields(ServerSpec) if f.name == "request_headers_override").metadata
    assert doc["type"] == "dict of str, or a callable"
    with pytest.raises(SpecError, match="a dict of strings, or a callable"):
        ok({"request_headers_override": ["X-A: 1"]})


def test_exclude_patterns_may_be_compiled() -> None:
    """As 4.x: compiled ``re.Pattern`` objects beside strings; they are kept as given."""
    compiled = re.compile("/poll$", re.IGNORECASE)
    spec = ok({"exclude_last_activity_patterns": [compiled, "/ping$"]})
    assert spec.exclude_last_activity_patterns == (compiled, "/ping$")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("command", "not a list"),
        ("command", ["ok", None]),
        ("command", ["ok", 3]),
        ("environment", {"A": None}),
        ("environment", ["A=1"]),
        ("timeout", "soon"),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", True),
        ("port", "8050"),
        ("port", 70000),
        ("port", -1),
        ("unix_socket", 3),
        ("mappath", ["/a"]),
        ("launcher_entry", "Title"),
        ("new_browser_tab", "yes"),
        ("absolute_url", 1),
        ("request_headers_override", {"X": 1}),
        ("rewrite_response", "hook"),
        ("rewrite_response", [print, "x"]),
        ("update_last_activity", "sometimes"),
        ("exclude_last_activity_patterns", ["("]),
        ("exclude_last_activity_patterns", "/x"),
        ("exclude_last_activity_patterns", [3]),
        ("exclude_last_activity_patterns", [re.compile(b"/x")]),
        ("raw_socket_proxy", "no"),
        ("ready_path", "health"),
        ("ready_statuses", [99]),
        ("log_lines", 0),
        ("instances", "yes"),
        ("instances", True),  # no command: nothing of its own to start
        ("parameters", {"type": "array"}),
        ("parameters", ["logdir"]),
    ],
)
def test_bad_values_name_app_key_value_and_expectation(key: str, value: Any) -> None:
    """One line that names the app, the key, the value and what was expected."""
    with pytest.raises(SpecError) as e:
        validate_spec("myapp", {key: value})
    message = str(e.value)
    assert "myapp" in message and key in message and "expected" in message
    assert "\n" not in message


def test_launcher_rank_defaults_to_last() -> None:
    """No rank, or the peer's documented default Infinity: after the ranked cards (None)."""
    assert ok({}).launcher_entry.rank is None
    assert ok({"launcher_entry": {"rank": float("inf")}}).launcher_entry.rank is None
    assert ok({"launcher_entry": {"rank": -2}}).launcher_entry.rank == -2.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("title", 3),
        ("icon_path", None),
        ("path_info", []),
        ("category", 1),
        ("enabled", "yes"),
        ("rank", "1"),
        ("rank", True),
        ("rank", float("nan")),
        ("rank", float("-inf")),
    ],
)
def test_bad_launcher_entry_values(key: str, value: Any) -> None:
    with pytest.raises(SpecError) as e:
        validate_spec("myapp", {"launcher_entry": {key: value}})
    assert f"launcher_entry.{key}" in str(e.value)


@pytest.mark.parametrize("name", ["", "a/b", "has space", "q?", "tb@exp1", 3, None])
def test_bad_names(name: Any) -> None:
    """A name must fit in one URL path segment, and has no "@" (it separates an instance)."""
    with pytest.raises(SpecError):
        validate_spec(name, {})


def test_dots_and_dashes_in_names_are_fine() -> None:
    assert ok({}, name="my.app-2").name == "my.app-2"


def test_unknown_keys_warn_without_failing() -> None:
    """Real plugins pass new_browser_window and a top-level path_info: warned, not fatal."""
    spec, warnings = validate_spec(
        "app", {"new_browser_window": True, "path_info": "x", "launcher_entry": {"extra": 1}}
    )
    assert spec.name == "app"
    assert len(warnings) == 3
    assert any("new_browser_window" in w for w in warnings)


def test_the_raw_dict_is_never_mutated() -> None:
    """One plugin returns the same dict for 13 apps; validating must not change it."""
    shared = {"command": ["x", "{port}"], "launcher_entry": {"title": "Shared"}}
    before = repr(shared)
    a = ok(shared, "a")
    b = ok(shared, "b")
    assert repr(shared) == before
    assert a.launcher_entry.path_info == "a/" and b.launcher_entry.path_info == "b/"


def test_known_keys_cover_the_peers_documented_set() -> None:
    peer = {
        "command",
        "environment",
        "timeout",
        "absolute_url",
        "port",
        "unix_socket",
        "mappath",
        "launcher_entry",
        "new_browser_tab",
        "request_headers_override",
        "rewrite_response",
        "update_last_activity",
        "raw_socket_proxy",
    }
    assert peer <= KNOWN_KEYS


def test_unix_socket_false_means_tcp() -> None:
    assert ok({"unix_socket": False}).unix_socket is None
    assert ok({"unix_socket": True}).unix_socket is True


def test_instances_and_parameters() -> None:
    """``instances`` is off by default; ``parameters`` is checked into a schema whose JSON
    form is kept for servers-info."""
    assert ok({}).instances is False and ok({}).parameters is None
    schema = {
        "type": "object",
        "properties": {"logdir": {"type": "string", "default": "/tmp"}},
        "required": ["logdir"],
    }
    spec = ok({"command": ["x", "{port}"], "instances": True, "parameters": schema})
    assert spec.instances is True and spec.parameters is not None
    assert spec.parameters.schema == schema
    assert [p.name for p in spec.parameters.parameters] == ["logdir"]


def test_a_bad_parameter_schema_names_app_and_key() -> None:
    """The message names the app and the key inside ``parameters`` that is wrong."""
    with pytest.raises(SpecError) as e:
        validate_spec(
            "tb", {"parameters": {"type": "object", "properties": {"level": {"type": "str"}}}}
        )
    assert "'tb'" in str(e.value) and "parameters.properties.level.type" in str(e.value)


@pytest.mark.parametrize(
    "raw",
    [
        {"command": ["x", "{port}"], "port": 8050},
        {"command": ["x", "{unix_socket}"], "unix_socket": "/tmp/app.sock"},
        {"port": 8050},
    ],
)
def test_instances_need_a_port_or_socket_of_their_own(raw: dict[str, Any]) -> None:
    """Instances sharing a fixed port or socket would answer each other's readiness probe."""
    with pytest.raises(SpecError, match="instances"):
        validate_spec("tb", {**raw, "instances": True})
    assert ok({"command": ["x", "{unix_socket}"], "unix_socket": True, "instances": True})

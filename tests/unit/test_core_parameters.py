"""Launch parameters (``core/parameters.py``): which schemas are taken at config read, and which
values a start is given are taken, refused (naming the parameter) or filled in by default."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_server_proxy.core.parameters import (
    MAX_STRING,
    BadParameter,
    ParameterSchema,
    SchemaError,
    as_text,
    check_schema,
    check_values,
)

#: The contract's example schema.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "logdir": {
            "type": "string",
            "title": "Log directory",
            "default": "/tmp/logs",
            "pattern": "^[^\\0]*$",
        },
        "level": {"type": "string", "enum": ["a", "b"]},
        "workers": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "debug": {"type": "boolean", "default": False},
        "tag": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
    },
    "required": ["logdir"],
}


def schema() -> ParameterSchema:
    return check_schema(SCHEMA)


def props(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (None, "parameters"),
        ([], "parameters"),
        ({"type": "array"}, "parameters.type"),
        ({"properties": {}}, "parameters.type"),
        ({"type": "object", "items": {}}, "parameters.items"),
        ({"type": "object", "additionalProperties": True}, "parameters.additionalProperties"),
        ({"type": "object", "properties": []}, "parameters.properties"),
        ({"type": "object", "required": "logdir"}, "parameters.required"),
        ({"type": "object", "properties": {}, "required": ["x"]}, "parameters.required"),
        (props(**{"a-b": {"type": "string"}}), "parameters.properties.a-b"),
        (props(**{"1a": {"type": "string"}}), "parameters.properties.1a"),
        (props(port={"type": "integer"}), "parameters.properties.port"),
        (props(base_url={"type": "string"}), "parameters.properties.base_url"),
        (props(x="string"), "parameters.properties.x"),
        (props(x={"type": "array"}), "parameters.properties.x.type"),
        (props(x={}), "parameters.properties.x.type"),
        (props(x={"type": "string", "format": "uri"}), "parameters.properties.x.format"),
        (props(x={"type": "boolean", "enum": [True]}), "parameters.properties.x.enum"),
        (props(x={"type": "integer", "pattern": "a"}), "parameters.properties.x.pattern"),
        (props(x={"type": "string", "minimum": 1}), "parameters.properties.x.minimum"),
        (props(x={"type": "string", "exclusiveMinimum": 1}), "parameters.properties.x"),
        (props(x={"type": "string", "pattern": "("}), "parameters.properties.x.pattern"),
        (props(x={"type": "string", "pattern": 3}), "parameters.properties.x.pattern"),
        (props(x={"type": "string", "enum": []}), "parameters.properties.x.enum"),
        (props(x={"type": "string", "enum": "ab"}), "parameters.properties.x.enum"),
        (props(x={"type": "string", "enum": ["a", 1]}), "parameters.properties.x.enum"),
        (props(x={"type": "integer", "enum": [1.5]}), "parameters.properties.x.enum"),
        (props(x={"type": "string", "minLength": -1}), "parameters.properties.x.minLength"),
        (props(x={"type": "string", "maxLength": "3"}), "parameters.properties.x.maxLength"),
        (props(x={"type": "number", "minimum": "0"}), "parameters.properties.x.minimum"),
        (props(x={"type": "number", "maximum": float("inf")}), "parameters.properties.x.maximum"),
        (props(x={"type": "string", "title": 3}), "parameters.properties.x.title"),
        (props(x={"type": "string", "default": 3}), "parameters.properties.x.default"),
        (props(x={"type": "string", "enum": ["a"], "default": "b"}), "parameters.properties.x"),
        (props(x={"type": "integer", "maximum": 3, "default": 4}), "parameters.properties.x"),
        (props(x={"type": "boolean", "default": "false"}), "parameters.properties.x.default"),
    ],
)
def test_bad_schemas_name_the_key(raw: Any, key: str) -> None:
    """A schema outside the subset is refused at config read, naming the key that is wrong:
    a keyword we would not enforce is refused rather than silently ignored."""
    with pytest.raises(SchemaError) as e:
        check_schema(raw)
    assert e.value.key.startswith(key), e.value.key
    assert "expected" in str(e.value)


def test_the_contract_example_is_taken_and_kept_as_json() -> None:
    s = schema()
    assert s.schema == SCHEMA
    assert [p.name for p in s.parameters] == list(SCHEMA["properties"])
    assert {p.name for p in s.parameters if p.required} == {"logdir"}


def test_defaults_fill_missing_values() -> None:
    """Nothing given: every default (parameters without one and not required are left out)."""
    assert check_values(schema(), None, "app 'tb'") == {
        "logdir": "/tmp/logs",
        "workers": 2,
        "debug": False,
    }
    assert check_values(schema(), {"level": "b", "workers": 8}, "app 'tb'") == {
        "logdir": "/tmp/logs",
        "level": "b",
        "workers": 8,
        "debug": False,
    }


@pytest.mark.parametrize(
    ("given", "name", "says"),
    [
        ({"level": "c"}, "level", "one of"),
        ({"level": 1}, "level", "a string"),
        ({"logdir": 3}, "logdir", "a string"),
        ({"logdir": "a\0b"}, "logdir", "NUL"),
        ({"workers": 0}, "workers", "at least 1"),
        ({"workers": 9}, "workers", "at most 8"),
        ({"workers": 2.5}, "workers", "an integer"),
        ({"workers": "2"}, "workers", "an integer"),
        ({"workers": True}, "workers", "an integer"),
        ({"ratio": -0.1}, "ratio", "at least 0"),
        ({"ratio": 1.5}, "ratio", "at most 1"),
        ({"ratio": "0.5"}, "ratio", "a number"),
        ({"ratio": float("nan")}, "ratio", "finite"),
        ({"debug": "false"}, "debug", "true or false"),
        ({"debug": 0}, "debug", "true or false"),
        ({"tag": "a"}, "tag", "at least 2"),
        ({"tag": "abcde"}, "tag", "at most 4"),
        ({"tag": "AB"}, "tag", "pattern"),
        ({"nope": 1}, "nope", "unknown parameter"),
        ({"logdir": "x" * (MAX_STRING + 1)}, "logdir", f"at most {MAX_STRING}"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(given: Any, name: str, says: str) -> None:
    with pytest.raises(BadParameter) as e:
        check_values(schema(), given, "app 'tb'")
    assert e.value.status == 400
    assert f"parameter {name!r}" in e.value.message and says in e.value.message
    assert e.value.message.startswith("app 'tb': ")


def test_a_required_parameter_without_default_must_be_given() -> None:
    s = check_schema({**props(logdir={"type": "string"}), "required": ["logdir"]})
    with pytest.raises(BadParameter) as e:
        check_values(s, {}, "app 'tb'")
    assert "parameter 'logdir' is required" in e.value.message
    assert check_values(s, {"logdir": "/x"}, "app 'tb'") == {"logdir": "/x"}


@pytest.mark.parametrize("given", [[], "logdir=/x", 3])
def test_parameters_must_be_an_object(given: Any) -> None:
    with pytest.raises(BadParameter, match="JSON object"):
        check_values(schema(), given, "app 'tb'")


def test_an_app_without_a_schema_takes_no_parameters() -> None:
    assert check_values(None, None, "app 'x'") == {}
    assert check_values(None, {}, "app 'x'") == {}
    with pytest.raises(BadParameter, match="the app takes none"):
        check_values(None, {"a": 1}, "app 'x'")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ({"workers": 3.0}, 3),  # JSON's 3.0 is the integer 3
        ({"ratio": 1}, 1),
        ({"logdir": "; rm -rf / #$(x)`y` {port}"}, "; rm -rf / #$(x)`y` {port}"),
    ],
)
def test_values_are_kept_as_given(given: dict[str, Any], kept: Any) -> None:
    """Only normalisation is an integral float to int; text is kept byte for byte."""
    ((name, value),) = given.items()
    values = check_values(schema(), given, "app 'tb'")
    assert values[name] == kept and type(values[name]) is type(kept)


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (3, "3"), (0.5, "0.5"), ("a b", "a b"), ("", "")],
)
def test_values_fill_templates_as_text(value: Any, text: str) -> None:
    assert as_text(value) == text

"""Launch parameters: the small JSON Schema an app declares (``parameters``), and the values a
start is given, checked against it.

Rules:
1. The schema is a JSON Schema of ``"type": "object"`` whose ``properties`` are each a string
   (``enum``, ``pattern``, ``minLength``, ``maxLength``), an integer or a number (``enum``,
   ``minimum``, ``maximum``) or a boolean, with an optional ``title``, ``description`` and
   ``default``; ``required`` lists names. Any other keyword is refused at config read (it
   would look enforced and not be), and so is a ``default`` the property itself refuses.
2. A parameter's name is a Python identifier (it is a ``{name}`` template in the app's
   ``command`` and ``environment``) and none of the templates the proxy fills in itself.
3. Values are checked here, on the server, whatever a frontend checked: the type, ``enum``,
   ``pattern`` (searched, as JSON Schema does, with Python's ``re``), the lengths and bounds,
   ``required``; a name the schema does not declare is refused. A missing value takes its
   default. A string never holds a NUL character (no argv or environment entry can), nor a
   lone surrogate (JSON's ``"\ud800"``: no text encodes it, so no process can be given it).
   A string without a ``maxLength`` is at most ``MAX_STRING`` characters: it is kept, shown
   in the API and searched by ``pattern`` on the server's event loop. The first bad value is a
   ``BadParameter`` (400) naming it.
4. A value reaches the app as text in place of its template, never through a shell: a string
   as it is, a boolean as ``true``/``false``, a number in its shortest decimal form.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .errors import ProxyError

#: The longest string value of a parameter whose schema sets no ``maxLength`` (a path, a name, a
#: URL fit; a schema that wants longer values says so).
MAX_STRING = 4096

#: A value a parameter can have (after the check).
Value = str | int | float | bool

#: The templates the proxy fills in itself, which no parameter may shadow.
RESERVED = frozenset({"port", "unix_socket", "base_url", "public_url"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TYPES = ("string", "integer", "number", "boolean")
_COMMON = frozenset({"type", "title", "description", "default"})
_KEYWORDS = {
    "string": _COMMON | {"enum", "pattern", "minLength", "maxLength"},
    "integer": _COMMON | {"enum", "minimum", "maximum"},
    "number": _COMMON | {"enum", "minimum", "maximum"},
    "boolean": _COMMON,
}
_TOP = frozenset({"type", "properties", "required", "title", "description", "$schema"})
_TOP_EXTRA = "additionalProperties"


class SchemaError(ValueError):
    """A bad ``parameters`` schema: the key (``parameters.properties.level.enum``), its value,
    and what was expected."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key, self.value, self.expected = key, value, expected
        super().__init__(f"{key} = {value!r:.200}: expected {expected}")


class BadParameter(ProxyError):
    """A parameter value a start was given (or lacks) that the app's schema refuses."""

    status = 400
    title = "Bad parameter"


class ParametersInUse(ProxyError):
    """A start asked for other values than the ones the running instance has."""

    status = 409
    title = "Running with other parameters"


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    required: bool = False
    has_default: bool = False
    default: Value | None = None
    enum: tuple[Value, ...] | None = None
    pattern: re.Pattern[str] | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: Any) -> Value:
        """``value`` as this parameter's (an integral float of an integer parameter becomes
        an int); ``ValueError`` saying what is wrong with it otherwise."""
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        if self.type == "string":
            return self._check_string(value)
        return self._check_number(value)

    def _check_string(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if "\0" in value:
            raise ValueError("must not contain a NUL character")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be Unicode text (a lone surrogate is none)") from None
        if self.enum is not None and value not in self.enum:
            raise ValueError(f"must be one of {list(self.enum)}")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValueError(f"must be at least {self.min_length} characters long")
        longest = MAX_STRING if self.max_length is None else self.max_length
        if len(value) > longest:
            raise ValueError(f"must be at most {longest} characters long")
        if self.pattern is not None and not self.pattern.search(value):
            raise ValueError(f"must match the pattern {self.pattern.pattern!r}")
        return value

    def _check_number(self, value: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be {'an integer' if self.type == 'integer' else 'a number'}")
        number: int | float = value
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        if self.type == "integer":
            if number != int(number):
                raise ValueError("must be an integer")
            number = int(number)  # JSON's 2.0 is the integer 2
        if self.enum is not None and number not in self.enum:
            raise ValueError(f"must be one of {list(self.enum)}")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g}")
        return number


@dataclass(frozen=True)
class ParameterSchema:
    #: The schema as given (a plain JSON copy), which servers-info hands to frontends.
    schema: Mapping[str, Any]
    parameters: tuple[Parameter, ...]

    def values(self, given: Any, owner: str) -> dict[str, Value]:
        """The values of a start: ``given`` checked (rule 3), defaults filled in. Raises
        ``BadParameter`` naming ``owner`` (``app 'tb'``) and the first bad parameter."""
        return check_values(self, given, owner)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _length(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(key, value, "an integer >= 0")
    return value


def _bound(key: str, value: Any) -> float:
    if not _is_number(value):
        raise SchemaError(key, value, "a finite number")
    return float(value)


def _property(name: str, raw: Any, required: bool) -> Parameter:
    key = f"parameters.properties.{name}"
    if not isinstance(name, str) or not _NAME.match(name) or name in RESERVED:
        raise SchemaError(
            key,
            name,
            "a parameter name that is an identifier (letters, digits, '_') and none of "
            + ", ".join(sorted(RESERVED)),
        )
    if not isinstance(raw, Mapping):
        raise SchemaError(key, raw, "a dict (a JSON Schema of one property)")
    kind = raw.get("type")
    if kind not in _TYPES:
        raise SchemaError(f"{key}.type", kind, "one of " + ", ".join(_TYPES))
    for keyword in raw:
        if keyword not in _KEYWORDS[kind]:
            allowed = ", ".join(sorted(_KEYWORDS[kind]))
            raise SchemaError(f"{key}.{keyword}", raw[keyword], f"one of the keys {allowed}")
    for text in ("title", "description"):
        if text in raw and not isinstance(raw[text], str):
            raise SchemaError(f"{key}.{text}", raw[text], "a string")
    pattern = None
    if "pattern" in raw:
        try:
            pattern = re.compile(raw["pattern"])
        except (re.error, TypeError) as e:
            raise SchemaError(f"{key}.pattern", raw["pattern"], f"a regex ({e})") from e
    enum = raw.get("enum")
    if enum is not None and (not isinstance(enum, (list, tuple)) or not enum):
        raise SchemaError(f"{key}.enum", enum, "a non-empty list of values")
    param = Parameter(
        name=name,
        type=kind,
        required=required,
        pattern=pattern,
        min_length=_length(f"{key}.minLength", raw["minLength"]) if "minLength" in raw else None,
        max_length=_length(f"{key}.maxLength", raw["maxLength"]) if "maxLength" in raw else None,
        minimum=_bound(f"{key}.minimum", raw["minimum"]) if "minimum" in raw else None,
        maximum=_bound(f"{key}.maximum", raw["maximum"]) if "maximum" in raw else None,
    )
    if enum is not None:
        checked = []
        for item in enum:
            try:
                checked.append(param.check(item))
            except ValueError as e:
                raise SchemaError(f"{key}.enum", item, f"a value that {e}") from e
        param = replace(param, enum=tuple(checked))
    if "default" in raw:
        try:
            default = param.check(raw["default"])
        except ValueError as e:
            raise SchemaError(f"{key}.default", raw["default"], f"a default that {e}") from e
        param = replace(param, has_default=True, default=default)
    return param


def _plain(value: Any) -> Any:
    """A JSON-able copy of a schema (tuples as lists, mappings as dicts)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_schema(raw: Any) -> ParameterSchema:
    """The checked form of a spec's ``parameters`` (rules 1 and 2); ``SchemaError`` for the
    first bad key."""
    if not isinstance(raw, Mapping):
        raise SchemaError("parameters", raw, 'a JSON Schema dict with "type": "object"')
    if raw.get("type") != "object":
        raise SchemaError("parameters.type", raw.get("type"), '"object"')
    for keyword in raw:
        if keyword == _TOP_EXTRA:
            if raw[keyword] is not False:
                raise SchemaError(f"parameters.{keyword}", raw[keyword], "False (or leave it out)")
        elif keyword not in _TOP:
            allowed = ", ".join(sorted(_TOP | {_TOP_EXTRA}))
            raise SchemaError(f"parameters.{keyword}", raw[keyword], f"one of the keys {allowed}")
    properties = raw.get("properties", {})
    if not isinstance(properties, Mapping):
        raise SchemaError("parameters.properties", properties, "a dict of name -> schema")
    required = raw.get("required", [])
    if not isinstance(required, (list, tuple)) or not all(isinstance(r, str) for r in required):
        raise SchemaError("parameters.required", required, "a list of parameter names")
    for name in required:
        if name not in properties:
            raise SchemaError("parameters.required", name, "a name from properties")
    params = tuple(_property(name, sub, name in required) for name, sub in properties.items())
    return ParameterSchema(schema=_plain(raw), parameters=params)


def check_values(schema: ParameterSchema | None, given: Any, owner: str) -> dict[str, Value]:
    """Rule 3: the values of a start (``given`` is the JSON the client sent, ``None`` for
    none), checked against ``schema`` (``None``: the app takes no parameters)."""
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise BadParameter(f"{owner}: parameters must be a JSON object of name -> value")
    declared = schema.parameters if schema is not None else ()
    names = {p.name for p in declared}
    for name in given:
        if name not in names:
            takes = ", ".join(repr(n) for n in sorted(names)) or "none"
            raise BadParameter(f"{owner}: unknown parameter {name!r:.80} (the app takes {takes})")
    values: dict[str, Value] = {}
    for param in declared:
        if param.name in given:
            try:
                values[param.name] = param.check(given[param.name])
            except ValueError as e:
                raise BadParameter(
                    f"{owner}: parameter {param.name!r} = {given[param.name]!r:.200} {e}"
                ) from e
        elif param.has_default:
            assert param.default is not None
            values[param.name] = param.default
        elif param.required:
            raise BadParameter(f"{owner}: parameter {param.name!r} is required and has no default")
    return values


def as_text(value: Value) -> str:
    """Rule 4: how a value fills its template."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def template_values(values: Mapping[str, Value]) -> dict[str, str]:
    return {name: as_text(value) for name, value in values.items()}


def describe(values: Sequence[tuple[str, Value]]) -> str:
    """``logdir='/x', workers=2``: values as a message shows them."""
    return ", ".join(f"{name}={value!r}" for name, value in values)

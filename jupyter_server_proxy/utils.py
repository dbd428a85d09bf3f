"""Small helpers that the peer's plugins and configs rely on by name.

``call_with_asked_args`` is public API (plugins import it from here). Beyond the peer, it accepts
``functools.partial`` objects, callable objects and callables taking ``**kwargs``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any


def asked_args(callback: Callable[..., Any]) -> tuple[set[str], bool]:
    """(the parameter names ``callback`` takes by name, whether it takes ``**kwargs``)."""
    try:
        sig = inspect.signature(callback)
    except (TypeError, ValueError):  # builtins without a signature: give them nothing
        return set(), False
    names = {
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    takes_all = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return names, takes_all


def call_with_asked_args(callback: Callable[..., Any], args: Mapping[str, Any]) -> Any:
    """Call ``callback`` with the entries of ``args`` whose names it asks for.

    ``inspect.signature`` already accounts for ``functools.partial`` (bound arguments are gone
    from the signature) and for callable objects (their ``__call__`` without ``self``).
    """
    names, takes_all = asked_args(callback)
    if takes_all:
        return callback(**args)
    return callback(**{k: v for k, v in args.items() if k in names})


def fill_templates(value: Any, values: Mapping[str, Any]) -> Any:
    """Fill ``{port}``, ``{unix_socket}`` and ``{base_url}`` with ``str.format`` semantics in a
    string, each item of a list or tuple, and each key and value of a dict (recursively).
    Anything else is returned as it is."""
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, (list, tuple)):
        return [fill_templates(v, values) for v in value]
    if isinstance(value, Mapping):
        return {fill_templates(k, values): fill_templates(v, values) for k, v in value.items()}
    return value


def resolve(value: Any, values: Mapping[str, Any]) -> Any:
    """A spec field that may be a callable: call it with the arguments it asks for, then fill
    templates in what it returned."""
    if callable(value):
        value = call_with_asked_args(value, values)
    return fill_templates(value, values)

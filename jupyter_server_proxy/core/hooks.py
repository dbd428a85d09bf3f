"""Small helpers that the peer's plugins and configs rely on by name, and calling users' code.

``call_with_asked_args`` is public API (plugins import it from here). Beyond the peer, it accepts
``functools.partial`` objects, callable objects and callables taking ``**kwargs``.

Rule: a user's callable (a spec's ``command``, ``environment``, ``mappath``, a
``rewrite_response`` hook...) that raises, or a template that cannot be filled in, becomes a
``HookFailed`` that names whose setting it was, the key, the callable and where it raised; the
peer let such an exception escape as a bare traceback.
"""

from __future__ import annotations

import inspect
import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ProxyError


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


class HookFailed(ProxyError):
    """A callable or template of the user's config raised when it was used."""

    status = 500
    title = "Configuration hook failed"

    def __init__(self, owner: str, reason: str) -> None:
        super().__init__(f"{owner}: {reason}")
        #: Whose setting it is: ``app 'name'`` or ``c.ServerProxy``.
        self.owner = owner
        #: What failed, without the owner (an ``AppFailed`` puts the app name in front itself).
        self.reason = reason


def hook_name(callback: Callable[..., Any]) -> str:
    """A callable as a user would recognise it in their config (``dog_to_cat``,
    ``partial(f)``, ``Rewriter()``)."""
    func = getattr(callback, "func", None)  # functools.partial
    if func is not None:
        return f"partial({hook_name(func)})"
    name = getattr(callback, "__qualname__", None)
    return name if isinstance(name, str) else f"{type(callback).__qualname__}()"


def raised_where(error: BaseException) -> str:
    """``file.py, line N`` of the innermost frame ``error`` went through."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{os.path.basename(last.filename)}, line {last.lineno}"


def hook_failed(owner: str, key: str, callback: Callable[..., Any], error: Exception) -> HookFailed:
    return HookFailed(
        owner,
        f"its {key} callable {hook_name(callback)} raised {type(error).__name__}: {error} "
        f"({raised_where(error)})",
    )


def call_hook(
    callback: Callable[..., Any], args: Mapping[str, Any], *, owner: str, key: str
) -> Any:
    """``call_with_asked_args``, with an exception turned into a ``HookFailed`` naming it."""
    try:
        return call_with_asked_args(callback, args)
    except Exception as e:
        raise hook_failed(owner, key, callback, e) from e


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


def fill_templates_of(owner: str, key: str, value: Any, values: Mapping[str, Any]) -> Any:
    """``fill_templates``, with a template that names no known value (or is malformed) turned
    into a ``HookFailed`` naming the key."""
    try:
        return fill_templates(value, values)
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        known = ", ".join("{" + k + "}" for k in values)
        raise HookFailed(
            owner,
            f"a template in its {key} cannot be filled in ({type(e).__name__}: {e}); "
            f"the templates are {known}",
        ) from e


def resolve(value: Any, values: Mapping[str, Any], *, owner: str, key: str) -> Any:
    """A spec field that may be a callable: call it with the arguments it asks for, then fill
    templates in what it returned. Failures are ``HookFailed`` naming ``owner`` and ``key``."""
    if callable(value):
        value = call_hook(value, values, owner=owner, key=key)
    return fill_templates_of(owner, key, value, values)

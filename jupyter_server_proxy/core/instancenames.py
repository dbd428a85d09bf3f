"""Addressable names of apps and their instances: ``rstudio`` (an app's default instance) and
``tb@exp1`` (the instance ``exp1`` of the app ``tb``).

Rules:
1. An instance name is 1 to 32 of ``A-Z a-z 0-9 _ -``: safe in a URL path segment, a file name
   and a log line as it is.
2. ``@`` never appears in an app's name (``apps/validation.py`` refuses it), so the first ``@``
   of an addressable name separates app and instance, and ``/<name>@<instance>/`` can never be
   a path of the app ``<name>`` itself.
3. Only an app whose spec sets ``instances: true`` has instances besides its default one.
"""

from __future__ import annotations

import re

from .errors import ProxyError

#: What an instance may be called.
INSTANCE_PATTERN = r"[A-Za-z0-9_-]{1,32}"
_INSTANCE = re.compile(rf"^{INSTANCE_PATTERN}$")


class NoSuchApp(ProxyError):
    """An addressable name that names no app, or no instance the app can have."""

    status = 404
    title = "No such app"


def is_instance_name(text: str) -> bool:
    return bool(_INSTANCE.match(text))


def split_name(name: str) -> tuple[str, str | None]:
    """``tb@exp1`` -> ``("tb", "exp1")``; ``tb`` -> ``("tb", None)``. Raises ``NoSuchApp``
    for an instance part that is no valid instance name (``tb@``, ``tb@a b``)."""
    app, at, instance = name.partition("@")
    if not at:
        return app, None
    if not is_instance_name(instance):
        raise NoSuchApp(
            f"{name!r} names no app: an instance name is 1 to 32 letters, digits, '_' or '-'"
        )
    return app, instance


def join_name(app: str, instance: str | None) -> str:
    """The addressable name of ``app``'s ``instance`` (``app`` itself for the default one)."""
    return app if instance is None else f"{app}@{instance}"

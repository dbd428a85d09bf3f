"""Checking one app's spec: a raw dict (an entry of ``c.ServerProxy.servers`` or a plugin's) in,
a ``ServerSpec`` and warnings out, or a ``SpecError`` that names the first bad key.

Rules:
- ``raw`` is never changed (one published plugin returns the same dict object for 13 apps).
- Unknown keys (not in ``KNOWN_KEYS``) are warned about and ignored, as the peer does; a bad
  value of a known key is an error that names the app, the key, the value and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..core.parameters import ParameterSchema, SchemaError, check_schema
from ..core.tls import BadTls, TlsSettings, parse_tls
from ..transport.tls import client_context
from .policy import RESTART_POLICIES, Restart
from .specs import KNOWN_KEYS, LauncherEntry, ServerSpec


class SpecError(ValueError):
    """One bad key of one app's spec, said in one line that names app, key, value and what was
    expected."""

    def __init__(self, app: str, key: str, value: Any, expected: str) -> None:
        self.app, self.key, self.value, self.expected = app, key, value, expected
        super().__init__(f"app {app!r}: {key} = {value!r:.200} is not valid: expected {expected}")


_LAUNCHER_KEYS = frozenset({"enabled", "title", "icon_path", "path_info", "category", "rank"})
# "@" separates an app from its instance (``core/instancenames.py``).
_NAME = re.compile(r"^[^/\s?#%\\@]+$")


def _is_str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def _is_str_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _bool(app: str, raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise SpecError(app, key, value, "True or False")
    return value


def _lifecycle(app: str, raw: Mapping[str, Any], idle_default: float) -> tuple[float, Restart]:
    """The app's ``idle_timeout`` (``idle_default`` when not given) and ``restart`` policy."""
    idle = raw.get("idle_timeout", idle_default)
    if (
        isinstance(idle, bool)
        or not isinstance(idle, (int, float))
        or not math.isfinite(idle)
        or idle < 0
    ):
        raise SpecError(app, "idle_timeout", idle, "a number of seconds >= 0 (0: never)")
    restart = raw.get("restart", "on-request")
    if restart not in RESTART_POLICIES:
        raise SpecError(app, "restart", restart, "one of " + ", ".join(map(repr, RESTART_POLICIES)))
    return float(idle), restart


def _tls(app: str, value: Any) -> TlsSettings | None:
    """The ``tls`` key, its files loaded once so that a bad one is reported now, not on the
    first request."""
    try:
        settings = parse_tls(value)
    except BadTls as e:
        raise SpecError(app, e.where, e.value, e.expected) from e
    if settings is not None:
        try:
            client_context(settings)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            raise SpecError(app, "tls", value, f"files that load ({e})") from e
    return settings


def validate_spec(
    name: Any, raw: Any, source: str = "config", *, idle_timeout: float = 0.0
) -> tuple[ServerSpec, list[str]]:
    """Check one app's spec; return it validated, with warnings (unknown keys).
    ``idle_timeout`` is the server's default (``c.ServerProxy.idle_timeout``).

    Raises ``SpecError`` for the first bad key. ``raw`` is never changed (one published plugin
    returns the same dict object for 13 apps).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            str(name), "name", name, "a non-empty name without '/', spaces, ?, #, % or @"
        )
    if not isinstance(raw, Mapping):
        raise SpecError(name, "spec", raw, "a dict of spec keys")
    warnings = [
        f"app {name!r} ({source}): unknown key {key!r} ignored"
        for key in raw
        if key not in KNOWN_KEYS
    ]

    command = raw.get("command", ())
    if not callable(command) and not _is_str_list(command):
        raise SpecError(name, "command", command, "a list of strings, or a callable")
    environment = raw.get("environment", {})
    if not callable(environment) and not _is_str_dict(environment):
        raise SpecError(name, "environment", environment, "a dict of strings, or a callable")

    timeout = raw.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise SpecError(name, "timeout", timeout, "a number of seconds > 0")

    port = raw.get("port", 0)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SpecError(name, "port", port, "an integer 0-65535 (0: pick a free port)")
    unix_socket = raw.get("unix_socket")
    if unix_socket is not None and not isinstance(unix_socket, (bool, str)):
        raise SpecError(name, "unix_socket", unix_socket, "True, or a socket path")
    if unix_socket is False or unix_socket == "":
        unix_socket = None

    mappath = raw.get("mappath", {})
    if not callable(mappath) and not _is_str_dict(mappath):
        raise SpecError(name, "mappath", mappath, "a dict of path -> path, or a callable")

    entry = raw.get("launcher_entry", {})
    if not isinstance(entry, Mapping):
        raise SpecError(name, "launcher_entry", entry, "a dict")
    for key in entry:
        if key not in _LAUNCHER_KEYS:
            warnings.append(f"app {name!r} ({source}): unknown launcher_entry key {key!r} ignored")
    for key in ("title", "icon_path", "path_info", "category"):
        if key in entry and not isinstance(entry[key], str):
            raise SpecError(name, f"launcher_entry.{key}", entry[key], "a string")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise SpecError(name, "launcher_entry.enabled", enabled, "True or False")
    rank = entry.get("rank")
    if rank == float("inf"):  # the peer's documented default: after the others
        rank = None
    if rank is not None and (
        isinstance(rank, bool) or not isinstance(rank, (int, float)) or not math.isfinite(rank)
    ):
        raise SpecError(name, "launcher_entry.rank", rank, "a number (lower comes first)")
    launcher = LauncherEntry(
        enabled=enabled,
        title=entry.get("title") or name,
        icon_path=entry.get("icon_path", ""),
        path_info=entry.get("path_info") or name + "/",
        category=entry.get("category") or "Notebook",
        rank=None if rank is None else float(rank),
    )

    overrides = raw.get("request_headers_override", {})
    if not callable(overrides) and not _is_str_dict(overrides):
        raise SpecError(
            name, "request_headers_override", overrides, "a dict of strings, or a callable"
        )

    hooks = raw.get("rewrite_response", ())
    hooks = (hooks,) if callable(hooks) else hooks
    if not isinstance(hooks, (list, tuple)) or not all(callable(h) for h in hooks):
        raise SpecError(name, "rewrite_response", hooks, "a callable or a list of callables")

    activity = raw.get("update_last_activity", True)
    if not isinstance(activity, bool) and not callable(activity):
        raise SpecError(name, "update_last_activity", activity, "True, False or a callable")
    patterns = raw.get("exclude_last_activity_patterns", ())
    expected = "a list of regexes (strings or compiled re.Pattern objects)"
    if not isinstance(patterns, (list, tuple)):
        raise SpecError(name, "exclude_last_activity_patterns", patterns, expected)
    for pattern in patterns:
        # A compiled pattern must be a text one: it is matched against the request's path.
        if isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str):
            continue
        if not isinstance(pattern, str):
            raise SpecError(name, "exclude_last_activity_patterns", pattern, expected)
        try:
            re.compile(pattern)
        except re.error as e:
            raise SpecError(
                name, "exclude_last_activity_patterns", pattern, f"a regex ({e})"
            ) from e

    ready_path = raw.get("ready_path", "/")
    if not isinstance(ready_path, str) or not ready_path.startswith("/"):
        raise SpecError(name, "ready_path", ready_path, "a path starting with '/'")
    statuses = raw.get("ready_statuses", ())
    if not isinstance(statuses, (list, tuple)) or not all(
        isinstance(s, int) and 100 <= s <= 599 for s in statuses
    ):
        raise SpecError(name, "ready_statuses", statuses, "a list of HTTP status codes")
    log_lines = raw.get("log_lines", 1000)
    if isinstance(log_lines, bool) or not isinstance(log_lines, int) or log_lines < 1:
        raise SpecError(name, "log_lines", log_lines, "an integer >= 1")
    idle, restart = _lifecycle(name, raw, idle_timeout)

    tls = _tls(name, raw.get("tls"))
    instances = _bool(name, raw, "instances", False)
    if instances and (not command or port or isinstance(unix_socket, str)):
        # Every instance listens where it alone does: a port picked for it, or its own socket.
        raise SpecError(
            name,
            "instances",
            instances,
            "an app that starts a command on a port or socket of its own "
            "(no fixed port, no unix_socket path)",
        )
    parameters: ParameterSchema | None = None
    if raw.get("parameters") is not None:
        try:
            parameters = check_schema(raw["parameters"])
        except SchemaError as e:
            raise SpecError(name, e.key, e.value, e.expected) from e

    spec = ServerSpec(
        name=name,
        command=command if callable(command) else tuple(command),
        environment=environment if callable(environment) else dict(environment),
        timeout=float(timeout),
        absolute_url=_bool(name, raw, "absolute_url", False),
        port=port,
        unix_socket=unix_socket,
        mappath=mappath if callable(mappath) else dict(mappath),
        launcher_entry=launcher,
        new_browser_tab=_bool(name, raw, "new_browser_tab", True),
        request_headers_override=overrides if callable(overrides) else dict(overrides),
        rewrite_response=tuple(hooks),
        update_last_activity=activity,
        exclude_last_activity_patterns=tuple(patterns),
        raw_socket_proxy=_bool(name, raw, "raw_socket_proxy", False),
        ready_path=ready_path,
        ready_statuses=tuple(statuses),
        log_lines=log_lines,
        tls=tls,
        idle_timeout=idle,
        restart=restart,
        instances=instances,
        parameters=parameters,
        source=source,
    )
    return spec, warnings

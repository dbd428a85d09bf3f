"""The validated form of one app's spec (an entry of ``c.ServerProxy.servers`` or a plugin's dict).

Rule: a ``ServerSpec`` is immutable and fully validated. Everything downstream (process supervision,
routes, the API, the launcher) reads these fields and never the raw dict a user or plugin gave.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: A callable that receives the arguments it names (``port``, ``unix_socket``, ``base_url``, ...).
AskingCallable = Callable[..., Any]


def _doc(kind: str, text: str, since: str | None = None, default: str | None = None) -> Any:
    """Field metadata: the reference documentation of a spec key (docs/_ext reads it)."""
    meta = {"type": kind, "help": text}
    if since:
        meta["since"] = since
    if default is not None:
        meta["default"] = default
    return meta


@dataclass(frozen=True)
class LauncherEntry:
    enabled: bool = field(
        default=True, metadata=_doc("bool", "Whether the app gets a launcher card and menu item.")
    )
    title: str = field(
        default="",
        metadata=_doc("str", "The card's label.", default="the app's name"),
    )
    icon_path: str = field(
        default="",
        metadata=_doc(
            "str",
            "Path of an SVG or PNG file on the server, served (to logged-in users) as the "
            "card's icon. Without it, the card gets a default icon.",
        ),
    )
    path_info: str = field(
        default="",
        metadata=_doc(
            "str",
            "What the card opens, under the base URL (for a start page inside the app).",
            default="'<name>/'",
        ),
    )
    category: str = field(
        default="Notebook",
        metadata=_doc("str", "The launcher section the card is in."),
    )
    #: Order among the cards of its launcher section (lower first); None: after the others.
    rank: float | None = field(
        default=None,
        metadata=_doc(
            "number",
            "Order among the cards of its launcher section (lower first); unranked cards "
            "come after the ranked ones.",
            since="5.0",
        ),
    )


@dataclass(frozen=True)
class ServerSpec:
    name: str
    #: argv as given (templates unfilled) or a callable returning it; empty means "no process,
    #: just proxy to ``port``/``unix_socket``" as the peer does.
    command: tuple[str, ...] | AskingCallable = field(
        default=(),
        metadata=_doc(
            "list of str, or a callable",
            "The app's command line (never run through a shell). ``{port}``, ``{unix_socket}`` "
            "and ``{base_url}`` are filled in. A callable gets the arguments it names "
            "(``port``, ``unix_socket``, ``base_url``) and returns the list. Empty: start "
            "nothing and proxy to ``port`` or ``unix_socket``, where something already listens.",
            default="[]",
        ),
    )
    environment: Mapping[str, str] | AskingCallable = field(
        default_factory=dict,
        metadata=_doc(
            "dict of str, or a callable",
            "Extra environment variables for the app, templates filled in as in ``command``.",
        ),
    )
    timeout: float = field(
        default=5.0,
        metadata=_doc(
            "float",
            "Seconds the app has, once started, to answer HTTP (see ``ready_path``). After "
            "that the request gets a 503 page with the app's exit code or log tail.",
        ),
    )
    absolute_url: bool = field(
        default=False,
        metadata=_doc(
            "bool",
            "Forward the full path, ``/<base_url>/<name>/`` included, for apps that are told "
            "their base URL. Then no ``X-Forwarded-Prefix`` and the like are sent.",
        ),
    )
    #: 0 means "pick a free port" (ignored when ``unix_socket`` is set).
    port: int = field(
        default=0,
        metadata=_doc("int", "The app's port; 0 picks a free one at each start."),
    )
    #: None for TCP, True for a private socket we create, or an explicit path.
    unix_socket: bool | str | None = field(
        default=None,
        metadata=_doc(
            "bool or str",
            "Talk to the app over a unix socket: ``True`` for a private one in a directory "
            "only your user can enter (given to the app as ``{unix_socket}``), or the path of "
            "the socket the app creates.",
            default="None (TCP)",
        ),
    )
    mappath: Mapping[str, str] | AskingCallable = field(
        default_factory=dict,
        metadata=_doc(
            "dict, or a callable",
            "Paths to replace before forwarding: ``{'/': '/index.html'}``, or "
            "``callable(path)`` returning the new path.",
        ),
    )
    launcher_entry: LauncherEntry = field(
        default_factory=LauncherEntry,
        metadata=_doc(
            "dict",
            "How the app appears in JupyterLab's launcher and Notebook's New menu; its keys "
            "follow.",
            default="{}",
        ),
    )
    new_browser_tab: bool = field(
        default=True,
        metadata=_doc(
            "bool", "Open the app in a new browser tab; ``False`` opens it in a JupyterLab tab."
        ),
    )
    request_headers_override: Mapping[str, str] | AskingCallable = field(
        default_factory=dict,
        metadata=_doc(
            "dict of str, or a callable",
            "Headers set on every request forwarded to the app, templates filled in as in "
            "``command``. A callable gets the arguments it names (``port``, ``unix_socket``, "
            "``base_url``) for each request and returns the dict.",
        ),
    )
    rewrite_response: tuple[AskingCallable, ...] = field(
        default=(),
        metadata=_doc(
            "callable or list of callables",
            "Hooks that may change the app's responses. Each asks by parameter name for any "
            "of ``response``, ``request``, ``orig_response``, ``host``, ``port`` and ``path``, "
            "and changes ``response.body``, ``.headers``, ``.code`` or ``.reason`` in place. "
            "Responses of an app with hooks are held in memory (up to "
            "``c.ServerProxy.rewrite_buffer_limit``).",
            default="[]",
        ),
    )
    update_last_activity: bool | AskingCallable = field(
        default=True,
        metadata=_doc(
            "bool or callable",
            "Whether traffic to the app counts as user activity for JupyterHub's idle culler. "
            "A callable gets the request handler as ``request`` and returns a bool.",
        ),
    )
    exclude_last_activity_patterns: tuple[str | re.Pattern[str], ...] = field(
        default=(),
        metadata=_doc(
            "list of regular expressions",
            "Regular expressions (strings or compiled patterns) searched for in a request's "
            "path; a request that matches does not count as activity (an app's own polling).",
            default="[]",
        ),
    )
    raw_socket_proxy: bool = field(
        default=False,
        metadata=_doc(
            "bool",
            "The app speaks a plain TCP or unix-socket stream, not HTTP: a websocket to "
            "``/<name>/`` is relayed to it, each message's bytes as they are.",
        ),
    )
    # --- beyond the peer ---------------------------------------------------------------
    #: Path polled for readiness, and the statuses that count (empty: any HTTP response).
    ready_path: str = field(
        default="/",
        metadata=_doc("str", "The path polled to learn that the app is ready.", since="5.0"),
    )
    ready_statuses: tuple[int, ...] = field(
        default=(),
        metadata=_doc(
            "list of int",
            "The statuses of ``ready_path`` that mean ready; empty: any HTTP answer.",
            since="5.0",
            default="[]",
        ),
    )
    #: Lines of stdout/stderr kept for the log view and failure pages.
    log_lines: int = field(
        default=1000,
        metadata=_doc(
            "int",
            "How many lines of the app's stdout and stderr are kept for the log view and "
            "failure pages.",
            since="5.0",
        ),
    )
    #: Where the spec came from: "config" or "plugin <entry point name> (<module:attr>)".
    source: str = "config"


class SpecError(ValueError):
    """One bad key of one app's spec, said in one line that names app, key, value and what was
    expected."""

    def __init__(self, app: str, key: str, value: Any, expected: str) -> None:
        self.app, self.key, self.value, self.expected = app, key, value, expected
        super().__init__(f"app {app!r}: {key} = {value!r:.200} is not valid: expected {expected}")


#: Keys the peer documents and we take; anything else is warned about and ignored.
KNOWN_KEYS = frozenset(
    {
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
        "exclude_last_activity_patterns",
        "raw_socket_proxy",
        "ready_path",
        "ready_statuses",
        "log_lines",
    }
)
_LAUNCHER_KEYS = frozenset({"enabled", "title", "icon_path", "path_info", "category", "rank"})
_NAME = re.compile(r"^[^/\s?#%\\]+$")


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


def validate_spec(name: Any, raw: Any, source: str = "config") -> tuple[ServerSpec, list[str]]:
    """Check one app's spec; return it validated, with warnings (unknown keys).

    Raises ``SpecError`` for the first bad key. ``raw`` is never changed (one published plugin
    returns the same dict object for 13 apps).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(str(name), "name", name, "a non-empty name without '/', spaces, ?, # or %")
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
        source=source,
    )
    return spec, warnings

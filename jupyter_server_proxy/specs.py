"""The validated form of one app's spec (an entry of ``c.ServerProxy.servers`` or a plugin's dict).

Rule: a ``ServerSpec`` is immutable and fully validated. Everything downstream (process supervision,
routes, the API, the launcher) reads these fields and never the raw dict a user or plugin gave.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: A callable that receives the arguments it names (``port``, ``unix_socket``, ``base_url``, ...).
AskingCallable = Callable[..., Any]


@dataclass(frozen=True)
class LauncherEntry:
    enabled: bool = True
    title: str = ""
    icon_path: str = ""
    path_info: str = ""
    category: str = "Notebook"


@dataclass(frozen=True)
class ServerSpec:
    name: str
    #: argv as given (templates unfilled) or a callable returning it; empty means "no process,
    #: just proxy to ``port``/``unix_socket``" as the peer does.
    command: tuple[str, ...] | AskingCallable = ()
    environment: Mapping[str, str] | AskingCallable = field(default_factory=dict)
    timeout: float = 5.0
    absolute_url: bool = False
    #: 0 means "pick a free port" (ignored when ``unix_socket`` is set).
    port: int = 0
    #: None for TCP, True for a private socket we create, or an explicit path.
    unix_socket: bool | str | None = None
    mappath: Mapping[str, str] | AskingCallable = field(default_factory=dict)
    launcher_entry: LauncherEntry = field(default_factory=LauncherEntry)
    new_browser_tab: bool = True
    request_headers_override: Mapping[str, str] = field(default_factory=dict)
    rewrite_response: tuple[AskingCallable, ...] = ()
    update_last_activity: bool | AskingCallable = True
    exclude_last_activity_patterns: tuple[str, ...] = ()
    raw_socket_proxy: bool = False
    # --- beyond the peer ---------------------------------------------------------------
    #: Path polled for readiness, and the statuses that count (empty: any HTTP response).
    ready_path: str = "/"
    ready_statuses: tuple[int, ...] = ()
    #: Lines of stdout/stderr kept for the log view and failure pages.
    log_lines: int = 1000
    #: Where the spec came from: "config" or "plugin <entry point name> (<module:attr>)".
    source: str = "config"

"""The validated form of one app's spec (an entry of ``c.ServerProxy.servers`` or a plugin's dict).

Rule: a ``ServerSpec`` is immutable and fully validated (``validation.py`` makes them). Everything
downstream (process supervision, routes, the API, the launcher) reads these fields and never the
raw dict a user or plugin gave. Each field's metadata is the key's reference documentation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.parameters import ParameterSchema
from ..core.tls import TlsSettings
from .policy import Restart

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
            "The app's command line (never run through a shell). ``{port}``, ``{unix_socket}``, "
            "``{base_url}`` and ``{public_url}`` (the app's full public URL where the server "
            "knows its public origin, else its path ``<base_url><name>/``; see "
            "``c.ServerProxy.public_url``) are filled in. A callable gets the arguments it "
            "names (``port``, ``unix_socket``, ``base_url``, ``public_url``) and returns the "
            "list. Empty: start nothing and proxy to ``port`` or ``unix_socket``, where "
            "something already listens.",
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
            "Headers set on every request forwarded to the app, with ``{port}``, "
            "``{unix_socket}`` and ``{base_url}`` filled in. A callable gets the arguments it "
            "names (``port``, ``unix_socket``, ``base_url``) for each request and returns the "
            "dict. The proxy's own ``X-Jupyter-Server-Proxy-Secret`` and "
            "``X-Jupyter-Server-Proxy-User`` cannot be set this way.",
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
    tls: TlsSettings | None = field(
        default=None,
        metadata=_doc(
            "bool or dict",
            "Reach the app over TLS (HTTPS, WSS): ``True`` (the system's CAs, the name "
            "``localhost`` checked), or a dict with ``verify`` (default True), ``ca_file`` (the "
            "CAs to trust), ``cert_file`` and ``key_file`` (a client certificate) and "
            "``server_hostname`` (the name to check). Files must exist when the config is read.",
            since="5.0",
            default="False",
        ),
    )
    idle_timeout: float = field(
        default=0.0,
        metadata=_doc(
            "float",
            "Seconds without traffic after which the app is stopped (its whole process "
            "tree); the next request starts it again. Traffic is what counts as the app's "
            "activity (``update_last_activity``, ``exclude_last_activity_patterns``); an open "
            "websocket counts only while messages pass. 0: never.",
            since="5.0",
            default="c.ServerProxy.idle_timeout (0)",
        ),
    )
    restart: Restart = field(
        default="on-request",
        metadata=_doc(
            "str",
            "What happens when the app's process ends by itself: ``'on-request'`` starts it "
            "again on the next request; ``'always'`` starts it again at once, with a back-off "
            "doubling from 0.5 s; ``'never'`` leaves it down until it is started from the "
            "API or the Running panel. Under any policy, 5 ends within 60 s (a crash loop) "
            "leave it failed until it is started from the API or the Running panel.",
            since="5.0",
            default="'on-request'",
        ),
    )
    instances: bool = field(
        default=False,
        metadata=_doc(
            "bool",
            "The app can run more than once: ``/<name>@<instance>/`` (``<instance>``: 1 to 32 "
            "letters, digits, ``_`` or ``-``) starts and reaches an instance of its own, with "
            "its own process, port or socket, log and state; ``/<name>/`` stays the default "
            "instance. At most 32 instances per app are kept until the server stops. Needs "
            "a ``command``, and a port or socket per instance: no fixed ``port`` nor "
            "``unix_socket`` path.",
            since="5.0",
        ),
    )
    parameters: ParameterSchema | None = field(
        default=None,
        metadata=_doc(
            "dict (a JSON Schema)",
            "Launch parameters: a JSON Schema of ``type: object`` whose properties (string, "
            "integer, number, boolean; with ``title``, ``description``, ``default``, ``enum``, "
            "``pattern``, ``minLength``/``maxLength``, ``minimum``/``maximum``) fill "
            "``{<parameter>}`` templates in ``command`` and ``environment``. Values are given "
            "when the app or an instance is started from the API, and checked on the server; "
            "a start by a request uses the defaults.",
            since="5.0",
            default="None",
        ),
    )
    #: Where the spec came from: "config" or "plugin <entry point name> (<module:attr>)".
    source: str = "config"


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
        "tls",
        "idle_timeout",
        "restart",
        "instances",
        "parameters",
    }
)

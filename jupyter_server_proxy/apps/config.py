"""``c.ServerProxy``: the traitlets config, and loading app specs from config and plugins.

Rules:
- A bad app (a wrong type in its spec, a plugin that fails to import or raises) is left out with
  one clear log line naming it and the cause; every other app still works.
- Plugins come from the ``jupyter_serverproxy_servers`` entry point group. The entry point's name is
  the app's name; its object is a zero-argument callable returning a spec dict. Each is called once,
  and what it returns is never mutated.
- Config entries win over plugins of the same name (a user can override a plugin's app).
- No tornado here: the CLI uses this module too.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from traitlets import (
    Bool,
    Dict,
    Float,
    Int,
    List,
    TraitError,
    Unicode,
    Union,
    default,
    observe,
    validate,
)
from traitlets import Callable as CallableTrait
from traitlets.config import Configurable

from ..core.allowlist import allowlist_of
from ..core.publicurl import BadPublicURL, check_public_url
from ..core.tls import BadTls, parse_upstream_tls
from ..transport.loopback import DEFAULT as DEFAULT_CONGESTION_CONTROL
from ..transport.loopback import refusal as congestion_control_refusal
from ..transport.tls import client_context
from .specs import ServerSpec
from .validation import SpecError, validate_spec

ENTRY_POINT_GROUP = "jupyter_serverproxy_servers"
#: ``c.ServerProxy.start_hold``'s default (seconds): most apps start within it, and a page that
#: has shown nothing for longer than a few seconds looks broken.
DEFAULT_START_HOLD = 3.0


class ServerProxy(Configurable):
    servers = Dict(
        {},
        help="""Apps to start on demand and proxy to, by name: ``{name: spec}``. See the docs
        for the spec keys (command, environment, timeout, port, unix_socket, launcher_entry, ...).
        """,
    ).tag(config=True)

    non_service_rewrite_response = Union(
        [CallableTrait(), List(CallableTrait())],
        default_value=[],
        help="""A function, or list of functions, that may change responses from
        ``/proxy/<port>/`` routes. Each asks by parameter name for any of ``response``,
        ``request``, ``orig_response``, ``host``, ``port`` and ``path``, and changes
        ``response.body``, ``.headers``, ``.code`` or ``.reason`` in place. Responses that meet a
        hook are held in memory (up to ``rewrite_buffer_limit``); others stream.""",
    ).tag(config=True)

    host_allowlist = Union(
        [List(Unicode()), CallableTrait()],
        help="""Hosts that ``/proxy/<host>:<port>/`` may reach: a list of entries, or a
        function ``(handler, host) -> bool``. An entry is a host as the URL names it
        (``localhost``, ``10.0.0.5``, ``[fd00::5]``), a CIDR network (``10.0.0.0/8``,
        ``fd00::/8``: an address in it, or a name that resolves into it when connecting) or a
        DNS suffix (``*.cluster.local``), each optionally with ``:PORT`` or ``:LOW-HIGH``. An
        invalid entry is logged and allows nothing. Default: localhost and 127.0.0.1 only.""",
    ).tag(config=True)

    host_whitelist = Union(
        [List(Unicode()), CallableTrait()],
        allow_none=True,
        default_value=None,
        help="Deprecated: use host_allowlist.",
    ).tag(config=True)

    websocket_max_message_size = Int(
        1 << 30,
        help="Largest websocket message (bytes) relayed in either direction. Default 1 GiB.",
    ).tag(config=True)

    websocket_ping_interval = Float(
        30.0,
        help="""Seconds between keep-alive pings to idle websocket clients, so that proxies in
        between don't drop quiet connections. 0 disables them.""",
    ).tag(config=True)

    websocket_ping_timeout = Float(
        0.0,
        help="""Seconds a pinged websocket client may stay silent before the proxy closes its
        connection (and the backend's). 0: three ping intervals, and at least 30 s.""",
    ).tag(config=True)

    websocket_relay_thread = Bool(
        True,
        help="""Relay websockets on a thread of the proxy's own (a small epoll loop) rather than
        on the server's event loop, wherever both ends are plain TCP or unix sockets. A relay of
        short messages spends its time waking up; on its own thread it does that with less work
        per message, and a busy server loop (a slow handler or extension) does not hold messages
        up. False relays every websocket on the server's loop, as websockets from clients on TLS
        always are: for debugging, or to keep the server to one thread. Linux only; elsewhere
        the server's loop is used either way.""",
    ).tag(config=True)

    loopback_congestion_control = Unicode(
        DEFAULT_CONGESTION_CONTROL,
        help="""TCP congestion control for the proxy's connections to backends on this host
        (loopback addresses), used where the host's default paces its sends, as bbr does. Over
        loopback there is no network path to protect, and pacing without the fq qdisc only
        cuts large sends (uploads, long websocket messages) into timer-driven bursts; reno
        sends as the window allows. Connections to other hosts, clients' connections and
        controls that do not pace keep the host's choice. An empty string turns this off:
        every connection keeps the host's choice. The name must be one the kernel allows this
        process (net.ipv4.tcp_allowed_congestion_control, which always holds reno). Linux only;
        elsewhere this does nothing.""",
    ).tag(config=True)

    connect_timeout = Float(
        10.0, help="Seconds to wait for a TCP or unix-socket connection to a backend."
    ).tag(config=True)

    read_timeout = Float(
        300.0,
        help="""Seconds a backend may stay silent while a response is awaited or read, before
        the client gets 504. 0 waits forever (long polls, slow reports).""",
    ).tag(config=True)

    pool_limit_per_host = Int(
        64,
        help="""Most idle keep-alive connections kept open to one backend for reuse. Requests
        in flight are not capped by it: each already holds a client connection.""",
    ).tag(config=True)

    max_response_header_size = Int(
        64 << 10,
        help="""Largest response head (status line and header fields, with any 1xx interim
        heads before it) a backend may send, in bytes; it also bounds a chunked body's trailer
        section and chunk-size lines. Past it the client gets 502 naming this setting. The
        default, 64 KiB, is tornado's own limit.""",
    ).tag(config=True)

    max_response_header_count = Int(
        100,
        help="""Most header fields in one response head (or trailer section) from a backend;
        past it the client gets 502 naming this setting.""",
    ).tag(config=True)

    stop_timeout = Float(
        5.0,
        help="""Seconds an app has to exit after SIGTERM before its processes get SIGKILL.""",
    ).tag(config=True)

    idle_timeout = Float(
        0.0,
        help="""Seconds without traffic after which a running app is stopped, for apps whose
        spec sets no ``idle_timeout`` of their own; the next request starts it again. 0: never
        (as 4.x).""",
    ).tag(config=True)

    start_hold = Float(
        DEFAULT_START_HOLD,
        help="""Seconds a browser that navigates to an app that is not running (a bookmark, a
        typed URL: ``Sec-Fetch-Mode: navigate`` and ``Sec-Fetch-Dest: document``) is held while
        the app starts: an app ready in time answers that request itself, a slower one gets the
        "Starting…" page, which shows the app once it is ready. 0 gives the page at once.
        Other clients wait for the app (up to its ``timeout``) whatever this says.""",
    ).tag(config=True)

    rewrite_buffer_limit = Int(
        64 << 20,
        help="""Largest response body (bytes) held in memory for a rewrite_response hook; a
        larger one gets 502 naming this limit.""",
    ).tag(config=True)

    public_url = Unicode(
        "",
        help="""The public URL of this server's root ``/``, as the user's browser reaches it:
        ``https://hub.example.org`` (scheme, host, optional port), with a path after the host
        only when a reverse proxy in front strips that path. The server's ``base_url`` is
        appended: under ``/user/alice/`` an app ``rstudio`` is at
        ``https://hub.example.org/user/alice/rstudio/``. Apps we start get their full URL in
        ``JUPYTER_SERVER_PROXY_URL`` and ``{public_url}``, and kernels and terminals get
        ``JUPYTER_SERVER_PROXY_URL_TEMPLATE`` as a full URL. Empty: JupyterHub's
        ``$JUPYTERHUB_PUBLIC_URL`` (JupyterHub 5 and later, when it knows its public URL), else
        unknown, and those give absolute paths (``/user/alice/proxy/{port}/``) instead.""",
    ).tag(config=True)

    upstream_tls = Dict(
        {},
        help="""TLS to backends reached through ``/proxy/<host>:<port>/`` and
        ``/proxy/<port>/`` (host ``localhost``), by host: ``{"host:port" or "host": tls}``,
        where ``tls`` is ``True`` (the system's CAs, the host's name checked) or a dict with
        ``verify`` (default True), ``ca_file``, ``cert_file`` and ``key_file`` (a client
        certificate) and ``server_hostname``, as an app's ``tls`` key. ``host:port`` wins over
        ``host``. Only this setting decides: a URL cannot choose TLS. A bad entry stops the
        server, naming it.""",
    ).tag(config=True)

    @default("host_allowlist")
    def _default_host_allowlist(self) -> list[str]:
        return ["localhost", "127.0.0.1"]

    @validate("host_allowlist")
    def _report_bad_allowlist_entries(self, proposal: dict[str, Any]) -> Any:
        # Reported when the config is read, naming each entry; a bad entry allows nothing
        # (``core/allowlist.py``), and the server still starts with the others.
        value = proposal["value"]
        if not callable(value):
            for problem in allowlist_of(value).problems:
                logging.getLogger("jupyter_server_proxy").error("%s", problem)
        return value

    @validate("upstream_tls")
    def _valid_upstream_tls(self, proposal: dict[str, Any]) -> Any:
        # A bad entry is an error, not an entry left out: leaving it out would send that
        # host's traffic in the clear.
        try:
            for settings in parse_upstream_tls(proposal["value"]).values():
                client_context(settings)
        except BadTls as e:
            raise TraitError(f"ServerProxy.{e}") from e
        except (OSError, ValueError) as e:  # a file that does not load (ssl.SSLError too)
            raise TraitError(f"ServerProxy.upstream_tls: a file does not load: {e}") from e
        return proposal["value"]

    @validate("loopback_congestion_control")
    def _known_congestion_control(self, proposal: dict[str, Any]) -> str:
        name: str = proposal["value"]
        problem = congestion_control_refusal(name)
        if problem is not None:
            raise TraitError(f"ServerProxy.loopback_congestion_control: {problem}")
        return name

    @validate("idle_timeout")
    def _valid_idle_timeout(self, proposal: dict[str, Any]) -> float:
        value: float = proposal["value"]
        if not value >= 0:  # NaN too
            raise TraitError(f"ServerProxy.idle_timeout: {value!r} is not >= 0 (0: never)")
        return value

    @validate("public_url")
    def _valid_public_url(self, proposal: dict[str, Any]) -> str:
        try:
            return check_public_url(proposal["value"])
        except BadPublicURL as e:
            raise TraitError(f"ServerProxy.public_url: {e}") from e

    @observe("host_whitelist")
    def _deprecated_whitelist(self, change: dict[str, Any]) -> None:
        # As the peer: no warning when both names are given the same value (a config kept
        # working for old and new versions alike), and a UserWarning, which Python shows by
        # default (a DeprecationWarning raised here, outside __main__, would be hidden).
        if change["new"] is None or change["new"] == self.host_allowlist:
            return
        message = (
            "ServerProxy.host_whitelist is deprecated since jupyter-server-proxy 3.0: "
            "use ServerProxy.host_allowlist"
        )
        logging.getLogger("jupyter_server_proxy").warning(message)
        warnings.warn(message, UserWarning, stacklevel=2)
        self.host_allowlist = change["new"]


@dataclass(frozen=True)
class Problem:
    """Why an app was left out, or a warning about it."""

    app: str
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} [{self.source}]"


def _source_of(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    owner = f"{dist.name} {dist.version}" if dist is not None else "unknown package"
    return f"plugin {ep.name} = {ep.value} ({owner})"


def plugin_entry_points() -> list[EntryPoint]:
    """Entry points of the group, one per name (the first one found wins, as pip orders them)."""
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def _load_plugin(ep: EntryPoint) -> Any:
    factory: Callable[[], Any] = ep.load()
    if not callable(factory):
        raise TypeError(f"{ep.value} is a {type(factory).__name__}, not a callable")
    return factory()


def load_specs(
    config: ServerProxy,
    log: logging.Logger | None = None,
    plugins: Iterable[EntryPoint] | None = None,
) -> tuple[dict[str, ServerSpec], list[Problem]]:
    """Every valid app from config and plugins, and the problems met on the way."""
    log = log or logging.getLogger("jupyter_server_proxy")
    specs: dict[str, ServerSpec] = {}
    problems: list[Problem] = []

    def add(name: Any, raw: Any, source: str) -> None:
        try:
            spec, warnings = validate_spec(name, raw, source, idle_timeout=config.idle_timeout)
        except SpecError as e:
            problems.append(Problem(str(name), source, f"{e}; app left out"))
            return
        problems.extend(Problem(name, source, w) for w in warnings)
        specs[name] = spec

    for name, raw in config.servers.items():
        add(name, raw, "config")
    for ep in plugins if plugins is not None else plugin_entry_points():
        source = _source_of(ep)
        if ep.name in specs:
            log.info("app %r from config overrides %s", ep.name, source)
            continue
        try:
            raw = _load_plugin(ep)
        except Exception as e:  # a broken plugin must not break the server
            problems.append(
                Problem(ep.name, source, f"plugin failed: {type(e).__name__}: {e}; app left out")
            )
            continue
        add(ep.name, raw, source)
    for problem in problems:
        log.warning("jupyter-server-proxy: %s", problem)
    return specs, problems

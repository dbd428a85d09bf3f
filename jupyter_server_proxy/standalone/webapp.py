"""The tornado application that serves one app under the standalone proxy's ``base_url``.

Rules:
- Built from the extension's parts, not beside them: the options become one ``ServerSpec``
  (validated by ``validate_spec`` like any app's), supervised by an ``AppManager`` and proxied by
  an ``Engine``, both stored in the tornado settings under the keys of ``web/settings.py``. So the
  standalone app streams, restarts an exited app, and explains failures exactly as ``/<name>/``
  does.
- Authentication is on unless switched off. With it on, the Hub's variables must be present: a
  clear one-line error (``StartupError``) beats a login loop. jupyterhub is imported only then.
- What ``create_app`` starts, ``close_app`` stops; should nobody call it, an atexit hook still
  kills the app's processes.
- The app is served at ``base_url`` itself, so that is its public path
  (``JUPYTER_SERVER_PROXY_PREFIX``); its full URL is known from JupyterHub's
  ``$JUPYTERHUB_PUBLIC_URL`` (``core/publicurl.py``).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
from typing import Any

from tornado import web
from traitlets.config import Configurable

from ..apps.manager import AppManager
from ..apps.specs import ServerSpec
from ..apps.validation import SpecError, validate_spec
from ..core.publicurl import server_root
from ..relay.engine import Engine, EngineSettings
from ..web.settings import ENGINE_KEY, MANAGER_KEY, PROBLEMS_KEY, SPECS_KEY
from . import hubenv
from .options import StandaloneOptions, StartupError
from .proxy import AddSlashHandler, StandaloneHandler

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_INTERPRETER = re.compile(r"^(python[0-9.]*|node|Rscript|R|julia|ruby|perl|sh|bash|env|uv|uvx)$")


def create_app(
    options: StandaloneOptions, *, parent: Configurable, log: logging.Logger
) -> web.Application:
    """The tornado application for ``options``; the app's process starts at the first request.
    ``parent`` is the configurable JupyterHub's OAuth takes its config from (the application).
    Raises ``StartupError`` naming a bad option."""
    spec = server_spec(options)
    check_auth_env(options)
    app_routes = routes(options, spec, parent)
    engine = Engine(engine_settings(options))
    root, unused = server_root(options.base_url)
    if unused:
        log.info("%s", unused)
    manager = AppManager(
        {spec.name: spec},
        base_url=options.base_url,
        log=log,
        upstream=engine.upstream,  # readiness probes use the proxy's own client
        stop_grace=options.stop_timeout,
        public={spec.name: root},
    )
    atexit.register(manager.kill_all_sync)
    return web_app(options, app_routes, spec, manager, engine)


async def close_app(app: web.Application) -> None:
    """Stop what ``create_app``'s application started: first the app (requests waiting on it
    then fail fast instead of holding shutdown), then relayed websockets (closed with a reason)
    and the connection pools."""
    manager: AppManager = app.settings[MANAGER_KEY]
    await manager.stop_all()
    atexit.unregister(manager.kill_all_sync)
    engine: Engine = app.settings[ENGINE_KEY]
    await engine.close()


def served_spec(app: web.Application) -> ServerSpec:
    """The one app a ``create_app`` application serves."""
    specs: dict[str, ServerSpec] = app.settings[SPECS_KEY]
    (spec,) = specs.values()
    return spec


def _listed(value: Any) -> Any:
    """A list trait's value as a list; a callable (which the spec takes too) as it is."""
    return value if callable(value) else list(value)


def _as_strings(value: Any) -> Any:
    """A dict trait's keys and values as strings (a value from the command line may be
    anything JSON gives); a callable as it is."""
    return value if callable(value) else {str(k): str(v) for k, v in value.items()}


def app_name(command: list[str]) -> str:
    """A name for the app in logs and error pages: its program (``voila``), or for an
    interpreter the script or module it runs (``python -m panel`` -> ``panel``)."""
    name = ""
    for word in command:
        if word == "-c":
            break  # inline code: the interpreter's name is the best there is
        if not word or word.startswith("-"):
            continue
        name = os.path.basename(word)
        if not _INTERPRETER.match(name):
            break
    return _UNSAFE_NAME.sub("-", os.path.splitext(name)[0]).strip("-") or "app"


def server_spec(options: StandaloneOptions) -> ServerSpec:
    """The app as a validated spec, as if it were an entry of ``c.ServerProxy.servers``."""
    if not options.command:
        raise StartupError(
            "no command to run: jupyter-standaloneproxy [options] -- <command> [args]"
        )
    unix_socket = options.unix_socket
    raw = {
        "command": _listed(options.command),
        "environment": _as_strings(options.environment),
        "timeout": options.timeout,
        "absolute_url": options.absolute_url,
        "port": options.server_port,
        "unix_socket": unix_socket if unix_socket not in ("", False) else None,
        "mappath": _as_strings(options.mappath),
        "request_headers_override": _as_strings(options.request_headers_override),
        "rewrite_response": options.rewrite_response,
        "update_last_activity": options.update_last_activity,
        "exclude_last_activity_patterns": list(options.exclude_last_activity_patterns),
        "raw_socket_proxy": options.raw_socket_proxy,
        "launcher_entry": {"enabled": False},
    }
    name = app_name(options.command) if isinstance(options.command, list) else "app"
    try:
        spec, _ = validate_spec(name, raw, source="command line")
    except SpecError as e:
        raise StartupError(str(e)) from e
    return spec


def engine_settings(options: StandaloneOptions) -> EngineSettings:
    if options.websocket_max_message_size:
        return EngineSettings(websocket_max_message_size=options.websocket_max_message_size)
    return EngineSettings()


def check_auth_env(options: StandaloneOptions) -> None:
    if not options.auth_enabled:
        return
    missing = hubenv.missing_auth_env(os.environ)
    if missing:
        raise StartupError(
            f"JupyterHub authentication needs {', '.join(missing)} in the environment "
            "(JupyterHub's spawner sets them): start this from JupyterHub, or pass "
            "--skip-authentication to let anyone who can reach the port in"
        )


def routes(options: StandaloneOptions, spec: ServerSpec, parent: Configurable) -> list[Any]:
    handler: type[StandaloneHandler] = StandaloneHandler
    kwargs: dict[str, Any] = {"spec": spec, "prefix": options.base_url}
    out: list[Any] = []
    bare = options.base_url.rstrip("/")
    if bare:
        out.append((re.escape(bare), AddSlashHandler))
    if options.auth_enabled:
        try:
            from . import hub
        except ImportError as e:
            raise StartupError(
                f"JupyterHub authentication needs the jupyterhub package ({e}): "
                "pip install jupyter-server-proxy[standalone]"
            ) from e
        hub_auth = hub.make_hub_auth(parent)
        handler = hub.HubStandaloneHandler
        kwargs["hub_auth"] = hub_auth
        out.append(
            (
                re.escape(hub.callback_path(hub_auth)),
                hub.StandaloneOAuthCallbackHandler,
                {"hub_auth": hub_auth},
            )
        )
    out.append((re.escape(bare) + "(/.*)", handler, kwargs))
    return out


def web_app(
    options: StandaloneOptions,
    app_routes: list[Any],
    spec: ServerSpec,
    manager: AppManager,
    engine: Engine,
) -> web.Application:
    settings: dict[str, Any] = {
        "base_url": options.base_url,
        ENGINE_KEY: engine,
        MANAGER_KEY: manager,
        SPECS_KEY: {spec.name: spec},
        PROBLEMS_KEY: [],
        # Signs the Hub's OAuth cookies; a new one per start only means a new login.
        "cookie_secret": secrets.token_bytes(32),
        "hub_user": os.environ.get("JUPYTERHUB_USER", ""),
        "log_function": log_request,
    }
    return web.Application(app_routes, **settings)


def log_request(handler: web.RequestHandler) -> None:
    """Access log with the app's ordinary traffic at debug level (tornado logs it at info):
    a proxy in front of one app would otherwise log every asset the app serves."""
    status = handler.get_status()
    log = logging.getLogger("tornado.access")
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
    request = handler.request
    millis = 1000.0 * request.request_time()
    log.log(
        level,
        "%d %s %s (%s) %.1fms",
        status,
        request.method,
        request.path,
        request.remote_ip,
        millis,
    )

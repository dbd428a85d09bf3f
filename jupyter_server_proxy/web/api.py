"""REST endpoints: the peer's ``servers-info`` and icons, and our app lifecycle API.

All of them are authenticated (the peer served icons to anyone). Write methods follow Jupyter's
XSRF rules, as every ``APIHandler`` does. Errors are answered by the one error writer
(``error_answers.py``), always as JSON here: ``{"status", "title", "message"}``, and for an app
that failed to start the fields of ``AppFailed`` too.

Lifecycle API, under ``{base_url}server-proxy/api/servers/``:
  ``GET``                   -> ``{"servers": [app, ...]}``
  ``GET <name>``            -> app (404 for an unknown name)
  ``POST <name>``           -> start it and answer once ready (503 with the failure otherwise)
  ``DELETE <name>``         -> stop it
  ``POST <name>/restart``   -> restart it
  ``GET <name>/logs``       -> ``{"name", "lines": [...]}``
where an app is ``{"name", "state", "pid", "port", "unix_socket", "started_at", "exit_code",
"command", "reason", "stopped_at", "restart", "idle_timeout", "url", "app", "instance",
"parameters"}``. A start from here (POST, restart) also starts an app that requests may not
(``ManagedApp.held``). ``<name>`` is an app's name or an instance's, ``<app>@<instance>``
(``core/instancenames.py``); the list has every app, each followed by the instances started
since the server started. ``POST <name>`` and ``POST <name>/restart`` take the optional body
``{"parameters": {...}}``, the launch parameters, checked before anything starts (400 naming
the bad one).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..apps.config import Problem
from ..apps.specs import ServerSpec
from ..apps.supervisor import ManagedApp
from ..core.errors import ProxyError
from ..core.instancenames import NoSuchApp
from .error_answers import write_error_answer, write_http_error
from .named import manager_of
from .settings import PROBLEMS_KEY, SPECS_KEY

_ICON_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon"}


def _specs(handler: web.RequestHandler) -> Mapping[str, ServerSpec]:
    return cast(Mapping[str, ServerSpec], handler.settings[SPECS_KEY])


def app_url(base_url: str, spec: ServerSpec) -> str:
    return url_path_join(base_url, spec.launcher_entry.path_info or spec.name + "/")


def servers_info(
    base_url: str, specs: Mapping[str, ServerSpec], problems: Sequence[Problem] = ()
) -> dict[str, Any]:
    """The peer's ``servers-info`` document (what launchers and menus are built from), plus
    ``problems``: apps that were left out and why, so a frontend can say so (clients of the
    peer's format ignore the extra key)."""
    processes = []
    for spec in specs.values():
        entry = spec.launcher_entry
        launcher: dict[str, Any] = {
            "enabled": entry.enabled,
            "title": entry.title or spec.name,
            "path_info": entry.path_info or spec.name + "/",
            "category": entry.category,
        }
        if entry.rank is not None:  # unset means last; JSON has no Infinity to say so
            launcher["rank"] = entry.rank
        if entry.icon_path:
            launcher["icon_url"] = url_path_join(base_url, "server-proxy", "icon", spec.name)
        processes.append(
            {
                "name": spec.name,
                "launcher_entry": launcher,
                "new_browser_tab": spec.new_browser_tab,
                "instances": spec.instances,
                "parameters": dict(spec.parameters.schema) if spec.parameters else None,
            }
        )
    left_out = [
        {"name": p.app, "source": p.source, "message": p.message}
        for p in problems
        if "left out" in p.message
    ]
    return {"server_processes": processes, "problems": left_out}


class _PageHandler(JupyterHandler):
    """A route of ours that is not the lifecycle API: its errors are JSON for an API client,
    the page for a browser, as on the proxy routes."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_http_error(self, status_code, **kwargs)


class ServersInfoHandler(_PageHandler):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        problems = self.settings.get(PROBLEMS_KEY, ())
        self.finish(json.dumps(servers_info(self.base_url, _specs(self), problems)))


class IconHandler(_PageHandler):
    """The icon of an app, with a Content-Type browsers will render (svg, png, ico)."""

    @web.authenticated
    async def get(self, name: str) -> None:
        spec = _specs(self).get(name)
        if spec is None or not spec.launcher_entry.icon_path:
            raise web.HTTPError(404, "no icon for this app")
        path = spec.launcher_entry.icon_path
        ext = os.path.splitext(path)[1].lower()
        content_type = _ICON_TYPES.get(ext) or mimetypes.guess_type(path)[0]
        try:
            data = await asyncio.to_thread(Path(path).read_bytes)
        except OSError as e:
            self.log.warning("icon of %s unreadable at %s: %s", name, path, e)
            raise web.HTTPError(404, "icon file unreadable") from e
        self.set_header("Content-Type", content_type or "application/octet-stream")
        self.set_header("Cache-Control", "private, max-age=3600")
        self.finish(data)


class _AppAPIHandler(APIHandler):
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_http_error(self, status_code, as_json=True, **kwargs)

    def _app(self, name: str) -> tuple[ServerSpec, ManagedApp]:
        """The app or instance ``name`` names, and its app's spec; 404 if there is none (an
        app left out after the manager was made is no longer in ``_specs``)."""
        try:
            return self._spec(name), manager_of(self.settings).find(name)
        except NoSuchApp as e:
            raise web.HTTPError(404, e.message) from None

    def _spec(self, name: str) -> ServerSpec:
        """The spec of the app ``name`` names, or ``NoSuchApp``."""
        spec = manager_of(self.settings).spec(name)
        if spec.name not in _specs(self):
            raise NoSuchApp(f"no app named {spec.name!r}")
        return spec

    def _describe(self, spec: ServerSpec, app: ManagedApp) -> dict[str, Any]:
        info = {**app.info(), **app.identity()}
        if app.instance is None:
            info["url"] = app_url(self.base_url, spec)
        else:
            info["url"] = url_path_join(self.base_url, app.spec.name + "/")
        return info

    def _given_parameters(self) -> Any:
        """The ``parameters`` of the request's JSON body (None without a body, or without the
        key); a body that is not such JSON is a 400."""
        if not self.request.body.strip():
            return None
        try:
            body = json.loads(self.request.body)
        except ValueError as e:
            raise web.HTTPError(400, f"the body is not JSON: {e}") from None
        except RecursionError:  # arrays or objects nested deeper than the parser goes
            raise web.HTTPError(400, "the body is not JSON we read: nested too deep") from None
        if not isinstance(body, dict) or set(body) - {"parameters"}:
            raise web.HTTPError(400, 'the body must be {"parameters": {name: value, ...}}')
        return body.get("parameters")

    async def _start(self, name: str, *, restart: bool) -> None:
        """Start (or restart) and answer with the app once it is ready, or with why not: 503
        if it failed to start, 400 for a bad parameter, 404 or 409 (``AppManager``)."""
        given = self._given_parameters()
        manager = manager_of(self.settings)
        try:
            spec = self._spec(name)
            app = manager.to_start(name, given, restart=restart)
            await (app.restart() if restart else app.start())
        except ProxyError as error:
            write_error_answer(self, error, as_json=True)
            return
        self.finish(json.dumps(self._describe(spec, app)))


class ServersHandler(_AppAPIHandler):
    @web.authenticated
    def get(self) -> None:
        specs = _specs(self)
        listed = [
            self._describe(specs[app.app_name], app)
            for app in manager_of(self.settings).entries()
            if app.app_name in specs
        ]
        self.finish(json.dumps({"servers": listed}))


class ServerHandler(_AppAPIHandler):
    @web.authenticated
    def get(self, name: str) -> None:
        spec, app = self._app(name)
        self.finish(json.dumps(self._describe(spec, app)))

    @web.authenticated
    async def post(self, name: str) -> None:
        await self._start(name, restart=False)

    @web.authenticated
    async def delete(self, name: str) -> None:
        spec, app = self._app(name)
        await app.stop()
        self.finish(json.dumps(self._describe(spec, app)))


class RestartHandler(_AppAPIHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        await self._start(name, restart=True)


class LogsHandler(_AppAPIHandler):
    @web.authenticated
    def get(self, name: str) -> None:
        _, app = self._app(name)
        self.finish(json.dumps({"name": name, "lines": list(app.log_tail())}))


def api_routes(base_url: str, specs: Mapping[str, ServerSpec]) -> list[Any]:
    def under(pattern: str) -> str:
        return url_path_join(base_url, "server-proxy", pattern)

    name = r"([^/]+)"
    return [
        (under("servers-info"), ServersInfoHandler),
        (under(f"icon/{name}"), IconHandler),
        (under("api/servers/?"), ServersHandler),
        (under(f"api/servers/{name}/restart"), RestartHandler),
        (under(f"api/servers/{name}/logs"), LogsHandler),
        (under(f"api/servers/{name}"), ServerHandler),
    ]

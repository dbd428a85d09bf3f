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
"command", "reason", "stopped_at", "restart", "idle_timeout", "url"}``. A start from here
(POST, restart) also starts an app that requests may not (``ManagedApp.held``).
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
from ..core.errors import AppFailed
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
            {"name": spec.name, "launcher_entry": launcher, "new_browser_tab": spec.new_browser_tab}
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
        spec = _specs(self).get(name)
        if spec is None:
            raise web.HTTPError(404, f"no app named {name!r}")
        return spec, manager_of(self.settings).get(name)

    def _describe(self, spec: ServerSpec, app: ManagedApp) -> dict[str, Any]:
        info = dict(app.info())
        info["url"] = app_url(self.base_url, spec)
        return info

    async def _start(self, name: str, *, restart: bool) -> None:
        """Start (or restart) and answer with the app once it is ready, or 503 with why not."""
        spec, app = self._app(name)
        try:
            await (app.restart() if restart else app.start())
        except AppFailed as error:
            write_error_answer(self, error, as_json=True)
            return
        self.finish(json.dumps(self._describe(spec, app)))


class ServersHandler(_AppAPIHandler):
    @web.authenticated
    def get(self) -> None:
        apps = manager_of(self.settings)
        self.finish(
            json.dumps(
                {
                    "servers": [
                        self._describe(spec, apps.get(name)) for name, spec in _specs(self).items()
                    ]
                }
            )
        )


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

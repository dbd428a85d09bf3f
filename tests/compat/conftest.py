"""Fixtures of the compatibility suite: one Jupyter server with every kind of 4.x spec, shared by
the whole session, one backend on a TCP port, a plugin registered through the
``jupyter_serverproxy_servers`` entry point group (a ``.dist-info`` on the server's PYTHONPATH),
and two server extensions that subclass the handlers the way dask-labextension and trame do.

Tests marked ``deliberate_difference`` state a behaviour of this project that 4.x lacks; against
4.x (see ``compat_support.PEER``) they are expected to fail, strictly, so each listed difference is
proven to exist.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from compat_support import (  # noqa: E402
    BACKEND,
    PEER,
    TCPECHO,
    JupyterServer,
    free_port,
    start_backend,
    stop_process,
)

#: A one-pixel PNG, for the icon route's content type.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'

CONFIG = """
import json, re, sys
PY = {py!r}
BACKEND = {backend!r}
TCPECHO = {tcpecho!r}

def app(*extra):
    return [PY, BACKEND, "--port={{port}}", *extra]

def seen_by_hook(response, request, orig_response, host, port, path):
    response.headers["X-Hook-Args"] = json.dumps({{
        "host": host, "port": str(port), "path": path,
        "request_uri": request.uri, "request_method": request.method,
        "orig_code": orig_response.code, "orig_body_length": len(orig_response.body),
    }})

def upper_body(response):
    response.body = response.body.replace(b'"method"', b'"METHOD"')

def teapot_on_path(response, path):
    if path.startswith("/teapot"):
        response.code = 418
        response.body = b"short and stout"

def only_response(response):
    response.headers["X-Only-Response"] = "yes"

def allow_host(handler, host):
    # 4.x calls a callable allowlist with the request handler and the host.
    return host in ("localhost", "127.0.0.1") and "X-Deny-Me" not in handler.request.headers

def count_unless_told(request):
    return request.get_argument("count", "yes") == "yes"

def command_from_port(port):
    return [PY, BACKEND, "--port=" + str(port)]

def command_from_base_url(port, base_url):
    return [PY, BACKEND, "--port={{}}".format(port), "--base-url=" + base_url]

def env_from_port(port):
    return {{"COMPAT_APP_CALLED_PORT": str(port)}}

def headers_from_port(port):
    return {{"X-Compat-Called": "p" + str(port)}}

c.ServerApp.jpserver_extensions = {{"jupyter_server_proxy": True, "compat_embed": True,
                                     "compat_trame": True}}
c.ServerProxy.non_service_rewrite_response = [seen_by_hook]
c.ServerProxy.host_allowlist = allow_host
c.ServerProxy.servers = {{
    "templates": {{
        "command": app("--base-url={{base_url}}"),
        "environment": {{"COMPAT_APP_PORT": "{{port}}", "COMPAT_APP_BASE_URL": "{{base_url}}"}},
        "request_headers_override": {{"X-Compat-Override": "port-{{port}}"}},
        "launcher_entry": {{"title": "Compat Templates", "icon_path": {svg!r},
                            "category": "Compat", "path_info": "templates/sub"}},
        "new_browser_tab": False,
    }},
    "callables": {{"command": command_from_port, "environment": env_from_port}},
    "headercall": {{"command": app(), "request_headers_override": headers_from_port}},
    "pngicon": {{"command": app(), "launcher_entry": {{"icon_path": {png!r}}}}},
    "callablebase": {{"command": command_from_base_url}},
    "sock": {{"command": [PY, BACKEND, "--unix-socket={{unix_socket}}"], "unix_socket": True}},
    "sockpath": {{"command": [PY, BACKEND, "--unix-socket={{unix_socket}}"],
                  "unix_socket": {sock_path!r}}},
    "absolute": {{"command": app(), "absolute_url": True}},
    "fixedport": {{"command": app(), "port": {fixed_port}}},
    "external": {{"port": {external_port}}},
    "mapdict": {{"command": app(), "mappath": {{"/": "/mapped/root"}}}},
    "mapcall": {{"command": app(), "mappath": lambda path: "/called" + path}},
    "hooked": {{"command": app(), "rewrite_response": [seen_by_hook, upper_body, teapot_on_path]}},
    "hookone": {{"command": app(), "rewrite_response": only_response}},
    "quiet": {{"command": app(), "update_last_activity": False}},
    "askme": {{"command": app(), "update_last_activity": count_unless_told}},
    "patterns": {{"command": app(),
                  "exclude_last_activity_patterns": [r".*/poll", re.compile(r".*/hush")]}},
    "raw": {{"command": [PY, TCPECHO, "{{port}}"], "raw_socket_proxy": True}},
    "neverready": {{"command": [PY, "-c", "import time; time.sleep(120)"], "timeout": 1}},
    "crashes": {{"command": [PY, "-c", "import sys; print('compat-boom', flush=True); sys.exit(3)"],
                 "timeout": 10}},
    # Listens 5 s after it starts: longer than this project holds a page load (3 s).
    "navigated": {{"command": ["sh", "-c", 'sleep 5; exec "$@"', "sh", *app()], "timeout": 60}},
    "hidden": {{"command": app(), "launcher_entry": {{"enabled": False}}}},
}}
"""

PLUGIN = """
import sys

def setup_compatplug():
    return {{
        "command": [sys.executable, {backend!r}, "--port={{port}}"],
        "launcher_entry": {{"title": "Compat Plugin"}},
    }}
"""

# A ProxyHandler subclass mounted by another server extension, the way dask-labextension mounts
# its dashboard proxy: its own route arguments, an int port, proxy() and proxy_open() of the base.
EMBED = """
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import LocalProxyHandler, ProxyHandler


class HeadersFromSubclass(LocalProxyHandler):
    # The 4.x hook for extra request headers, "typically overridden in subclasses".
    def get_request_headers_override(self):
        return {"X-From-Subclass": "yes"}


class DashboardLike(ProxyHandler):
    async def http_get(self, cluster_id, proxied_path):
        return await self.proxy(cluster_id, proxied_path)

    async def open(self, cluster_id, proxied_path):
        host, port = self._where(cluster_id)
        return await super().proxy_open(host, port, proxied_path)

    def post(self, cluster_id, proxied_path):
        return self.proxy(cluster_id, proxied_path)

    def proxy(self, cluster_id, proxied_path):
        host, port = self._where(cluster_id)
        return super().proxy(host, port, proxied_path)

    def _where(self, cluster_id):
        return "localhost", int(cluster_id)


def _jupyter_server_extension_points():
    return [{"module": "compat_embed"}]


def _load_jupyter_server_extension(serverapp):
    base = serverapp.web_app.settings["base_url"]
    route = url_path_join(base, r"/dashboard-like/(\\d+)(/.*|)")
    headers = url_path_join(base, r"/subclass-headers/(\\d+)(/.*|)")
    serverapp.web_app.add_handlers(".*", [(route, DashboardLike), (headers, HeadersFromSubclass)])
"""

# trame-jupyter-extension's way: a NamedLocalProxyHandler subclass that sets its target and
# path mapping in __init__ and is mounted under a prefix of its own.
TRAME = """
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import NamedLocalProxyHandler


def _add_secret(path):
    if path in ("/", "/index.html"):
        path += "?secret=k3y&disableSharedArrayBuffer=1"
    return path


class TrameLike(NamedLocalProxyHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.port = BACKEND_PORT
        self.mappath = _add_secret
        self.proxy_base = url_path_join("trame-like", "abc")
        self.absolute_url = False
        self.unix_socket = None
        self.rewrite_response = tuple()


def _jupyter_server_extension_points():
    return [{"module": "compat_trame"}]


def _load_jupyter_server_extension(serverapp):
    base = serverapp.web_app.settings["base_url"]
    route = url_path_join(base, "trame-like", "abc", r"(.*)")
    serverapp.web_app.add_handlers(".*", [(route, TrameLike)])
"""


def pytest_report_header(config: pytest.Config) -> str:
    import jupyter_server_proxy

    return (
        f"compat: jupyter_server_proxy {jupyter_server_proxy.__version__} "
        f"from {Path(jupyter_server_proxy.__file__).parent}"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not PEER:
        return
    for item in items:
        mark = item.get_closest_marker("deliberate_difference")
        if mark is not None:
            reason = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"4.x differs: {reason}"))


@pytest.fixture(scope="session")
def backend_port() -> Iterator[int]:
    """A backend on a TCP port of loopback, for ``/proxy/<port>/`` and port-only specs."""
    port = free_port()
    proc = start_backend(port=port)
    yield port
    stop_process(proc)


def _plugin_dir(root: Path, backend_port: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "compat_plugin.py").write_text(PLUGIN.format(backend=str(BACKEND)))
    (root / "compat_embed.py").write_text(EMBED)
    (root / "compat_trame.py").write_text(f"BACKEND_PORT = {backend_port}\n{TRAME}")
    dist = root / "compat_plugin-1.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: compat-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[jupyter_serverproxy_servers]\ncompatplug = compat_plugin:setup_compatplug\n"
    )
    return root


@pytest.fixture(scope="session")
def icons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("icons")
    (d / "icon.svg").write_bytes(SVG)
    (d / "icon.png").write_bytes(PNG)
    return {"svg": d / "icon.svg", "png": d / "icon.png"}


@pytest.fixture(scope="session")
def fixed_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    backend_port: int,
    icons: dict[str, Path],
    fixed_port: int,
) -> Iterator[JupyterServer]:
    """The session's Jupyter server, under base_url ``/base/``, with every spec of CONFIG."""
    root = tmp_path_factory.mktemp("jupyter")
    config = CONFIG.format(
        py=sys.executable,
        backend=str(BACKEND),
        tcpecho=str(TCPECHO),
        svg=str(icons["svg"]),
        png=str(icons["png"]),
        sock_path=str(root / "app.sock"),
        fixed_port=fixed_port,
        external_port=backend_port,
    )
    srv = JupyterServer(
        root / "server",
        textwrap.dedent(config),
        base_url="/base/",
        pythonpath=[str(_plugin_dir(root / "plugins", backend_port))],
    )
    try:
        yield srv.start()
    finally:
        srv.stop()

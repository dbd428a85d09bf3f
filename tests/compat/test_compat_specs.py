"""Every key of a 4.x server spec (``c.ServerProxy.servers`` and plugins), as the app sees it."""

from __future__ import annotations

import json

import pytest
from compat_support import JupyterServer, Response

PREFIX_HEADERS = ("X-Forwarded-Context", "X-ProxyContextPath", "X-Forwarded-Prefix")


def _doc(r: Response) -> dict[str, object]:
    assert r.status == 200, r.body[:500]
    doc = r.json()
    assert isinstance(doc, dict)
    return doc


def _port_of(doc: dict[str, object]) -> str:
    argv = doc["argv"]
    assert isinstance(argv, list)
    return next(a.split("=", 1)[1] for a in argv if a.startswith("--port="))


def test_command_list_with_port_and_base_url_templates(server: JupyterServer) -> None:
    """``{port}`` and ``{base_url}`` are filled in a command list, in ``environment`` and in
    ``request_headers_override``."""
    r = server.get("templates/")
    doc = _doc(r)
    port = _port_of(doc)
    assert port.isdigit()
    assert "--base-url=/base/" in doc["argv"]  # type: ignore[operator]
    assert doc["env"] == {"COMPAT_APP_PORT": port, "COMPAT_APP_BASE_URL": "/base/"}
    assert r.header_values("X-Compat-Override") == [f"port-{port}"]


def test_callables_get_the_arguments_they_ask_for(server: JupyterServer) -> None:
    """A callable ``command`` or ``environment`` is called with the arguments it names
    (``port``, ``base_url``)."""
    doc = _doc(server.get("callables/"))
    assert doc["env"] == {"COMPAT_APP_CALLED_PORT": _port_of(doc)}
    doc = _doc(server.get("callablebase/"))
    assert "--base-url=/base/" in doc["argv"]  # type: ignore[operator]


def test_request_headers_override_callable(server: JupyterServer) -> None:
    """A callable ``request_headers_override`` is called with the arguments it names and its
    headers are sent to the app."""
    r = server.get("headercall/")
    assert r.header_values("X-Compat-Called") == [f"p{_port_of(_doc(r))}"]


def test_unix_socket_true_fills_the_template(server: JupyterServer) -> None:
    """``unix_socket: True``: the app gets a socket path in ``{unix_socket}``, and is reached
    there."""
    doc = _doc(server.get("sock/over/socket"))
    assert doc["path"] == "/over/socket"
    arg = next(a for a in doc["argv"] if a.startswith("--unix-socket="))  # type: ignore[union-attr]
    assert arg.split("=", 1)[1].startswith("/")


def test_unix_socket_path(server: JupyterServer) -> None:
    """``unix_socket: "<path>"``: the app listens on that path."""
    doc = _doc(server.get("sockpath/p"))
    assert doc["path"] == "/p"
    assert f"--unix-socket={server.root.parent / 'app.sock'}" in doc["argv"]  # type: ignore[operator]


def test_absolute_url(server: JupyterServer) -> None:
    """``absolute_url: True``: the app sees the full path and gets no prefix headers."""
    r = server.get("absolute/x/y?q=1")
    doc = _doc(r)
    assert doc["path"] == "/base/absolute/x/y" and doc["query"] == "q=1"
    assert all(r.header_values(h) == [] for h in PREFIX_HEADERS)


def test_fixed_port(server: JupyterServer, fixed_port: int) -> None:
    """``port`` with a command: the app is started on that port."""
    assert _port_of(_doc(server.get("fixedport/"))) == str(fixed_port)


def test_port_without_command(server: JupyterServer, backend_port: int) -> None:
    """``port`` without a command: requests go to an app someone else started."""
    doc = _doc(server.get("external/e"))
    assert doc["path"] == "/e"


def test_mappath_dict(server: JupyterServer) -> None:
    assert _doc(server.get("mapdict/"))["path"] == "/mapped/root"
    assert _doc(server.get("mapdict/other"))["path"] == "/other"


def test_mappath_callable(server: JupyterServer) -> None:
    assert _doc(server.get("mapcall/x"))["path"] == "/called/x"


def test_rewrite_response_arguments(server: JupyterServer) -> None:
    """A ``rewrite_response`` hook may ask for ``response``, ``request``, ``orig_response``,
    ``host``, ``port`` and ``path``; for a named app ``host`` is ``localhost`` and ``port`` the
    app's port."""
    r = server.get("hooked/some/where?x=1")
    assert r.status == 200
    seen = json.loads(r.headers["X-Hook-Args"])
    port = seen["port"]
    assert seen == {
        "host": "localhost",
        "port": port,
        "path": "/some/where",
        "request_uri": "/base/hooked/some/where?x=1",
        "request_method": "GET",
        "orig_code": 200,
        "orig_body_length": seen["orig_body_length"],
    }
    assert port.isdigit() and seen["orig_body_length"] > 0


def test_rewrite_response_chain(server: JupyterServer) -> None:
    """A list of hooks runs in order, each on the previous one's result: body, code, headers."""
    r = server.get("hooked/x")
    assert r.status == 200 and b'"METHOD"' in r.body and b'"method"' not in r.body
    assert int(r.headers["Content-Length"]) == len(r.body)
    r = server.get("hooked/teapot")
    assert r.status == 418 and r.body == b"short and stout"


def test_rewrite_response_single_callable(server: JupyterServer) -> None:
    r = server.get("hookone/")
    assert r.status == 200 and r.headers["X-Only-Response"] == "yes"


def test_non_service_rewrite_response_arguments(server: JupyterServer, backend_port: int) -> None:
    """``c.ServerProxy.non_service_rewrite_response`` applies to ``/proxy/<port>/`` with the same
    arguments: ``host`` and ``port`` as in the URL."""
    r = server.get(f"proxy/{backend_port}/n?m=2")
    seen = json.loads(r.headers["X-Hook-Args"])
    assert seen["host"] == "localhost" and seen["port"] == str(backend_port)
    assert seen["path"] == "/n" and seen["request_uri"] == f"/base/proxy/{backend_port}/n?m=2"
    r = server.get(f"proxy/127.0.0.1:{backend_port}/n")
    seen = json.loads(r.headers["X-Hook-Args"])
    assert seen["host"] == "127.0.0.1" and seen["port"] == str(backend_port)


def _last_activity(server: JupyterServer) -> str:
    r = server.get("api/status?no_track_activity=1")
    doc = r.json()
    assert isinstance(doc, dict)
    return str(doc["last_activity"])


def _changes_activity(server: JupyterServer, path: str) -> bool:
    server.get(path)  # started, so its start does not count
    before = _last_activity(server)
    r = server.get(path)
    assert r.status == 200, r.body[:300]
    return _last_activity(server) != before


def test_update_last_activity_default_true(server: JupyterServer) -> None:
    """Requests to an app count as server activity (for idle culling) by default."""
    assert _changes_activity(server, "external/")


def test_update_last_activity_false(server: JupyterServer) -> None:
    assert not _changes_activity(server, "quiet/")


def test_update_last_activity_callable_gets_the_handler(server: JupyterServer) -> None:
    """A callable ``update_last_activity`` is given the request handler (so it can call
    ``get_argument``) and decides whether the request counts."""
    assert _changes_activity(server, "askme/?count=yes")
    assert not _changes_activity(server, "askme/?count=no")


def test_exclude_last_activity_patterns_strings_and_compiled(server: JupyterServer) -> None:
    """Paths matching ``exclude_last_activity_patterns`` (strings or ``re.Pattern``, matched
    against the request path) do not count; others do."""
    assert not _changes_activity(server, "patterns/poll")
    assert not _changes_activity(server, "patterns/hush")
    assert _changes_activity(server, "patterns/work")


def test_entry_point_plugin(server: JupyterServer) -> None:
    """An app from the ``jupyter_serverproxy_servers`` entry point group is served at its name."""
    doc = _doc(server.get("compatplug/plugged"))
    assert doc["path"] == "/plugged"


def test_timeout_app_never_ready(server: JupyterServer) -> None:
    """An app that does not answer within ``timeout`` gets the request an error status."""
    r = server.get("neverready/")
    assert r.status >= 500


@pytest.mark.deliberate_difference(
    reason="4.x answers 500 with no detail; this project shows "
    "the exit code and the app's last log lines (503)"
)
def test_failed_app_page_shows_exit_code_and_log(server: JupyterServer) -> None:
    r = server.get("crashes/")
    assert r.status == 503
    assert b"compat-boom" in r.body and b"3" in r.body

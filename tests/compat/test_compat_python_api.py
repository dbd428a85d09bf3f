"""The Python API that plugins and embedders import (run in the pytest process itself)."""

from __future__ import annotations

import importlib
import warnings

import pytest


def test_handler_classes_importable() -> None:
    """The handler classes plugins and embedders import from ``jupyter_server_proxy.handlers``."""
    from tornado import websocket

    handlers = importlib.import_module("jupyter_server_proxy.handlers")
    for name in (
        "ProxyHandler",
        "LocalProxyHandler",
        "RemoteProxyHandler",
        "AddSlashHandler",
        "NamedLocalProxyHandler",
        "SuperviseAndProxyHandler",
    ):
        assert isinstance(getattr(handlers, name), type), name
    assert issubclass(handlers.ProxyHandler, websocket.WebSocketHandler)
    assert issubclass(handlers.LocalProxyHandler, handlers.ProxyHandler)
    assert issubclass(handlers.RemoteProxyHandler, handlers.ProxyHandler)
    for method in ("proxy", "proxy_open", "http_get", "open", "select_subprotocol"):
        assert callable(getattr(handlers.ProxyHandler, method, None)), method


def test_overridable_request_methods() -> None:
    """Methods 4.x subclasses override and call with super() (plugins raise
    ``proxy_request_options()``'s timeouts, add headers in ``get_request_headers_override()``)."""
    from jupyter_server_proxy.handlers import ProxyHandler

    for method in (
        "get_client_uri",
        "proxy_request_headers",
        "get_request_headers_override",
        "proxy_request_options",
    ):
        assert callable(getattr(ProxyHandler, method, None)), method


def test_call_with_asked_args() -> None:
    """Only the arguments a callable names are passed; one it names but is not offered raises
    TypeError."""
    from jupyter_server_proxy.utils import call_with_asked_args

    def wants_b_a(b, a):  # type: ignore[no-untyped-def]
        return (a, b)

    assert call_with_asked_args(wants_b_a, {"a": 1, "b": 2, "c": 3}) == (1, 2)
    assert call_with_asked_args(lambda: "none", {"a": 1}) == "none"
    with pytest.raises(TypeError):
        call_with_asked_args(lambda port, missing: None, {"port": 1})


def test_server_proxy_config_class() -> None:
    """``jupyter_server_proxy.config.ServerProxy`` is the Configurable behind ``c.ServerProxy``."""
    from traitlets.config import Config, Configurable

    from jupyter_server_proxy.config import ServerProxy

    assert issubclass(ServerProxy, Configurable)
    sp = ServerProxy()
    assert list(sp.host_allowlist) == ["localhost", "127.0.0.1"]
    cfg = Config()
    cfg.ServerProxy.host_allowlist = ["a.example"]
    cfg.ServerProxy.servers = {"x": {"command": ["true"], "port": 1234}}
    sp = ServerProxy(config=cfg)
    assert list(sp.host_allowlist) == ["a.example"]
    assert "x" in sp.servers
    for trait in ("servers", "host_allowlist", "non_service_rewrite_response", "host_whitelist"):
        assert sp.has_trait(trait), trait


def test_host_allowlist_callable() -> None:
    from traitlets.config import Config

    from jupyter_server_proxy.config import ServerProxy

    def allow(handler, host):  # type: ignore[no-untyped-def]
        return host.startswith("10.")

    cfg = Config()
    cfg.ServerProxy.host_allowlist = allow
    assert ServerProxy(config=cfg).host_allowlist is allow


def test_host_whitelist_warns_and_applies() -> None:
    """The old name still works and says it is deprecated, with a Python warning."""
    from traitlets.config import Config

    from jupyter_server_proxy.config import ServerProxy

    cfg = Config()
    cfg.ServerProxy.host_whitelist = ["old.example"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sp = ServerProxy(config=cfg)
    assert list(sp.host_allowlist) == ["old.example"]
    assert any(
        issubclass(w.category, (DeprecationWarning, UserWarning))
        and "host_allowlist" in str(w.message)
        for w in caught
    )


def test_extension_entry_points() -> None:
    """The hooks Jupyter and JupyterLab look for in the package."""
    import jupyter_server_proxy as jsp

    points = jsp._jupyter_server_extension_points()
    assert [p["module"] for p in points] == ["jupyter_server_proxy"]
    assert callable(jsp._load_jupyter_server_extension)
    assert callable(jsp.load_jupyter_server_extension)
    labext = jsp._jupyter_labextension_paths()
    assert [p["dest"] for p in labext] == ["@jupyterhub/jupyter-server-proxy"]


def test_standalone_python_api() -> None:
    """``StandaloneProxyServer(**traits).create_app()`` gives the tornado application."""
    pytest.importorskip("jupyterhub")
    from tornado import web

    from jupyter_server_proxy.standalone import StandaloneProxyServer

    app = StandaloneProxyServer(
        command=["python", "-m", "http.server", "{port}"],
        base_url="/user/someone/",
        no_authentication=True,
        address="127.0.0.1",
        port=0,
        server_port=0,
        absolute_url=False,
        timeout=30.0,
    ).create_app()
    assert isinstance(app, web.Application)

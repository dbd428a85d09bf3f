"""The handler classes, where 4.x code imports them from (dask's ``distributed``,
dask-labextension, jupyter-remote-desktop-proxy, trame). They live in ``web/``."""

from .web.named import AddSlashHandler, SuperviseAndProxyHandler
from .web.porthandlers import LocalProxyHandler, NamedLocalProxyHandler, RemoteProxyHandler
from .web.proxyhandler import ProxyHandler
from .web.rewrite import RewritableResponse

__all__ = [
    "AddSlashHandler",
    "LocalProxyHandler",
    "NamedLocalProxyHandler",
    "ProxyHandler",
    "RemoteProxyHandler",
    "RewritableResponse",
    "SuperviseAndProxyHandler",
]

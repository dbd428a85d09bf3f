"""jupyter-server-proxy: run web apps beside a Jupyter server and proxy authenticated traffic.

This module holds only the hooks Jupyter looks for, ``verify`` for apps and ``public_url`` for
kernels; the work lives in the modules they name. Both helpers are plain Python from ``core``, so
``import jupyter_server_proxy`` stays light (no tornado).
"""

from __future__ import annotations

from typing import Any

# For code in kernels and terminals the server started: the URL of a port through the proxy.
from .core.publicurl import public_url as public_url

# For apps the proxy starts, in their own process: is a request from the proxy?
from .core.secret import verify as verify

__version__ = "5.0.0.dev0"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .web.extension import ServerProxyApp

    return [{"module": "jupyter_server_proxy", "app": ServerProxyApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "@jupyterhub/jupyter-server-proxy"}]


def _jupyter_nbextension_paths() -> list[dict[str, str]]:
    return [
        {
            "section": "tree",
            "dest": "jupyter_server_proxy",
            "src": "tree",
            "require": "jupyter_server_proxy/tree",
        }
    ]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .web.extension import ServerProxyApp

    ServerProxyApp._load_jupyter_server_extension(serverapp)  # type: ignore[no-untyped-call]


# The name jupyter_server 1.x and older plugins look for.
load_jupyter_server_extension = _load_jupyter_server_extension

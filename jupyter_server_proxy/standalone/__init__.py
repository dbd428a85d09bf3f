"""Standalone mode: one app behind JupyterHub's login, without a Jupyter server
(``jupyter-standaloneproxy``, or ``jupyter standaloneproxy``).

Modules: ``app`` (the application: command line and life cycle), ``options`` (its traits),
``webapp`` (the tornado application), ``serving`` (TLS, activity reports, the announcement),
``proxy`` (the handler), ``hub`` (JupyterHub OAuth; the only module that imports jupyterhub,
and only when authentication is on), ``activity`` (activity reports to the Hub), ``hubenv``
(what the Hub's environment says).
Importing this package needs neither jupyterhub nor a running loop.
"""

from __future__ import annotations

from .app import StandaloneProxyServer, main

__all__ = ["StandaloneProxyServer", "main"]

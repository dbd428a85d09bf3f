"""The handlers of ``/server-proxy/servers-info`` and ``/server-proxy/icon/<name>``, under the
names 4.x gives them. They live in ``web/api.py`` with the lifecycle API."""

from .web.api import IconHandler, ServersInfoHandler

__all__ = ["IconHandler", "ServersInfoHandler"]

"""``ServerProxy``, the configurable behind ``c.ServerProxy``, where 4.x code imports it from.
It lives in ``apps/config.py``."""

from .apps.config import ServerProxy

__all__ = ["ServerProxy"]

"""``call_with_asked_args``, where 4.x plugins import it from. It lives in ``core/hooks.py``."""

from .core.hooks import call_with_asked_args

__all__ = ["call_with_asked_args"]

"""Loaded at start-up by every Python process the tests start (tests/conftest.py puts this
directory first on their PYTHONPATH): a warning that jupyter_server_proxy raises becomes an
exception there, as it does in pytest's own process (``filterwarnings = error``), so that a
warning in a Jupyter server, a standalone proxy or a Hub's single-user server is not lost in a
log. tests/conftest.py fails a test whose server logged one (``raised_warnings``).

"Raised by jupyter_server_proxy" is either of:
- a warning attributed to one of our modules (the warnings filter's ``module``): one raised in
  our code, or by a library about our call of it (a deprecation whose stacklevel names us);
- a warning our code issues to its caller (``warnings.warn(..., stacklevel=2)``), which the
  filter attributes to that caller: ServerProxy.host_whitelist's deprecation, which traitlets
  calls, is attributed to traitlets.

A filter cannot say either in PYTHONWARNINGS or ``-W``: there the module field is an escaped
literal that must equal the whole module name (CPython's ``warnings._setoption``), so it cannot
name a package with its submodules, and no filter sees which code called ``warnings.warn``.
Warnings of other packages keep Python's default actions: their deprecations are not ours to
fix, and differ between the newest and the lowest dependencies the tests run against.
"""

from __future__ import annotations

import re
import sys
import warnings
from typing import Any

OURS = r"jupyter_server_proxy(\.|\Z)"

warnings.filterwarnings("error", module=OURS)

_warn = warnings.warn


def _warn_or_raise(
    message: Any, category: Any = None, stacklevel: int = 1, *args: Any, **kwargs: Any
) -> None:
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if isinstance(caller, str) and re.match(OURS, caller):
        # The "error" action, whichever frame the warning names.
        if isinstance(message, Warning):
            raise message
        raise (category or UserWarning)(message)
    _warn(message, category, stacklevel + 1, *args, **kwargs)


warnings.warn = _warn_or_raise

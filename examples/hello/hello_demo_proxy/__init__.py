"""Register the ``hello`` app with jupyter-server-proxy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def setup_hello() -> dict[str, Any]:
    """Return the spec of the ``hello`` app (jupyter-server-proxy calls this once)."""
    return {
        # {unix_socket} is filled in with a socket path in a private directory that the proxy
        # creates (because of "unix_socket": True below) and removes when the app stops.
        "command": [sys.executable, "-m", "hello_demo_proxy.app", "--unix-socket", "{unix_socket}"],
        "unix_socket": True,
        # Seconds the app has to answer HTTP before the user sees a failure page.
        "timeout": 10,
        "launcher_entry": {
            "title": "Hello",
            "icon_path": str(HERE / "icon.svg"),
            "category": "Notebook",
        },
        # Open in a JupyterLab tab rather than a new browser tab.
        "new_browser_tab": False,
    }

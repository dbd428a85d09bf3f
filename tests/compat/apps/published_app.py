"""Stands in for the programs that published jupyter-server-proxy plugins start: RStudio's
``rserver``, ``code-server``, ``julia`` (Pluto) and ``shiny-server``, none of which a test machine
has. It reads where to listen from its command line the way that program does, and then runs
the compat suite's backend there, so the proxy meets a real HTTP and websocket server.

    python published_app.py PROGRAM ARG...

(a small shell script named after PROGRAM on the server's PATH runs it). What the plugin asked
for reaches the backend's answers as ``COMPAT_APP_PROGRAM`` and ``COMPAT_APP_ARGV`` (JSON).
Every address is served on 127.0.0.1 whatever host the command names (code-server's
``--bind-addr=0.0.0.0:PORT``, Pluto's ``host="0.0.0.0"``): the tests stay on loopback.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

BACKEND = Path(__file__).with_name("backend.py")

#: What ``rserver --help`` lists: jupyter-rsession-proxy looks for these options in it and
#: uses only those it finds.
RSERVER_HELP = """\
rserver (stand-in) options:
  --www-port arg          port to listen on
  --www-socket arg        unix domain socket to listen on
  --www-root-path arg     path prefix of every URL
  --server-data-dir arg   where the server keeps its data
  --database-config-file arg
  --www-thread-pool-size arg
  --rsession-which-r arg
"""


def _option(argv: list[str], name: str) -> str | None:
    """``--name=value`` or ``--name value``."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
    return None


def where_to_listen(program: str, argv: list[str]) -> list[str]:
    """The backend's ``--port N`` or ``--unix-socket PATH``, read as ``program`` reads it."""
    port: str | None = None
    if program == "rserver":
        socket_path = _option(argv, "--www-socket")
        if socket_path:
            return ["--unix-socket", socket_path]
        port = _option(argv, "--www-port")
    elif program == "code-server":
        socket_path = _option(argv, "--socket")
        if socket_path:
            return ["--unix-socket", socket_path]
        bind = _option(argv, "--bind-addr")
        port = bind.rsplit(":", 1)[1] if bind else _option(argv, "--port")
    elif program == "julia":
        code = _option(argv, "-e") or ""
        found = re.search(r"\bport\s*=\s*(\d+)", code)
        port = found.group(1) if found else None
    elif program == "shiny-server":
        conf = Path(argv[0]).read_text() if argv else ""
        found = re.search(r"^\s*listen\s+(\d+)\s*;", conf, re.MULTILINE)
        port = found.group(1) if found else None
    if port is None or not port.isdigit():
        sys.exit(f"{program} (stand-in): no address to listen on in {argv!r}")
    return ["--port", port]


def main() -> None:
    program, argv = sys.argv[1], sys.argv[2:]
    if program == "rserver" and argv == ["--help"]:
        print(RSERVER_HELP, end="")
        return
    if program == "julia" and "Pluto.run" not in (_option(argv, "-e") or ""):
        # Another tool's probe (jupyter-lsp asks julia whether LanguageServer is installed):
        # a julia with nothing installed prints nothing.
        return
    listen = where_to_listen(program, argv)
    os.environ["COMPAT_APP_PROGRAM"] = program
    os.environ["COMPAT_APP_ARGV"] = json.dumps(argv)
    # exec: the process the proxy started is the one that serves, as with the real programs.
    os.execv(sys.executable, [sys.executable, str(BACKEND), *listen])


if __name__ == "__main__":
    main()

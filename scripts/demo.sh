#!/usr/bin/env bash
# Set up this project and the demo plugin (examples/hello), then start JupyterLab with it and
# print the URL to open; the launcher has a "Hello" card. Extra arguments go to `jupyter lab`.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Setting up (the first run installs packages and builds the JupyterLab extension with"
echo "   npm, which takes a few minutes; later runs take seconds)"
SKIP_BROWSER=1 bash scripts/setup.sh

args=(--ServerApp.ip=127.0.0.1 --ServerApp.open_browser=False)
# Jupyter refuses to run as root unless told to (CI and containers often are root).
[ "$(id -u)" = 0 ] && args+=(--allow-root)

echo "== Starting JupyterLab"
python3 -m jupyterlab "${args[@]}" "$@" &
lab=$!
# Ctrl-C or a SIGTERM stops the server, which stops every app it started.
trap 'kill -TERM "$lab" 2>/dev/null || true' INT TERM

# The server writes its URL (with its token) to Jupyter's runtime directory once it listens.
url=$(python3 - "$lab" <<'PY'
import sys, time
from jupyter_server.serverapp import list_running_servers
pid = int(sys.argv[1])
for _ in range(600):  # at most 60 s
    for info in list_running_servers():
        if info.get("pid") == pid:
            print(f"{info['url']}lab?token={info.get('token', '')}")
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
) || url=""

if [ -n "$url" ]; then
  cat <<MSG

==========================================================================================
  JupyterLab is running. Open this URL in your browser:

      $url

  The launcher has a "Hello" card: the demo app, started on first use.
  Ctrl-C stops JupyterLab and every app it started.
==========================================================================================

MSG
else
  echo "== JupyterLab did not report its URL within 60 s; see its log above" >&2
fi
# A first wait is cut short when a signal arrives (the trap then stops the server); the second
# waits for the server to have stopped its apps and exited.
wait "$lab" || wait "$lab" || true

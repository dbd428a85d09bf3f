#!/usr/bin/env bash
# Set up this project and the demo plugin (examples/hello), then start JupyterLab with it.
# Open the URL it prints; the launcher has a "Hello" card.
set -euo pipefail
cd "$(dirname "$0")/.."

SKIP_BROWSER=1 bash scripts/setup.sh

args=(--ServerApp.ip=127.0.0.1 --ServerApp.open_browser=False)
# Jupyter refuses to run as root unless told to (CI and containers often are root).
[ "$(id -u)" = 0 ] && args+=(--allow-root)
exec python3 -m jupyterlab "${args[@]}" "$@"

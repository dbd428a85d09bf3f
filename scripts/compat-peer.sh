#!/usr/bin/env bash
# Run the compatibility suite (tests/compat) against jupyter-server-proxy 4.6.0 from PyPI.
#
# 4.6.0 has the same module name as this project, so it gets a venv of its own, and pytest runs
# with that venv's python from a scratch directory, with PYTHONPATH unset: nothing of this
# repository is importable there except the suite's own files. Tests marked
# deliberate_difference are expected to fail against 4.6.0 (strict xfail: each one proves its
# difference exists); every other test must pass.
#
#   COMPAT_PEER_VENV  where the venv lives (default: ~/.cache/jupyter-server-proxy-compat-peer);
#                     made and filled on first use, reused after
#   PYTHON            the python that makes the venv (default: python3)
# Extra arguments go to pytest (for example -k websocket).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${COMPAT_PEER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/jupyter-server-proxy-compat-peer}
PEER_VERSION=4.6.0

if [ ! -x "$VENV/bin/python" ]; then
  echo "== making $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
echo "== installing jupyter-server-proxy $PEER_VERSION and the suite's test tools into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "jupyter-server-proxy[standalone]==$PEER_VERSION" jupyter_server aiohttp pytest pytest-timeout

bash "$REPO/scripts/published-plugins.sh"

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH"
unset PYTHONPATH
# 4.x leaves the private directories of unix-socket apps behind: keep them in the scratch
# directory, which goes when the run ends.
export TMPDIR="$SCRATCH"
found=$("$VENV/bin/python" -c 'import jupyter_server_proxy as j; print(j.__version__, j.__file__)')
case "$found" in
  "$PEER_VERSION "*) echo "== testing jupyter_server_proxy $found" ;;
  *) echo "expected jupyter_server_proxy $PEER_VERSION in $VENV, found: $found" >&2; exit 1 ;;
esac
# --confcutdir keeps tests/conftest.py (this project's own fixtures) out of the run.
"$VENV/bin/python" -m pytest -p no:cacheprovider --confcutdir="$REPO/tests/compat" \
  "$REPO/tests/compat" "$@"

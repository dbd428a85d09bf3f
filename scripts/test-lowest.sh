#!/usr/bin/env bash
# The lowest-dependencies lane: run the unit, integration and JupyterHub tests against the oldest
# release of each direct dependency that pyproject.toml allows, so that a declared lower bound
# that is no longer true fails here rather than at a user's site. (scripts/test.sh is the newest
# lane: pip's ordinary resolution.)
#
# Resolution is "lowest direct", as uv's --resolution=lowest-direct does: every dependency we
# name (runtime, the standalone extra, and the test tools this lane needs) is pinned to the oldest
# published release its bound allows; what those releases need in turn resolves as usual. The
# frontends (jupyterlab, notebook, nbclassic) and the browser tests are left out: JupyterLab's
# oldest allowed release needs a newer jupyter_server than our own oldest, and it only serves
# the browser tests, which the newest lane runs.
#
# The JupyterLab extension is not rebuilt: when scripts/setup.sh (or any earlier build) has
# left it in jupyter_server_proxy/labextension, the install runs without hatch's build hooks
# and ships that build. The venv lives in .venv-lowest/ (gitignored; JSP_LOWEST_VENV moves it).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${JSP_LOWEST_VENV:-.venv-lowest}"
if [ ! -x "$venv/bin/python" ]; then
  echo "== venv: $venv"
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
pip=("$py" -m pip install -q --disable-pip-version-check)

echo "== pins: the oldest release each lower bound allows"
pins="$venv/lowest-pins.txt"
python3 scripts/lowest_pins.py >"$pins"
cat "$pins"

echo "== pip: jupyter-server-proxy (editable) with those pins, and the demo plugin"
build_env=()
if [ -f jupyter_server_proxy/labextension/package.json ]; then
  build_env=(env HATCH_BUILD_NO_HOOKS=true)
fi
# --force-reinstall of the pins only: a venv kept from an earlier run may hold newer releases.
"${pip[@]}" --force-reinstall --no-deps -r "$pins"
"${build_env[@]}" "${pip[@]}" -r "$pins" -e ".[standalone]"
if [ -f examples/hello/pyproject.toml ]; then
  "${pip[@]}" --no-deps -e examples/hello
fi
"$py" -m pip check
bash scripts/published-plugins.sh

echo "== pytest (lowest dependencies)"
"$py" -m pip list --disable-pip-version-check 2>/dev/null \
  | grep -iE '^(tornado|jupyter.server|traitlets|httptools|jupyterhub|aiohttp|pytest) '
"$py" -m pytest -p no:cacheprovider -m "not browser" tests/unit tests/integration tests/compat tests/hub "$@"

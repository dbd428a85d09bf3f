#!/usr/bin/env bash
# Install what this project needs on a fresh Debian machine (idempotent):
# Debian's chromium for the browser tests, configurable-http-proxy from npm for the JupyterHub
# tests, then this package (editable, building the JupyterLab extension with npm) with its test
# extras, and the demo plugin in examples/hello.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SKIP_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "== apt: chromium"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q -o DPkg::Lock::Timeout=300 chromium
fi

# JupyterHub's proxy, where tests/hub/hubctl.py looks for it (JSP_CHP_PREFIX moves both).
chp_prefix="${JSP_CHP_PREFIX:-.cache/chp}"
if [ ! -x "$chp_prefix/node_modules/.bin/configurable-http-proxy" ]; then
  echo "== npm: configurable-http-proxy in $chp_prefix"
  mkdir -p "$chp_prefix"
  npm install --prefix "$chp_prefix" --no-audit --no-fund --loglevel=error configurable-http-proxy@5
fi

# Published 4.x plugins for tests/compat, in a directory of their own (see the script).
bash scripts/published-plugins.sh

# A `jupyter labextension develop` link in place of the installed extension breaks pip's
# reinstall of it; the editable install below installs the built extension itself.
ext_dir="$(python3 -c 'import sys; print(sys.prefix)')/share/jupyter/labextensions/@jupyterhub/jupyter-server-proxy"
if [ -L "$ext_dir" ]; then rm -f "$ext_dir"; fi

echo "== pip: jupyter-server-proxy[test] and the demo plugin (builds the JupyterLab extension with npm)"
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
if [ -f examples/hello/pyproject.toml ]; then
  python3 -m pip install -q --disable-pip-version-check --no-deps -e examples/hello
fi

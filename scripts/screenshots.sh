#!/usr/bin/env bash
# Refresh the screenshots the README and the docs show: run the browser tests that take them
# (they write to build/screenshots, out of git's way), then copy them into docs/_static.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pytest -q -p no:cacheprovider tests/browser/test_frontends.py "$@"
cp build/screenshots/*.png docs/_static/
git status --short docs/_static

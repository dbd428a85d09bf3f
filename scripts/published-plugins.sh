#!/usr/bin/env bash
# Install the published 4.x plugins that tests/compat runs (tests/compat/published-plugins.txt)
# into .cache/published-plugins, a directory of their own that only the servers those tests
# start put on their PYTHONPATH: installed into the environment, they would join every other
# test's servers. Without their dependencies: pip would replace this package with
# jupyter-server-proxy 4.x from PyPI to satisfy them. Idempotent: done again only when the pins
# change.
set -euo pipefail
cd "$(dirname "$0")/.."
pins=tests/compat/published-plugins.txt
target="${JSP_PUBLISHED_PLUGINS:-.cache/published-plugins}"
if cmp -s "$pins" "$target/.installed-from" 2>/dev/null; then
  exit 0
fi
echo "== pip: the published plugins of $pins, into $target"
rm -rf "$target"
"${PYTHON:-python3}" -m pip install -q --disable-pip-version-check --no-deps --target "$target" -r "$pins"
cp "$pins" "$target/.installed-from"

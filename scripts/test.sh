#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run every test:
# lint (ruff), types (mypy --strict), the TypeScript unit tests, and pytest (unit; integration
# against real Jupyter servers and backends; the documentation site, built with warnings as
# errors; and real-browser tests in Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== ruff"
python3 -m ruff check .
python3 -m ruff format --check .
echo "== mypy --strict"
python3 -m mypy
if [ -f labextension/package.json ]; then
  echo "== TypeScript unit tests, ESLint and Prettier"
  (cd labextension && npm test --silent && npm run lint:check --silent)
fi
echo "== pytest"
python3 -m pytest "$@"

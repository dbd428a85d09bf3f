#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run every test:
# lint (ruff), types (mypy --strict), the TypeScript unit tests, and pytest (unit; integration
# against real Jupyter servers and backends; the documentation site, built with warnings as
# errors; and real-browser tests in Debian's chromium).
#
# pytest runs under coverage, which measures the Jupyter servers, proxies and Hub servers the
# tests start as well ([tool.coverage.run] in pyproject.toml); the report follows, and
# scripts/coverage_floor.py fails the run when a transport, relay or core module is below its
# floor. The floor is not checked when the arguments may choose some of the tests (-k, -m, a
# path, or any other word that is not an option), since a part of the suite cannot reach it. Coverage data goes to .cache/coverage/.
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
echo "== pytest (under coverage)"
rm -rf .cache/coverage
status=0
python3 -m coverage run -m pytest "$@" || status=$?
python3 -m coverage combine -q
echo "== coverage"
python3 -m coverage report
whole_suite=1
for arg in "$@"; do
  case "$arg" in
    -k | -m | -k?* | -m?* | --deselect* | --lf | --last-failed | --sw | --stepwise | [!-]*) whole_suite=0 ;;
  esac
done
if [ "$whole_suite" = 1 ]; then
  if ! python3 scripts/coverage_floor.py && [ "$status" = 0 ]; then status=1; fi
else
  echo "(a selection of the tests: the coverage floor is not checked)"
fi
exit "$status"

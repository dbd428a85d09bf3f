"""The line-coverage floor of the transport, relay and core layers, checked by scripts/test.sh.

Reads the combined coverage data (``[tool.coverage.run] data_file``, lines run in pytest and in
every server the tests started), prints the line coverage of each file that FLOOR_FILES names,
with the lines no test ran in the files below FLOOR, and exits 1 when any is below it. A listed
file that no process imported counts as not run at all.

Edit FLOOR_FILES when modules move: patterns are relative to the repository, ``fnmatch`` style.
"""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import coverage

REPO = Path(__file__).resolve().parent.parent

#: Percent of lines each listed file must have run.
FLOOR = 90.0

FLOOR_FILES = [
    # core: pure rules
    "jupyter_server_proxy/core/*.py",
    # transport: the pooled HTTP/1.1 client, connecting, loopback tuning, time limits, uploads
    "jupyter_server_proxy/transport/*.py",
    # relay: websocket pipe, socket sides, the relay thread's loop, the engine
    "jupyter_server_proxy/relay/*.py",
    # the relay's tornado ends, in the web layer: taking a client over, raw streams
    "jupyter_server_proxy/web/takeover.py",
    "jupyter_server_proxy/web/rawstream.py",
]


def floor_files() -> list[Path]:
    found = {
        path
        for path in (REPO / "jupyter_server_proxy").rglob("*.py")
        if any(fnmatch.fnmatch(path.relative_to(REPO).as_posix(), p) for p in FLOOR_FILES)
    }
    return sorted(found)


def main() -> int:
    cov = coverage.Coverage(config_file=str(REPO / "pyproject.toml"))
    cov.load()
    below = []
    title = f"line coverage, floor {FLOOR:.0f}%"
    print(f"{title:<52} {'lines':>6} {'miss':>5} {'cover':>7}")
    for path in floor_files():
        _, statements, _, missing, missing_text = cov.analysis2(str(path))
        if not statements:
            continue
        percent = 100.0 * (len(statements) - len(missing)) / len(statements)
        name = path.relative_to(REPO).as_posix()
        print(f"{name:<52} {len(statements):>6} {len(missing):>5} {percent:>6.1f}%")
        if percent < FLOOR:
            below.append(f"{name}: {percent:.1f}%, lines not run: {missing_text}")
    if below:
        print(f"\nbelow the {FLOOR:.0f}% floor:\n" + "\n".join(below))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

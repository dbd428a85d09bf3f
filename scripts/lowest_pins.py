"""Print pip pins (``name==version``) for the lowest-dependencies lane (scripts/test-lowest.sh).

Every requirement of ``[project] dependencies``, of the ``standalone`` extra and the test tools
this lane runs with is pinned to the oldest published release its specifier allows: a bound
like ``jupyter_server>=2.0`` means 2.0.1 when 2.0.0 was never published. Releases come from
``pip index versions``, so the pins follow whatever index pip is configured for.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; pip carries tomli, its backport
    from pip._vendor import tomli as tomllib

#: From the test extras: what the unit, integration and Hub tests import or run. The frontends
#: (jupyterlab, notebook, nbclassic), playwright and the linters serve other lanes.
TEST_TOOLS = {"pytest", "pytest-timeout", "aiohttp", "jupyterhub", "trustme"}


def releases(name: str) -> list[Version]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^Available versions: (.+)$", out, re.MULTILINE)
    if not match:
        raise SystemExit(f"pip index versions {name}: no release list in its output:\n{out}")
    found = []
    for text in match.group(1).split(", "):
        try:
            found.append(Version(text))
        except InvalidVersion:
            continue
    return found


def lowest(req: Requirement) -> str:
    allowed = [v for v in releases(req.name) if v in req.specifier and not v.is_prerelease]
    if not allowed:
        raise SystemExit(f"no published release of {req.name} satisfies {req.specifier}")
    return f"{req.name}=={min(allowed)}"


def main() -> None:
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = [Requirement(r) for r in project["dependencies"] + extras["standalone"]]
    reqs += [r for r in map(Requirement, extras["test"]) if r.name in TEST_TOOLS]
    pins = {}
    for req in reqs:
        pins.setdefault(req.name, lowest(req))
    print("\n".join(sorted(pins.values(), key=str.lower)))


if __name__ == "__main__":
    main()

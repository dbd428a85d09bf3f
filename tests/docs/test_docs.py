"""The documentation site: it builds without a warning, its reference lists everything the code
has, its config samples run, and the OpenAPI document describes what the API really answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from traitlets.config import Config

from jupyter_server_proxy.apps.config import ServerProxy, load_specs
from jupyter_server_proxy.apps.specs import KNOWN_KEYS, LauncherEntry
from jupyter_server_proxy.cli import ListApp
from jupyter_server_proxy.standalone.app import StandaloneProxyServer
from jupyter_server_proxy.web.api import api_routes
from tests.conftest import ECHO, JupyterServer

DOCS = Path(__file__).parents[2] / "docs"
OPENAPI = DOCS / "reference" / "openapi.yaml"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as CI builds it: warnings (broken internal links among them) are errors."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", DOCS, out],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def text_of(page: Path) -> str:
    return re.sub(r"<[^>]+>", "", page.read_text())


def test_every_setting_is_in_the_config_reference(site: Path) -> None:
    """Every configurable trait of ``c.ServerProxy`` is on the config reference page."""
    page = text_of(site / "reference" / "config.html")
    for name in ServerProxy.class_traits(config=True):
        assert f"c.ServerProxy.{name}" in page, name


def test_every_spec_key_is_in_the_spec_reference(site: Path) -> None:
    """Every spec key the validator takes, and every ``launcher_entry`` key, is documented."""
    page = (site / "reference" / "specs.html").read_text()
    for key in KNOWN_KEYS:
        assert f">{key}<" in page, key  # a term of its own, not a word in another's text
    for field in LauncherEntry.__dataclass_fields__:
        assert f">launcher_entry.{field}<" in page, field


def test_every_command_line_option_is_in_the_cli_reference(site: Path) -> None:
    """Every option and flag of both command lines is on the CLI reference page."""
    page = text_of(site / "reference" / "cli.html")
    for app, command in (
        (StandaloneProxyServer, "jupyter-standaloneproxy"),
        (ListApp, "jupyter server-proxy list"),
    ):
        for alias in app.aliases:
            if alias in ("log-level", "config"):  # Jupyter's own, the same for every command
                continue
            assert f"{command} --{alias}=" in page, alias
        for flag in app.flags:
            if flag in ("debug", "show-config", "show-config-json", "generate-config", "y"):
                continue
            assert f"{command} --{flag}" in page, flag


def openapi_paths() -> set[str]:
    document = yaml.safe_load(OPENAPI.read_text())
    return {re.sub(r"\{[^}]+\}", "{}", p) for p in document["paths"]}


def test_openapi_names_every_route_and_no_other() -> None:
    """The OpenAPI document's paths are exactly the API's routes."""
    routes = set()
    for pattern, _handler in api_routes("/", {}):
        route = pattern.removeprefix("/server-proxy").replace("([^/]+)", "{}")
        routes.add(route.removesuffix("/?"))
    assert routes == openapi_paths()


def python_samples() -> Iterator[tuple[str, str]]:
    """(page, code) of every config sample in the docs and the README: a ```python block whose
    first line is ``# jupyter_server_config.py``."""
    for page in [DOCS.parent / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            if block.startswith("# jupyter_server_config.py"):
                yield str(page.relative_to(DOCS.parent)), block


SAMPLES = list(python_samples())


def test_there_are_config_samples() -> None:
    assert len(SAMPLES) >= 5


@pytest.mark.parametrize("page,code", SAMPLES, ids=[f"{p}#{i}" for i, (p, _) in enumerate(SAMPLES)])
def test_config_sample_runs_and_is_valid(page: str, code: str) -> None:
    """Each config sample executes as a config file and gives apps without a problem."""
    c = Config()
    exec(compile(code, page, "exec"), {"c": c, "get_config": lambda: c})
    proxy = ServerProxy(config=c)
    specs, problems = load_specs(proxy)
    assert not problems, [str(p) for p in problems]
    configured = c.ServerProxy.get("servers", {})
    assert set(configured) <= set(specs)


def openapi_schema(name: str) -> dict[str, Any]:
    """A component schema of the OpenAPI 3.0 document as JSON Schema (``nullable`` becomes a
    type that admits null; ``$ref`` resolves inside the document)."""
    document = yaml.safe_load(OPENAPI.read_text())

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: convert(v) for k, v in node.items()}
            if node.pop("nullable", False):
                node["type"] = [node["type"], "null"]
            if "$ref" in node:
                node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
            return node
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    defs = convert(document["components"]["schemas"])
    return {"$ref": f"#/$defs/{name}", "$defs": defs}


def response_schema(path: str, method: str, status: str) -> dict[str, Any]:
    document = yaml.safe_load(OPENAPI.read_text())
    response = document["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    if "$ref" in schema:
        return openapi_schema(schema["$ref"].rsplit("/", 1)[1])
    full = openapi_schema("Server")
    full.pop("$ref")
    return {**full, **json.loads(json.dumps(schema).replace("#/components/schemas/", "#/$defs/"))}


def test_openapi_matches_the_running_api(make_server: Callable[..., JupyterServer]) -> None:
    """Every documented answer of a real server validates against the OpenAPI document: list,
    one app, start, logs, restart, stop, servers-info, an app that fails to start (503), an
    instance started with parameters, a refused parameter (400), other values for a running
    instance (409) and an instance of an app without instances (404)."""
    echo = json.dumps([*ECHO, "--port", "{port}"])
    failing = json.dumps([sys.executable, "-c", "print('no luck'); raise SystemExit(3)"])
    server = make_server(
        textwrap.dedent(
            f"""
            c.ServerProxy.servers = {{
                "echo": {{"command": {echo}, "timeout": 30}},
                "broken": {{"command": {failing}, "timeout": 30}},
                "many": {{
                    "command": {echo},
                    "timeout": 30,
                    "instances": True,
                    "parameters": {{
                        "type": "object",
                        "properties": {{"n": {{"type": "integer", "default": 1}}}},
                    }},
                }},
            }}
            """
        )
    )

    def call(path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            server.url(f"server-proxy/{path}"),
            method=method,
            headers=server.auth,
            data=None if body is None else json.dumps(body).encode(),
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    checks = [
        ("servers-info", "GET", "/servers-info", "200"),
        ("api/servers", "GET", "/api/servers", "200"),
        ("api/servers/echo", "POST", "/api/servers/{name}", "200"),
        ("api/servers/echo", "GET", "/api/servers/{name}", "200"),
        ("api/servers/echo/logs", "GET", "/api/servers/{name}/logs", "200"),
        ("api/servers/echo/restart", "POST", "/api/servers/{name}/restart", "200"),
        ("api/servers", "GET", "/api/servers", "200"),
        ("api/servers/echo", "DELETE", "/api/servers/{name}", "200"),
        ("api/servers/broken", "POST", "/api/servers/{name}", "503"),
        ("api/servers/many@a", "POST", "/api/servers/{name}", "200", {"parameters": {"n": 2}}),
        ("api/servers/many@a", "GET", "/api/servers/{name}", "200"),
        ("api/servers/many@b", "POST", "/api/servers/{name}", "400", {"parameters": {"n": "x"}}),
        ("api/servers/many@a", "POST", "/api/servers/{name}", "409", {"parameters": {"n": 3}}),
        ("api/servers/echo@a", "GET", "/api/servers/{name}", "404"),
        ("api/servers/many@a/restart", "POST", "/api/servers/{name}/restart", "200"),
        ("api/servers", "GET", "/api/servers", "200"),
        ("api/servers/many@a", "DELETE", "/api/servers/{name}", "200"),
    ]
    for path, method, documented, status, *sent in checks:
        code, body = call(path, method, *sent)
        assert str(code) == status, (path, method, body)
        jsonschema.validate(body, response_schema(documented, method.lower(), status))

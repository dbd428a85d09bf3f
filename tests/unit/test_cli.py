"""``jupyter server-proxy list`` reads the server's config and plugins and reports problems."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyter_server_proxy.apps.validation import validate_spec
from jupyter_server_proxy.cli import describe


def run_list(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(config_dir, "list", *args)


def run_cli(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), PYTHONWARNINGS="")
    return subprocess.run(
        [sys.executable, "-m", "jupyter_server_proxy.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_lists_apps_with_their_source_and_problems(tmp_path: Path) -> None:
    """Every app is shown with where it came from; a bad one is named with the cause; exit 1."""
    (tmp_path / "jupyter_server_config.py").write_text(
        'c.ServerProxy.servers = {"good": {"command": ["x", "{port}"],'
        ' "launcher_entry": {"title": "Good App"}}, "bad": {"timeout": "soon"}}\n'
    )
    result = run_list(tmp_path)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "good    [config]" in out and "'Good App'" in out and "command: x {port}" in out
    assert "hello    [plugin hello = hello_demo_proxy:setup_hello" in out
    assert "bad: app 'bad': timeout = 'soon' is not valid" in out


def test_clean_config_exits_zero_and_quiet_prints_nothing(tmp_path: Path) -> None:
    """No problems: exit 0; --quiet prints nothing."""
    (tmp_path / "jupyter_server_config.py").write_text("c.ServerProxy.servers = {}\n")
    result = run_list(tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_help_is_complete_sentences(tmp_path: Path) -> None:
    """The command's help and its subcommand's summary end their sentences (they used to be cut
    at the docstring's first line break)."""
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    summary = result.stdout.split("\nlist\n", 1)[1].strip().splitlines()[0]
    assert summary.endswith("left out."), summary
    assert result.stdout.split("\n\n", 1)[0].rstrip().endswith("would offer.")


def test_apps_named_after_jupyter_routes_are_reported(tmp_path: Path) -> None:
    """An app named after one of Jupyter's routes (the server's ``api``, a frontend's ``lab``,
    this extension's ``proxy``) is listed as a problem naming the route; a look-alike is fine."""
    (tmp_path / "jupyter_server_config.py").write_text(
        'c.ServerProxy.servers = {"api": {"command": ["x"]}, "lab": {"command": ["x"]},'
        ' "proxy": {"command": ["x"]}, "apis": {"command": ["x"]}}\n'
    )
    result = run_list(tmp_path)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "apis    [config]" in out
    for name in ("api", "lab", "proxy"):
        assert f"{name}: app {name!r}: the name {name!r} is taken by the route /{name}" in out
        assert f"{name}    [config]" not in out
    assert "(a route of jupyter_server)" in out


def test_an_app_over_tls_says_so() -> None:
    """``list`` says which apps are reached over TLS, and which without checking a certificate."""
    checked, _ = validate_spec("a", {"port": 8443, "tls": True})
    unchecked, _ = validate_spec("b", {"port": 8443, "tls": {"verify": False}})
    plain, _ = validate_spec("c", {"port": 8080})
    assert "listens on: port 8443 over TLS;" in "\n".join(describe(checked))
    assert "port 8443 over TLS (certificate not checked);" in "\n".join(describe(unchecked))
    assert "TLS" not in "\n".join(describe(plain))


def test_instances_and_parameters_are_shown(tmp_path: Path) -> None:
    """An app's instance form and its parameter names are listed; a bad schema is a problem
    that names the key."""
    (tmp_path / "jupyter_server_config.py").write_text(
        'c.ServerProxy.servers = {"tb": {"command": ["tb", "{port}", "{logdir}"],'
        ' "instances": True, "parameters": {"type": "object", "properties":'
        ' {"logdir": {"type": "string", "default": "/tmp"}}}},'
        ' "bad": {"parameters": {"type": "object", "properties": {"port": {"type": "integer"}}}}}\n'
    )
    out = run_list(tmp_path).stdout
    assert "  instances: tb@<instance>" in out and "  parameters: logdir" in out
    assert "bad: app 'bad': parameters.properties.port = 'port' is not valid" in out

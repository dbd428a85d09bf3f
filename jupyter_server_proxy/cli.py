"""``jupyter server-proxy list``: every app the server would offer, where it came from, and what
is wrong with the ones it would leave out.

It reads the same config files as ``jupyter server`` (``jupyter_server_config.py``/``.json`` in
Jupyter's config path) and the same plugins, so it answers "why is my app missing?" without
starting a server. Exit status: 0 when every app is usable, 1 when any was left out.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from jupyter_core.application import JupyterApp
from traitlets import Bool

from .apps.config import Problem, ServerProxy, load_specs
from .apps.specs import ServerSpec


def describe(spec: ServerSpec) -> list[str]:
    entry = spec.launcher_entry
    icon = entry.icon_path or "(default)"
    lines = [
        f"{spec.name}    [{spec.source}]",
        f"  launcher: {'enabled' if entry.enabled else 'disabled'}, title {entry.title!r}, "
        f"path {entry.path_info}, category {entry.category!r}, icon {icon}",
    ]
    command = spec.command
    if callable(command):
        lines.append(f"  command: computed by {getattr(command, '__qualname__', command)!r}")
    elif command:
        lines.append(f"  command: {' '.join(command)}")
    else:
        lines.append("  command: (none: proxies to a running port or socket)")
    if spec.unix_socket is True:
        where = "a private unix socket"
    elif isinstance(spec.unix_socket, str):
        where = f"unix socket {spec.unix_socket}"
    else:
        where = f"port {spec.port}" if spec.port else "a free port"
    if spec.tls is not None:
        where += " over TLS" + ("" if spec.tls.verify else " (certificate not checked)")
    opens = "a new browser tab" if spec.new_browser_tab else "a JupyterLab tab"
    lines.append(f"  listens on: {where}; timeout {spec.timeout:g}s; opens in {opens}")
    idle = f"{spec.idle_timeout:g}s" if spec.idle_timeout > 0 else "none (0)"
    lines.append(f"  restart: {spec.restart}; idle_timeout: {idle}")
    if spec.instances:
        lines.append(f"  instances: {spec.name}@<instance>")
    if spec.parameters is not None:
        names = ", ".join(p.name for p in spec.parameters.parameters) or "(none)"
        lines.append(f"  parameters: {names}")
    return lines


def report(specs: dict[str, ServerSpec], problems: list[Problem]) -> str:
    out: list[str] = []
    if not specs:
        out.append("No apps configured (c.ServerProxy.servers) or installed as plugins.")
    for spec in specs.values():
        out.extend(describe(spec))
    if problems:
        out.append("")
        out.append("Problems:")
        out.extend(f"  {p.app}: {p}" for p in problems)
    return "\n".join(out)


def leave_out_route_clashes(specs: dict[str, ServerSpec]) -> list[Problem]:
    """As the server does: an app named after one of Jupyter's routes is left out."""
    from .web.routes import known_route_owners, route_clash

    owners = known_route_owners()
    problems = []
    for name, spec in list(specs.items()):
        clash = route_clash(name, "/", owners)
        if clash is not None:
            del specs[name]
            problems.append(Problem(name, spec.source, f"app {name!r}: {clash}"))
    return problems


class ListApp(JupyterApp):
    name = "jupyter-server-proxy-list"
    description = __doc__
    config_file_name = "jupyter_server_config"
    classes = [ServerProxy]
    quiet = Bool(False, help="Print nothing; only set the exit status.").tag(config=True)
    flags = {
        **JupyterApp.flags,
        "quiet": ({"ListApp": {"quiet": True}}, "Print nothing; only set the exit status."),
    }

    def start(self) -> None:
        # Problems are printed below; don't log them a second time.
        silent = logging.getLogger("jupyter_server_proxy.cli")
        silent.disabled = True
        specs, problems = load_specs(ServerProxy(parent=self), silent)
        problems += leave_out_route_clashes(specs)
        if not self.quiet:
            print(report(specs, problems))
        left_out = [p for p in problems if "left out" in p.message]
        self.exit(1 if left_out else 0)


class ServerProxyApp(JupyterApp):
    name = "jupyter-server-proxy"
    description = (
        "Tools for jupyter-server-proxy, which starts web apps beside a Jupyter server and "
        "proxies authenticated traffic to them. Run `jupyter server-proxy list` to see the apps "
        "a server would offer."
    )
    subcommands = {
        "list": (
            ListApp,
            "List every app the server would offer, where each came from (config or plugin), "
            "and why any was left out.",
        )
    }

    def start(self) -> None:
        if self.subapp is None:
            print("usage: jupyter server-proxy list [--help]")
            self.exit(2)
        super().start()


def main(argv: list[str] | None = None) -> Any:
    return ServerProxyApp.launch_instance(argv=argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()

"""Sphinx directives that write the reference pages from the code itself, so they cannot drift:

- ``jsp-traits``: every configurable trait of a traitlets class (name, type, default, help);
- ``jsp-spec-keys``: every key of an app's spec, from the spec validator's own table
  (``ServerSpec``'s fields and their ``help`` metadata, limited to ``KNOWN_KEYS``);
- ``jsp-cli``: a traitlets command line's description, options and flags;
- ``jsp-openapi``: the endpoints of the OpenAPI document kept in the repo.

Each directive builds MyST Markdown (definition lists) and parses it in place. A key or trait
without help text is an error, so that ``sphinx-build -W`` fails rather than publish an
undocumented setting.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import textwrap
from pathlib import Path
from typing import Any

import yaml
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective


def _load(dotted: str) -> Any:
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _help(text: str) -> str:
    return textwrap.dedent(" ".join(line.strip() for line in text.strip().splitlines()))


def config_traits(cls: Any) -> list[tuple[str, Any]]:
    """A traitlets class's configurable traits, in the order they are defined."""
    own = cls.class_traits(config=True)
    order = {name: i for i, name in enumerate(vars(cls))}
    return sorted(own.items(), key=lambda item: order.get(item[0], len(order)))


def spec_keys() -> list[tuple[str, dataclasses.Field[Any]]]:
    """The documented spec keys: ``KNOWN_KEYS``, each with its ``ServerSpec`` field."""
    from jupyter_server_proxy.apps.specs import KNOWN_KEYS, ServerSpec

    fields = {f.name: f for f in dataclasses.fields(ServerSpec)}
    missing = sorted(KNOWN_KEYS - fields.keys())
    if missing:
        raise ExtensionError(f"spec keys without a ServerSpec field: {missing}")
    return [(name, f) for name, f in fields.items() if name in KNOWN_KEYS]


def launcher_keys() -> list[tuple[str, dataclasses.Field[Any]]]:
    from jupyter_server_proxy.apps.specs import LauncherEntry

    return [(f.name, f) for f in dataclasses.fields(LauncherEntry)]


class _Directive(SphinxDirective):
    def render(self, lines: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), 0, container)
        return container.children


def type_name(trait: Any) -> str:
    """A trait's type in plain words (``list or callable``)."""
    from traitlets import Union

    if isinstance(trait, Union):
        return " or ".join(type_name(t) for t in trait.trait_types)
    names = {"Unicode": "str", "Integer": "int", "CBool": "bool", "CallableTrait": "callable"}
    name = type(trait).__name__
    return names.get(name, name.lower())


def _entry(term: str, head: str, text: str) -> list[str]:
    """One MyST definition-list entry."""
    return [term, f": {head}", "", *(f"  {line}" for line in textwrap.wrap(text, 90)), ""]


class TraitsDirective(_Directive):
    """``jsp-traits package.module.Class`` (``:prefix:`` defaults to ``c.<Class>.``)."""

    required_arguments = 1
    option_spec = {"prefix": str}

    def run(self) -> list[nodes.Node]:
        cls = _load(self.arguments[0])
        prefix = self.options.get("prefix", f"c.{cls.__name__}.")
        instance = cls()  # defaults computed by ``@default`` methods need an instance
        lines: list[str] = []
        for name, trait in config_traits(cls):
            if not trait.help:
                raise ExtensionError(f"{cls.__name__}.{name} has no help text")
            default = instance.trait_defaults(name)
            head = f"*{type_name(trait)}*, default `{default!r}`"
            lines += _entry(f"`{prefix}{name}`", head, _help(trait.help))
        return self.render(lines)


def _field_lines(name: str, f: dataclasses.Field[Any]) -> list[str]:
    help_text = f.metadata.get("help")
    if not help_text:
        raise ExtensionError(f"spec key {name!r} has no help text in its ServerSpec field")
    kind = f.metadata.get("type", "")
    since = f.metadata.get("since")
    default = f.metadata.get("default")
    if default is None:
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
    head = f"*{kind}*" if kind else ""
    if default is not None:
        head += f"{', ' if head else ''}default `{default}`"
    if since:
        head += f"{', ' if head else ''}new in {since}"
    return _entry(f"`{name}`", head, _help(help_text))


class SpecKeysDirective(_Directive):
    """``jsp-spec-keys``: every key of an app's spec, ``launcher_entry``'s keys below it."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for name, f in spec_keys():
            lines += _field_lines(name, f)
            if name == "launcher_entry":
                for sub, sf in launcher_keys():
                    lines += _field_lines(f"launcher_entry.{sub}", sf)
        return self.render(lines)


class CliDirective(_Directive):
    """``jsp-cli package.module.App``: the command's description, options and flags."""

    required_arguments = 1
    option_spec = {"command": str}

    def run(self) -> list[nodes.Node]:
        app = _load(self.arguments[0])
        command = self.options.get("command", app.name)
        lines = ["```text", *inspect.cleandoc(app.description or "").splitlines(), "```", ""]
        own = {k: v for k, v in app.aliases.items() if k not in _base_aliases()}
        for alias, target in sorted(own.items()):
            trait_name = target.rsplit(".", 1)[1]
            trait = app.class_traits()[trait_name]
            names = alias if isinstance(alias, str) else alias[-1]
            lines += _entry(
                f"`{command} --{names}=<{type_name(trait)}>`",
                f"Sets `{target}`.",
                _help(trait.help),
            )
        own_flags = {k: v for k, v in app.flags.items() if k not in _base_flags()}
        for flag, (_, text) in sorted(own_flags.items()):
            lines += _entry(f"`{command} --{flag}`", _help(text), "")
        # On a class that does not set it, ``subcommands`` is traitlets' descriptor, not a dict.
        subcommands = getattr(app, "subcommands", None)
        if not isinstance(subcommands, dict):
            subcommands = {}
        for sub, (_, text) in sorted(subcommands.items()):
            lines += _entry(f"`{command} {sub}`", _help(text), "")
        return self.render(lines)


def _base_aliases() -> dict[Any, Any]:
    from jupyter_core.application import JupyterApp

    return dict(JupyterApp.aliases)


def _base_flags() -> dict[Any, Any]:
    from jupyter_core.application import JupyterApp

    return dict(JupyterApp.flags)


def openapi_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation of an OpenAPI document."""
    out = []
    for path, item in document["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                out.append((method.upper(), path, item[method]))
    return out


class OpenApiDirective(_Directive):
    """``jsp-openapi openapi.yaml`` (relative to this page)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        here = Path(self.env.doc2path(self.env.docname)).parent
        path = here / self.arguments[0]
        self.env.note_dependency(str(path))
        document = yaml.safe_load(path.read_text())
        lines: list[str] = []
        for method, route, op in openapi_operations(document):
            codes = "Answers: " + ", ".join(
                f"{code} ({_description(document, resp)})" for code, resp in op["responses"].items()
            )
            lines += _entry(f"`{method} <base_url>server-proxy{route}`", op["summary"], codes)
        return self.render(lines)


def _description(document: dict[str, Any], resp: dict[str, Any]) -> str:
    if "$ref" in resp:  # a shared response of ``components``
        resp = document["components"]["responses"][resp["$ref"].rsplit("/", 1)[-1]]
    return str(resp["description"]).rstrip(".")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("jsp-traits", TraitsDirective)
    app.add_directive("jsp-spec-keys", SpecKeysDirective)
    app.add_directive("jsp-cli", CliDirective)
    app.add_directive("jsp-openapi", OpenApiDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Which app a supervised app belongs to, which of its instances it is, and the launch
parameters it starts with: the part of ``ManagedApp`` that instances add.

Rule: an instance runs a copy of its app's spec named by its addressable name,
``<name>@<instance>`` (``core/instancenames.py``), which its logs, errors and API entry show;
the app and the instance are read back from that name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ..core.instancenames import join_name, split_name
from ..core.parameters import Value
from .specs import ServerSpec


def instance_spec(spec: ServerSpec, instance: str) -> ServerSpec:
    """The spec the instance ``instance`` of the app ``spec`` runs."""
    return dataclasses.replace(spec, name=join_name(spec.name, instance))


class Identity:
    """A ``ManagedApp``'s app, instance and launch parameters."""

    spec: ServerSpec
    #: The launch parameters the next start uses; None: not known yet (``AppManager`` sets
    #: them before it starts the app, from what a client gave or the defaults).
    parameters: dict[str, Value] | None = None
    #: Those the last start used (empty before any start); replaced, never changed in place.
    _ran_with: Mapping[str, Value] = MappingProxyType({})

    @property
    def app_name(self) -> str:
        return split_name(self.spec.name)[0]

    @property
    def instance(self) -> str | None:
        """The instance's name; None for the app's default instance."""
        return split_name(self.spec.name)[1]

    def _launch_values(self) -> Mapping[str, Value]:
        """The values a start that begins now uses, kept as those it ran with."""
        self._ran_with = MappingProxyType(dict(self.parameters or {}))
        return self._ran_with

    def identity(self) -> dict[str, Any]:
        """The fields an API entry has beside ``info()``'s: ``app``, ``instance``,
        ``parameters``."""
        return {
            "app": self.app_name,
            "instance": self.instance,
            "parameters": dict(self._ran_with),
        }

"""Starting one run of an app: where it listens, its command and environment, and the spawn.

Rules:
1. Where an app listens: the spec's fixed port or socket path, a free loopback port we pick, or
   (``unix_socket: True``) a socket in a private directory (mode 0700) that the caller removes
   when the run ends (``remove_socket_dir``).
2. Templates (``{port}``, ``{unix_socket}``, ``{base_url}``, ``{public_url}``) and callables in
   ``command`` and ``environment`` are filled in for each run, and so are the run's launch
   parameters (``core/parameters.py``), as text: a value is one argv item or environment value
   whatever characters it holds, since nothing runs through a shell. Templates are filled in
   once: what a callable that asks for a launch parameter returns is used as it is, since
   filling templates in it would read the braces of a value given through the API as a
   template (``{port}``, ``{``). A hook that fails, or a command that ends up empty, is an
   ``AppFailed`` that says so.
5. The app is told where the browser reaches it (``core/publicurl.py``): its public path in
   ``JUPYTER_SERVER_PROXY_PREFIX``, and its full URL in ``JUPYTER_SERVER_PROXY_URL`` when the
   public origin is known; ``{public_url}`` is that URL, else the path. Its own ``environment``
   may set either variable otherwise.
3. The child gets its own session and process group (what a stop signals where there is no
   ``/proc``), and a fresh mark in its environment that every descendant inherits: how
   ``proctree`` finds daemons again.
4. A TCP app on a port we picked that fails because the port was taken (another process got
   it between our pick and its bind) is retried on another port, ``PORT_RETRIES`` times.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import tempfile
from collections.abc import Mapping
from typing import Any

from ..core.errors import AppFailed
from ..core.hooks import HookFailed, asked_args, call_hook, resolve
from ..core.parameters import Value, template_values
from ..core.publicurl import PREFIX_VAR, URL_VAR, PublicLocation
from ..core.routing import Target
from ..core.tls import TlsSettings
from .proctree import MARK_VAR, ProcessTree, new_mark, now_ticks
from .specs import ServerSpec

#: How many times a TCP app started on a port we picked is retried if that port was taken.
PORT_RETRIES = 2
_PORT_TAKEN = ("address already in use", "eaddrinuse", "port is already")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_tls(spec: ServerSpec) -> TlsSettings | None:
    """An app's TLS settings; the name checked is ``localhost`` unless the spec names another:
    an app is reached on 127.0.0.1 or a unix socket, and a certificate for a local app names
    ``localhost`` far more often than an address."""
    if spec.tls is None or spec.tls.server_hostname:
        return spec.tls
    return dataclasses.replace(spec.tls, server_hostname="localhost")


def fixed_target(spec: ServerSpec) -> Target:
    """Where an app without a command listens: the peer's "proxy to a fixed port/socket" form."""
    sock = spec.unix_socket
    if isinstance(sock, str):
        return Target(host="localhost", unix_socket=sock, tls=app_tls(spec))
    return Target(host="127.0.0.1", port=spec.port or None, tls=app_tls(spec))


def picks_its_port(spec: ServerSpec) -> bool:
    """Whether each run gets a port we pick (so a taken one can be traded for another)."""
    return not spec.unix_socket and not spec.port


def port_was_taken(log_tail: list[str]) -> bool:
    """Whether an app's last lines say that its port was taken."""
    tail = " ".join(log_tail).lower()
    return any(marker in tail for marker in _PORT_TAKEN)


def new_target(spec: ServerSpec) -> tuple[Target, str | None]:
    """Where the next run listens, and the private socket directory made for it, if any."""
    sock = spec.unix_socket
    if sock is True:
        socket_dir = tempfile.mkdtemp(prefix=f"jupyter-server-proxy-{spec.name}-")
        os.chmod(socket_dir, 0o700)
        path = os.path.join(socket_dir, "socket")
        return Target(host="localhost", unix_socket=path, tls=app_tls(spec)), socket_dir
    if isinstance(sock, str) and sock:
        return Target(host="localhost", unix_socket=sock, tls=app_tls(spec)), None
    return Target(host="127.0.0.1", port=spec.port or free_port(), tls=app_tls(spec)), None


def remove_socket_dir(socket_dir: str | None) -> None:
    if socket_dir is not None:
        shutil.rmtree(socket_dir, ignore_errors=True)


def command_and_environment(
    spec: ServerSpec,
    target: Target,
    base_url: str,
    public: PublicLocation | None = None,
    parameters: Mapping[str, Value] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The run's command line and extra environment, templates and callables filled in.
    ``public`` is where the browser reaches the app; by default ``<base_url><name>/``.
    ``parameters``: the run's checked launch parameters, which callables get by name too."""
    public = public or PublicLocation(base_url.rstrip("/") + "/").under(spec.name + "/")
    # The proxy's own templates last: no parameter can shadow them (the schema check refuses
    # their names too).
    values: dict[str, Any] = {
        **template_values(parameters or {}),
        "port": target.port if target.port is not None else "",
        "unix_socket": target.unix_socket or "",
        "base_url": base_url,
        "public_url": public.best,
    }
    owner = f"app {spec.name!r}"
    try:
        raw = spec.command
        names = {p.name for p in spec.parameters.parameters} if spec.parameters else set()
        command = [
            str(c)
            for c in _resolve(
                raw if callable(raw) else list(raw), values, names, owner=owner, key="command"
            )
        ]
        env_extra = _resolve(spec.environment, values, names, owner=owner, key="environment")
    except HookFailed as e:  # a template or callable in the user's spec
        raise AppFailed(spec.name, e.reason) from e
    if not command or any(c is None for c in command):
        raise AppFailed(spec.name, "its command is empty after filling in templates")
    env = {PREFIX_VAR: public.path, **({URL_VAR: public.url} if public.url else {})}
    env.update({str(k): str(v) for k, v in dict(env_extra or {}).items()})
    return command, env


def _resolve(
    field: Any, values: Mapping[str, Any], parameters: set[str], *, owner: str, key: str
) -> Any:
    """``resolve``, but a callable that asks for one of the launch ``parameters`` (by name or
    through ``**kwargs``) has what it returns used as it is (rule 2)."""
    if callable(field):
        names, takes_all = asked_args(field)
        if takes_all or names & parameters:
            return call_hook(field, values, owner=owner, key=key)
    return resolve(field, values, owner=owner, key=key)


async def spawn(
    app: str, command: list[str], env_extra: dict[str, str]
) -> tuple[asyncio.subprocess.Process, ProcessTree]:
    """Start the run's process (stdout and stderr piped), and the tree that will hold it and
    every descendant."""
    env = dict(os.environ)
    env.update(env_extra)
    mark = new_mark()
    env[MARK_VAR] = mark  # every descendant inherits it: how daemons are found again
    since = now_ticks()
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            # Its own session and group: what a stop signals where there is no /proc.
            start_new_session=True,
        )
    except (OSError, ValueError) as e:
        # ValueError: what exec cannot be given (a NUL, text that does not encode, an
        # environment name with '=' that a template in a key made); never a server error.
        why = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise AppFailed(app, f"could not run {command[0]!r}: {why}", command=command) from e
    return proc, ProcessTree(proc.pid, mark, since)

"""AppManager's instances and launch parameters, with real child processes: instances made on
first start and kept, each its own process; parameters checked before anything is made or
started; the limit; and nothing left running."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.request
from typing import Any

import pytest

from jupyter_server_proxy.apps import manager as manager_module
from jupyter_server_proxy.apps.manager import AppManager, TooManyInstances, instance_location
from jupyter_server_proxy.apps.state import AppState
from jupyter_server_proxy.apps.validation import validate_spec
from jupyter_server_proxy.core.instancenames import NoSuchApp, split_name
from jupyter_server_proxy.core.parameters import BadParameter, ParametersInUse
from jupyter_server_proxy.core.publicurl import PublicLocation
from jupyter_server_proxy.transport.pool import Upstream
from tests.conftest import HERE, alive

ARGV = str(HERE / "backends" / "argv.py")
LOG = logging.getLogger("test")
SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "default": "plain"},
        "workers": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
    },
}


def manager() -> AppManager:
    raws: dict[str, dict[str, Any]] = {
        "tb": {
            "command": [sys.executable, ARGV, "{port}", "{label}", "--workers={workers}"],
            "environment": {"JSP_LABEL": "{label}"},
            "timeout": 20,
            "instances": True,
            "parameters": SCHEMA,
        },
        "single": {"command": [sys.executable, ARGV, "{port}"], "timeout": 20},
        "needs": {
            "command": [sys.executable, ARGV, "{port}", "{logdir}"],
            "timeout": 20,
            "parameters": {
                "type": "object",
                "properties": {"logdir": {"type": "string"}},
                "required": ["logdir"],
            },
        },
    }
    specs = {name: validate_spec(name, raw)[0] for name, raw in raws.items()}
    return AppManager(specs, base_url="/user/a/", log=LOG, upstream=Upstream(), stop_grace=2)


def fetch(port: int | None) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as r:
        return dict(json.loads(r.read()))


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("nope", "no app named 'nope'"),
        ("nope@x", "no app named 'nope'"),
        ("single@x", "has no instances"),
        ("tb@", "names no app"),
        ("tb@has space", "names no app"),
        ("tb@" + "x" * 33, "names no app"),
    ],
)
def test_names_that_name_nothing(name: str, says: str) -> None:
    """An unknown app, an instance of an app without ``instances``, a bad instance name."""
    m = manager()
    with pytest.raises(NoSuchApp, match=says):
        m.to_start(name)
    assert m.entries() == [m.apps["tb"], m.apps["single"], m.apps["needs"]]


def test_split_name() -> None:
    assert split_name("tb") == ("tb", None)
    assert split_name("tb@exp-1_A") == ("tb", "exp-1_A")


def test_instance_location() -> None:
    """An instance's public place is its app's with ``@<instance>`` on the last segment."""
    at = instance_location(PublicLocation("/user/a/tb/", "https://h/user/a/tb/"), "x")
    assert at == PublicLocation("/user/a/tb@x/", "https://h/user/a/tb@x/")
    assert instance_location(PublicLocation("/tb/"), "x") == PublicLocation("/tb@x/")


def test_two_instances_run_at_once_with_their_own_parameters() -> None:
    """Each instance is its own process with its own values in argv and environment, and
    its own public path; stopping one leaves the other; stop_all stops every one."""
    m = manager()

    async def go() -> None:
        one = m.to_start("tb@one", {"label": "first; echo $(id) `x` > /tmp/y"})
        two = m.to_start("tb@two", {"label": "second", "workers": 5})
        t1, t2 = await asyncio.gather(one.ensure_ready(), two.ensure_ready())
        assert one.pid != two.pid and t1.port != t2.port
        a, b = await asyncio.gather(
            asyncio.to_thread(fetch, t1.port), asyncio.to_thread(fetch, t2.port)
        )
        # One argv item each, byte for byte: no shell saw them.
        assert a["argv"] == ["first; echo $(id) `x` > /tmp/y", "--workers=2"]
        assert b["argv"] == ["second", "--workers=5"]
        assert a["env"]["JSP_LABEL"] == "first; echo $(id) `x` > /tmp/y"
        assert a["env"]["JUPYTER_SERVER_PROXY_PREFIX"] == "/user/a/tb@one/"
        assert one.info()["name"] == "tb@one" and one.identity()["app"] == "tb"
        assert one.identity()["instance"] == "one"
        assert two.identity()["parameters"] == {"label": "second", "workers": 5}
        assert [e.spec.name for e in m.entries()][:3] == ["tb", "tb@one", "tb@two"]
        pid_two = two.pid
        assert pid_two is not None
        await one.stop()
        assert one.state is AppState.STOPPED and two.state is AppState.RUNNING
        assert alive(pid_two) and m.get("tb@one") is one  # kept, with its state
        await m.stop_all()
        assert not alive(pid_two) and two.state is AppState.STOPPED

    asyncio.run(go())


def test_a_bad_parameter_makes_and_starts_nothing() -> None:
    m = manager()
    with pytest.raises(BadParameter, match="parameter 'workers'"):
        m.to_start("tb@x", {"workers": 99})
    with pytest.raises(KeyError):
        m.get("tb@x")
    with pytest.raises(BadParameter, match="parameter 'logdir' is required"):
        m.to_start("needs")  # a start by a request: the defaults, and there is none
    assert m.apps["needs"].state is AppState.STOPPED and m.apps["needs"].parameters is None


def test_other_values_for_a_running_instance_are_refused_until_restart() -> None:
    """Rule 2: no body keeps the values it ran with; other values need a restart."""
    m = manager()

    async def go() -> None:
        app = m.to_start("tb@x", {"label": "a"})
        await app.ensure_ready()
        assert m.to_start("tb@x") is app and app.parameters == {"label": "a", "workers": 2}
        assert m.to_start("tb@x", {"label": "a"}) is app
        with pytest.raises(ParametersInUse, match="restart it"):
            m.to_start("tb@x", {"label": "b"})
        m.to_start("tb@x", {"label": "b"}, restart=True)
        await app.restart()
        assert app.identity()["parameters"] == {"label": "b", "workers": 2}
        await m.stop_all()

    asyncio.run(go())


def test_the_number_of_instances_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``MAX_INSTANCES`` a new instance is refused, naming the limit; the default
    instance does not count, and the kept ones can still be started."""
    monkeypatch.setattr(manager_module, "MAX_INSTANCES", 2)
    m = manager()
    m.to_start("tb@a")
    m.to_start("tb@b")
    m.to_start("tb")
    with pytest.raises(TooManyInstances) as e:
        m.to_start("tb@c")
    assert e.value.status == 409 and "MAX_INSTANCES = 2" in e.value.message
    assert m.to_start("tb@a") is m.get("tb@a")

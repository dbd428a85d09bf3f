"""Loading specs from c.ServerProxy and from real entry points of installed distributions."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest
from traitlets import TraitError

from jupyter_server_proxy.apps.config import ENTRY_POINT_GROUP, ServerProxy, load_specs
from jupyter_server_proxy.web.extension import engine_settings


@pytest.fixture
def plugins(tmp_path: Path) -> Iterator[Path]:
    """A temporary sys.path entry on which tests create real distributions (dist-info with
    entry_points.txt), as pip would install them."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("fakeplugin")]:
        del sys.modules[name]


def make_dist(root: Path, dist: str, module: str, code: str, eps: dict[str, str]) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def ours(plugins_dir: Path) -> list[EntryPoint]:
    return [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.value.startswith("fakeplugin")]


def test_config_entries_are_validated_and_bad_ones_left_out() -> None:
    config = ServerProxy(servers={"good": {"command": ["x"]}, "bad": {"port": "80"}})
    specs, problems = load_specs(config, plugins=[])
    assert list(specs) == ["good"]
    assert len(problems) == 1 and problems[0].app == "bad" and "left out" in problems[0].message


def test_plugins_with_several_entry_points_and_failures(plugins: Path) -> None:
    """Each plugin is loaded once; one that fails to import, raises, or returns a bad spec is
    skipped with a message naming it; the others work."""
    make_dist(
        plugins,
        "fakeplugin-multi",
        "fakeplugin_multi",
        """
        CALLS = []
        SHARED = {"command": ["serve", "{port}"]}
        def one():
            CALLS.append("one")
            return SHARED
        def two():
            CALLS.append("two")
            return SHARED
        def boom():
            raise RuntimeError("no licence")
        def notadict():
            return ["x"]
        """,
        {
            "one": "fakeplugin_multi:one",
            "two": "fakeplugin_multi:two",
            "boom": "fakeplugin_multi:boom",
            "notadict": "fakeplugin_multi:notadict",
        },
    )
    make_dist(
        plugins,
        "fakeplugin-broken",
        "fakeplugin_broken",
        "import not_a_module_xyz\n",
        {"broken": "fakeplugin_broken:setup"},
    )
    specs, problems = load_specs(ServerProxy(), logging.getLogger("t"), plugins=ours(plugins))
    assert sorted(specs) == ["one", "two"]
    import fakeplugin_multi  # type: ignore[import-not-found]

    assert sorted(fakeplugin_multi.CALLS) == ["one", "two"]
    assert fakeplugin_multi.SHARED == {"command": ["serve", "{port}"]}
    by_app = {p.app: p for p in problems}
    assert "no licence" in by_app["boom"].message
    assert "notadict" in by_app and "expected" in by_app["notadict"].message
    assert "not_a_module_xyz" in by_app["broken"].message
    assert "fakeplugin-broken" in by_app["broken"].source
    assert specs["one"].source.startswith("plugin one = fakeplugin_multi:one")


def test_config_overrides_a_plugin_of_the_same_name(plugins: Path) -> None:
    make_dist(
        plugins,
        "fakeplugin-x",
        "fakeplugin_x",
        "def setup():\n    raise AssertionError('must not be called')\n",
        {"same": "fakeplugin_x:setup"},
    )
    config = ServerProxy(servers={"same": {"command": ["mine"]}})
    specs, problems = load_specs(config, plugins=ours(plugins))
    assert specs["same"].command == ("mine",) and specs["same"].source == "config"
    assert problems == []


def test_host_whitelist_is_a_deprecated_alias(caplog: pytest.LogCaptureFixture) -> None:
    """As 4.x: a Python warning (a UserWarning, shown by default), besides the log line."""
    with caplog.at_level(logging.WARNING), pytest.warns(UserWarning, match="host_allowlist"):
        config = ServerProxy(host_whitelist=["a.example"])
    assert config.host_allowlist == ["a.example"]
    assert "deprecated" in caplog.text


def test_host_whitelist_equal_to_host_allowlist_is_quiet() -> None:
    """As 4.x: a config that sets both names to the same value (to work with old and new
    versions) gets no warning."""
    config = ServerProxy(
        host_allowlist=["a.example"], host_whitelist=["a.example"]
    )  # filterwarnings=error: a warning would fail this test
    assert config.host_allowlist == ["a.example"]


def test_defaults() -> None:
    config = ServerProxy()
    assert config.host_allowlist == ["localhost", "127.0.0.1"]
    assert config.websocket_max_message_size >= 1 << 30


def test_relay_settings_reach_the_engine_with_todays_behaviour_by_default() -> None:
    """``websocket_relay_thread`` and ``loopback_congestion_control`` default to what the
    engine did before they were settings, and what is set reaches the engine."""
    default = engine_settings(ServerProxy())
    assert (default.websocket_relay_thread, default.loopback_congestion_control) == (True, "reno")
    off = engine_settings(ServerProxy(websocket_relay_thread=False, loopback_congestion_control=""))
    assert (off.websocket_relay_thread, off.loopback_congestion_control) == (False, "")


def test_a_congestion_control_the_kernel_refuses_is_a_config_error() -> None:
    """A name that cannot be used fails at startup, naming the setting, not silently per
    connection."""
    with pytest.raises(TraitError, match=r"ServerProxy\.loopback_congestion_control: .*toolong"):
        ServerProxy(loopback_congestion_control="toolong" * 3)

"""TLS settings for backends (``core/tls.py``): the ``tls`` value an app's spec and
``c.ServerProxy.upstream_tls`` take, checked when the config is read; which entry a
``/proxy/`` target gets; and a failed verification said in words."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from traitlets import TraitError

from jupyter_server_proxy.apps.config import ServerProxy, load_specs
from jupyter_server_proxy.apps.launch import app_tls, new_target
from jupyter_server_proxy.apps.validation import SpecError, validate_spec
from jupyter_server_proxy.core.tls import (
    BadTls,
    TlsSettings,
    parse_tls,
    parse_upstream_tls,
    tls_for,
    verify_reason,
)
from jupyter_server_proxy.web.extension import engine_settings
from tests.tlsca import TlsFiles, make_tls_files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


def test_true_false_and_dicts(files: TlsFiles) -> None:
    assert parse_tls(None) is None and parse_tls(False) is None
    assert parse_tls(True) == TlsSettings()
    full = {
        "verify": False,
        "ca_file": str(files.ca),
        "cert_file": str(files.client_cert),
        "key_file": str(files.client_key),
        "server_hostname": "app.example",
    }
    assert parse_tls(full) == TlsSettings(**full)
    assert parse_tls({}) == TlsSettings()


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("yes", "tls"),
        (1, "tls"),
        ({"verify": "no"}, "tls.verify"),
        ({"ca_file": 3}, "tls.ca_file"),
        ({"ca_file": ""}, "tls.ca_file"),
        ({"ca_file": "/nonexistent/ca.pem"}, "tls.ca_file"),
        ({"server_hostname": ["a"]}, "tls.server_hostname"),
        ({"cafile": "x"}, "tls.cafile"),
    ],
)
def test_bad_values_name_the_key(value: Any, where: str) -> None:
    with pytest.raises(BadTls) as caught:
        parse_tls(value)
    assert caught.value.where == where


def test_a_key_file_needs_a_cert_file(files: TlsFiles) -> None:
    with pytest.raises(BadTls, match="cert_file"):
        parse_tls({"key_file": str(files.client_key)})


def test_upstream_tls_keys_and_lookup() -> None:
    """``host:port`` wins over ``host``; hosts compare case-insensitively and IPv6 literals in
    any spelling; an entry set to False is no TLS."""
    table = parse_upstream_tls(
        {
            "Backend.Example": True,
            "backend.example:8443": {"verify": False},
            "[0::1]:9000": True,
            "10.0.0.5": False,
        }
    )
    assert tls_for(table, "backend.example", 80) == TlsSettings()
    assert tls_for(table, "BACKEND.example", 8443) == TlsSettings(verify=False)
    assert tls_for(table, "::1", 9000) == TlsSettings()
    assert tls_for(table, "::1", 9001) is None
    assert tls_for(table, "10.0.0.5", 80) is None
    assert tls_for({}, "localhost", 80) is None


@pytest.mark.parametrize(
    "bad",
    [["h"], {"": 1}, {"h": "yes"}, {"h": {"verify": 1}}, {"h:x": True}, {"h:0": True}, {":1": 1}],
)
def test_bad_upstream_tls_entries_are_refused(bad: Any) -> None:
    with pytest.raises(BadTls):
        parse_upstream_tls(bad)


def test_upstream_tls_config_is_checked_and_reaches_the_engine(files: TlsFiles) -> None:
    """A bad entry stops the server, naming it (leaving it out would send its traffic in the
    clear); a good table reaches the engine's settings."""
    with pytest.raises(TraitError, match=r"upstream_tls\['h:1'\]\.ca_file"):
        ServerProxy(upstream_tls={"h:1": {"ca_file": "/nonexistent"}})
    with pytest.raises(TraitError, match="does not load"):
        ServerProxy(upstream_tls={"h:1": {"ca_file": str(files.client_key)}})
    config = ServerProxy(upstream_tls={"h:1": {"ca_file": str(files.ca)}})
    settings = engine_settings(config)
    assert tls_for(settings.upstream_tls, "h", 1) == TlsSettings(ca_file=str(files.ca))


def test_a_bad_tls_key_leaves_the_app_out_naming_it(
    files: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(SpecError, match=r"app 'a': tls\.ca_file = '/nonexistent'"):
        validate_spec("a", {"tls": {"ca_file": "/nonexistent"}})
    with pytest.raises(SpecError, match=r"app 'a': tls = .* files that load"):
        validate_spec("a", {"tls": {"cert_file": str(files.ca)}})  # a certificate, no key
    servers = {"bad": {"port": 1, "tls": "yes"}, "good": {"port": 2, "tls": True}}
    with caplog.at_level(logging.ERROR, "jupyter_server_proxy"):
        specs, problems = load_specs(ServerProxy(servers=servers), plugins=[])
    assert list(specs) == ["good"]
    assert any("'bad'" in str(p) and "tls" in str(p) for p in problems)


def test_an_app_checks_the_name_localhost_by_default(files: TlsFiles) -> None:
    spec, _ = validate_spec("a", {"port": 8443, "tls": {"ca_file": str(files.ca)}})
    assert app_tls(spec) == TlsSettings(ca_file=str(files.ca), server_hostname="localhost")
    target, _ = new_target(spec)
    assert target.tls == app_tls(spec) and target.scheme == "https"
    named, _ = validate_spec("b", {"port": 8443, "tls": {"server_hostname": "app.example"}})
    assert app_tls(named) == TlsSettings(server_hostname="app.example")
    plain, _ = validate_spec("c", {"port": 8443})
    assert new_target(plain)[0].tls is None


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (10, "the certificate has expired"),
        (9, "not yet valid"),
        (18, "issuer is unknown"),
        (19, "issuer is unknown"),
        (20, "issuer is unknown"),
        (62, "name mismatch"),
        (64, "name mismatch"),
        (7, "not valid"),
    ],
)
def test_verify_reasons(code: int, words: str) -> None:
    assert words in verify_reason(code, "openssl says")
    assert verify_reason(code, "openssl says").endswith(": openssl says")

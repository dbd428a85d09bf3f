"""TLS to a backend: what a spec's ``tls`` key and ``c.ServerProxy.upstream_tls`` say, checked,
and why a backend's certificate did not verify, in words.

Rules:
- TLS to a backend is configuration, never the user's choice per request: a named app's ``tls``
  key, or for ``/proxy/<host>:<port>/`` the ``upstream_tls`` entry for ``host:port`` or, failing
  that, for ``host``. A URL cannot turn TLS on or off.
- ``True`` means TLS with the system's trusted CAs and the host name checked. A dict says more:
  ``verify`` (default True), ``ca_file`` (the CAs to trust instead), ``cert_file`` and
  ``key_file`` (a client certificate, for a backend that asks for one) and ``server_hostname``
  (the name to send and check, when it is not the host connected to: a unix socket, an app on
  127.0.0.1 with a certificate for its DNS name).
- A bad value is refused when the config is read, naming the key; named files must exist.
  (``transport/tls.py`` then loads them into a context, which checks their contents.)
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEYS = ("verify", "ca_file", "cert_file", "key_file", "server_hostname")
EXPECTED = (
    "True, False, or a dict with verify (bool), ca_file, cert_file, key_file and "
    "server_hostname (strings)"
)


class BadTls(ValueError):
    """A ``tls`` value that is not valid; ``where`` is the key inside it (``tls.ca_file``)."""

    def __init__(self, where: str, value: Any, expected: str) -> None:
        self.where, self.value, self.expected = where, value, expected
        super().__init__(f"{where} = {value!r:.200} is not valid: expected {expected}")


@dataclass(frozen=True)
class TlsSettings:
    """How to speak TLS to one backend (hashable: contexts and pools are keyed by it)."""

    verify: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_hostname: str | None = None


def parse_tls(value: Any, where: str = "tls") -> TlsSettings | None:
    """A ``tls`` value (True, False or None, or a dict) as settings; None: no TLS."""
    if value is None or value is False:
        return None
    if value is True:
        return TlsSettings()
    if not isinstance(value, Mapping):
        raise BadTls(where, value, EXPECTED)
    for key in value:
        if key not in _KEYS:
            raise BadTls(f"{where}.{key}", value[key], f"no such key: one of {', '.join(_KEYS)}")
    verify = value.get("verify", True)
    if not isinstance(verify, bool):
        raise BadTls(f"{where}.verify", verify, "True or False")
    texts: dict[str, str | None] = {}
    for key in _KEYS[1:]:
        text = value.get(key)
        if text is not None and (not isinstance(text, str) or not text):
            raise BadTls(f"{where}.{key}", text, "a non-empty string")
        if text is not None and key.endswith("_file") and not os.path.isfile(text):
            raise BadTls(f"{where}.{key}", text, "the path of an existing file")
        texts[key] = text
    if texts["key_file"] and not texts["cert_file"]:
        raise BadTls(f"{where}.key_file", texts["key_file"], "a cert_file beside it")
    return TlsSettings(verify=verify, **texts)


def parse_upstream_tls(table: Any) -> dict[str, TlsSettings]:
    """``c.ServerProxy.upstream_tls``: ``{"host" or "host:port": tls value}``, keys as
    ``tls_for`` looks them up (host lower-cased, IPv6 without brackets). Entries set to
    False are dropped: no TLS is the default."""
    if not isinstance(table, Mapping):
        raise BadTls("upstream_tls", table, 'a dict of {"host" or "host:port": tls value}')
    parsed: dict[str, TlsSettings] = {}
    for key, value in table.items():
        if not isinstance(key, str) or not key:
            raise BadTls("upstream_tls", key, 'a key "host" or "host:port"')
        settings = parse_tls(value, f"upstream_tls[{key!r}]")
        if settings is not None:
            parsed[_table_key(key)] = settings
    return parsed


def _table_key(key: str) -> str:
    host, port = _split(key)
    if port is None:
        return host
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536) or not host:
        raise BadTls("upstream_tls", key, 'a key "host" or "host:port" (port 1-65535)')
    return f"{host}:{int(port)}"


def _split(key: str) -> tuple[str, str | None]:
    """``host`` and ``port`` of an ``upstream_tls`` key (``[::1]:8443``, ``::1``, ``h:1``)."""
    if key.startswith("["):
        host, _, rest = key[1:].partition("]")
        return host_key(host), rest[1:] if rest.startswith(":") else None
    if key.count(":") == 1:
        host, port = key.split(":")
        return host_key(host), port
    return host_key(key), None


def host_key(host: str) -> str:
    """A host as ``upstream_tls`` keys and lookups compare it: lower-cased, an IPv6 literal
    without brackets and in canonical form (as ``routing.parse_host`` gives a valid host)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return bare.lower()


def tls_for(table: Mapping[str, TlsSettings], host: str, port: int) -> TlsSettings | None:
    """The TLS settings for ``host:port`` from a parsed ``upstream_tls`` table, if any."""
    if not table:
        return None
    name = host_key(host)
    return table.get(f"{name}:{port}") or table.get(name)


#: OpenSSL's verification results (``X509_V_ERR_*``), grouped by what a user must fix.
_EXPIRED = {10: "the certificate has expired", 9: "the certificate is not yet valid"}
_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}  # unknown issuer, self-signed (alone or in the chain)
_NAME_MISMATCH = {62, 64}  # host name, IP address


def verify_reason(code: int, message: str) -> str:
    """Why a backend's certificate did not verify, from OpenSSL's ``verify_code`` and
    ``verify_message`` (``ssl.SSLCertVerificationError``): a cause a user can act on, with
    OpenSSL's own words after it."""
    if code in _EXPIRED:
        cause = _EXPIRED[code]
    elif code in _UNKNOWN_ISSUER:
        cause = "its issuer is unknown (self-signed, or signed by a CA that is not trusted)"
    elif code in _NAME_MISMATCH:
        cause = "it does not name the host (name mismatch)"
    else:
        cause = "it is not valid"
    return f"{cause}: {message}" if message else cause

"""A test CA and certificates made in the test (``trustme``), written to files as the proxy's
``tls`` settings and the backends' ``--tls-cert`` take them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    """PEM files in one directory: the CA to trust, a good server certificate for ``localhost``
    and 127.0.0.1, one that has expired, one for another name, one from an unknown CA, and a
    client certificate (with its key) from the same CA."""

    ca: Path
    server: Path
    expired: Path
    wrong_name: Path
    unknown_issuer: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    ca = trustme.CA()
    stranger = trustme.CA()
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    certs = {
        "server": ca.issue_cert("localhost", "127.0.0.1", "::1"),
        "expired": ca.issue_cert(
            "localhost", "127.0.0.1", not_before=past - datetime.timedelta(days=30), not_after=past
        ),
        "wrong_name": ca.issue_cert("elsewhere.example"),
        "unknown_issuer": stranger.issue_cert("localhost", "127.0.0.1"),
        "client": ca.issue_cert("jupyter-server-proxy"),
    }
    directory.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    for name, cert in certs.items():
        cert.private_key_and_cert_chain_pem.write_to_path(str(directory / f"{name}.pem"))
    client = certs["client"]
    client.cert_chain_pems[0].write_to_path(str(directory / "client-cert.pem"))
    client.private_key_pem.write_to_path(str(directory / "client-key.pem"))
    return TlsFiles(
        ca=directory / "ca.pem",
        server=directory / "server.pem",
        expired=directory / "expired.pem",
        wrong_name=directory / "wrong_name.pem",
        unknown_issuer=directory / "unknown_issuer.pem",
        client_cert=directory / "client-cert.pem",
        client_key=directory / "client-key.pem",
    )

"""TLS to a backend: the client context for a backend's ``TlsSettings``, and TLS failures turned
into our errors, naming the reason.

Rules:
- One ``ssl.SSLContext`` per distinct settings, made once and kept: making one loads and
  parses its CA and certificate files (the system's store holds over a hundred certificates),
  which per connection would cost more than the handshake. So files replaced on disk (a renewed
  client certificate) are read again on a server restart.
- ``verify`` (the default) checks the chain against ``ca_file`` or the system's CAs and the
  name against ``server_hostname`` or the host connected to; ``verify: False`` checks neither.
- A certificate that does not verify is a 502 whose message says why (expired, unknown issuer,
  name mismatch: ``core.tls.verify_reason``); any other TLS failure is a 502 with OpenSSL's
  reason (a backend that speaks no TLS, one that wants a client certificate we did not send).
"""

from __future__ import annotations

import functools
import ssl

from ..core.errors import CertificateRefused, UpstreamUnavailable
from ..core.routing import Target
from ..core.tls import TlsSettings, verify_reason


@functools.lru_cache(maxsize=64)
def client_context(settings: TlsSettings) -> ssl.SSLContext:
    """The context for connections with ``settings``; raises ``ssl.SSLError`` or ``OSError``
    for files that cannot be loaded (the config check calls this to report them early)."""
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    # HTTP/1.1 only: our client speaks nothing else (RFC 7301 lets a server that has no h2 pick it).
    context.set_alpn_protocols(["http/1.1"])
    return context


def server_hostname(target: Target) -> str:
    """The name sent in SNI and checked against the certificate."""
    assert target.tls is not None
    return target.tls.server_hostname or target.host


def tls_failure(where: str, error: ssl.SSLError) -> UpstreamUnavailable:
    """A TLS failure with ``where`` (the backend, as messages name it) as our 502."""
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = verify_reason(error.verify_code, error.verify_message)
        return CertificateRefused(
            f"the TLS certificate of {where} did not verify: {reason}",
            details=(_VERIFY_HINT,),
        )
    # OpenSSL's reason is a constant's name (TLSV13_ALERT_CERTIFICATE_REQUIRED): said in words.
    reason = error.reason.lower().replace("_", " ") if error.reason else str(error)
    return UpstreamUnavailable(f"TLS with {where} failed: {reason}")


#: For a TLS connection that ends before any answer: with TLS 1.3 a server decides on a client
#: certificate after our handshake is done, and its alert is often lost to the reset that
#: follows (our request crossed its close).
TLS_CLOSE_HINT = (
    "The connection was TLS: a backend that requires a client certificate ends it so when it "
    "gets none that it trusts (the tls settings' cert_file and key_file)."
)
_VERIFY_HINT = (
    "Its tls settings (the app's tls key, or c.ServerProxy.upstream_tls) say which CAs to trust "
    "(ca_file) and which name to check (server_hostname)."
)

"""Client certificates as attestations (mTLS, RFC 8705): what a certificate names, and who holds a bound token.

With ``BROKER_TLS_CLIENT_CA_FILE`` the TLS layer has verified a client's certificate
(chain to that CA, validity window) before any RPC runs; here it only names an identity:

- its SPIFFE ID, when it is an X509-SVID (exactly one URI SAN, ``spiffe://...``);
- otherwise its subject as an RFC 4514 string (``CN=payments,O=Example``).

An identity binds to that name with ``Binding(issuer="x509", subject=<name>)``; exactly one
enabled identity must be bound. A token minted for a certificate carries its thumbprint
(``cnf.x5t#S256``, base64url SHA-256 of the DER certificate), and from then on the token
counts at the broker only on a connection presenting that same certificate.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .attestation import IdentityLookup, bad_attestation
from .external import BindingIndex, bound_identity
from .identities import X509_BINDING, Identity
from .jws import b64encode
from .tokens import invalid

#: subject_token_type of an exchange whose proof is the TLS connection's client certificate.
TOKEN_TYPE_CLIENT_CERTIFICATE = "urn:broker:token-type:client-certificate"
#: The confirmation member (RFC 8705 section 3.1) holding a certificate's thumbprint.
X5T_S256 = "x5t#S256"


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A verified client certificate: the name bindings match and its thumbprint."""

    thumbprint: str
    #: What bindings match; empty when the certificate names nothing usable (``why_unnamed`` says why).
    name: str
    why_unnamed: str = ""

    @classmethod
    def from_pem(cls, pem: bytes) -> ClientCertificate:
        """Parse the certificate the TLS layer verified."""
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise bad_attestation("client certificate does not parse") from None
        thumbprint = b64encode(hashlib.sha256(cert.public_bytes(Encoding.DER)).digest())
        try:
            return cls(thumbprint, certificate_name(cert))
        except ValueError as exc:
            return cls(thumbprint, "", why_unnamed=str(exc))


def certificate_name(cert: x509.Certificate) -> str:
    """The SPIFFE ID of an X509-SVID, else the subject DN (RFC 4514); ValueError if neither."""
    try:
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier
        )
    except x509.ExtensionNotFound:
        uris = []
    spiffe = [uri for uri in uris if uri.startswith("spiffe://")]
    if spiffe:
        if len(uris) != 1:
            raise ValueError("an X509-SVID has exactly one URI SAN")
        return spiffe[0]
    subject = cert.subject.rfc4514_string()
    if not subject:
        raise ValueError("client certificate has neither a SPIFFE ID nor a subject")
    return subject


def bound_thumbprint(claims: Mapping[str, Any]) -> str | None:
    """The certificate thumbprint a token is bound to, if it is."""
    cnf = claims.get("cnf")
    value = cnf.get(X5T_S256) if isinstance(cnf, dict) else None
    return value if isinstance(value, str) else None


def check_holder(claims: Mapping[str, Any], presented: ClientCertificate | None) -> None:
    """A certificate-bound token counts only on a connection presenting that certificate."""
    expected = bound_thumbprint(claims)
    if expected is None:
        return
    if presented is None or not hmac.compare_digest(expected, presented.thumbprint):
        raise invalid("token is bound to a client certificate this connection does not present")


class CertificateVerifier:
    """Finds the identity an x509 binding ties to a client certificate."""

    def __init__(self, bindings: BindingIndex, lookup: IdentityLookup) -> None:
        self._bindings = bindings
        self._lookup = lookup

    def verify(self, certificate: ClientCertificate) -> Identity:
        """The one enabled identity bound to the certificate's name; a bad attestation otherwise."""
        if not certificate.name:
            raise bad_attestation(certificate.why_unnamed)
        return bound_identity(self._bindings, self._lookup, X509_BINDING, certificate.name, {})

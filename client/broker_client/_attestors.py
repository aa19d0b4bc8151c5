"""The attestors a TokenSource can present: a key assertion, a token file, any callable,
or the channel's client certificate.

Each ``attest`` call produces a fresh subject token: a new self-signed assertion (new
jti), the token file read again (Kubernetes and CI runners rotate them), or the
callable called again. An attestor whose proof is not a JWT says so in
``subject_token_type`` (``ClientCertificateAttestor``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import keys
from ._typing import TOKEN_TYPE_CLIENT_CERTIFICATE, TOKEN_TYPE_JWT, Attestor


class KeyAttestor:
    """Self-signed assertions (RFC 7523 style) for ``identity_id``, signed with its private key.

    ``key`` is a key object, PEM bytes or a path to a PEM file (read once). The
    assertion's audience is the broker's issuer, learned from the broker unless
    ``audience`` is given.
    """

    def __init__(
        self,
        identity_id: str,
        key: keys.PrivateKey | str | Path | bytes,
        *,
        kid: str | None = None,
        audience: str | None = None,
        lifetime: int = 60,
    ) -> None:
        self.identity_id = identity_id
        self._key = key if isinstance(key, keys.PrivateKey) else keys.load_private_key(key)
        self._kid = kid
        self._audience = audience
        self._lifetime = lifetime

    def attest(self, audience: str) -> str:
        """A new assertion, valid ``lifetime`` seconds."""
        return keys.make_assertion(
            self.identity_id, self._key, self._audience or audience, lifetime=self._lifetime, kid=self._kid
        )

    def __repr__(self) -> str:
        return f"KeyAttestor({self.identity_id!r})"


class TokenFileAttestor:
    """A JWT read from a file at every exchange (a projected service-account token, a CI OIDC token)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def attest(self, audience: str) -> str:
        """The file's current content, stripped; ValueError if it is empty."""
        token = self.path.read_text().strip()
        if not token:
            raise ValueError(f"token file {self.path} is empty")
        return token

    def __repr__(self) -> str:
        return f"TokenFileAttestor({str(self.path)!r})"


class CallableAttestor:
    """Any function returning a JWT, called at every exchange."""

    def __init__(self, fn: Callable[[], str]) -> None:
        self._fn = fn

    def attest(self, audience: str) -> str:
        """Whatever the function returns now."""
        token = self._fn()
        if not isinstance(token, str) or not token:
            raise ValueError("the attestor callable must return a non-empty JWT string")
        return token

    def __repr__(self) -> str:
        return f"CallableAttestor({self._fn!r})"


class ClientCertificateAttestor:
    """The mTLS connection's client certificate is the proof (no token is sent).

    The channel must carry the certificate (``tls_credentials(ca, cert_file=..., key_file=...)``)
    and an identity must be bound to its SPIFFE ID or subject (``--bind x509 ...``); the
    token the broker returns is bound to the certificate (``cnf.x5t#S256``).
    """

    subject_token_type = TOKEN_TYPE_CLIENT_CERTIFICATE

    def attest(self, audience: str) -> str:
        """Nothing: the TLS handshake already proved the certificate."""
        return ""

    def __repr__(self) -> str:
        return "ClientCertificateAttestor()"


def subject_token_type(attestor: Attestor) -> str:
    """What the attestor's subject tokens are: a JWT unless it says otherwise."""
    return str(getattr(attestor, "subject_token_type", TOKEN_TYPE_JWT))


def as_attestor(attestor: Attestor | Callable[[], str]) -> Attestor:
    """An Attestor as is; a bare callable wrapped in CallableAttestor."""
    if isinstance(attestor, Attestor):
        return attestor
    if callable(attestor):
        return CallableAttestor(attestor)
    raise TypeError("attestor must have an attest(audience) method or be a callable returning a JWT")

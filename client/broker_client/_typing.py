"""Protocols and aliases shared by the client's modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

#: A clock: seconds as a float. Sources default to ``time.monotonic``, the Verifier to
#: ``time.time``; tests pass a fake to move time without sleeping.
Now = Callable[[], float]
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
#: The subject token type of an exchange proved by the channel's client certificate (mTLS).
TOKEN_TYPE_CLIENT_CERTIFICATE = "urn:broker:token-type:client-certificate"


@runtime_checkable
class Attestor(Protocol):
    """Proves the workload's identity to the broker; asked once per exchange.

    An attestor may set ``subject_token_type`` when its proof is not a JWT.
    """

    def attest(self, audience: str) -> str:
        """A fresh subject token (a JWT); ``audience`` is the broker's issuer."""
        ...

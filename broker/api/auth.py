"""Request authentication: a broker bearer token whose aud holds the broker's issuer.

The token is checked as every broker token presented to the broker is
(core/liveness.py): signature, claims, not revoked, and every identity it names (its
subject, each actor of a delegation) still existing and enabled, so disabling an
identity ends its access to the broker's own API at once, not at its tokens' expiry.
A token bound to a client certificate (``cnf.x5t#S256``) counts only on a connection
presenting that certificate.
The handler (handler.py) turns the verified claims into the request's ``Principal``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc

from ..core.certificates import ClientCertificate, check_holder
from ..core.errors import Unauthenticated
from ..core.tokens import AccessClaims, invalid

#: verify(token): the claims of a broker token that is valid now, else Unauthenticated.
VerifyBrokerToken = Callable[[str], AccessClaims]


def bearer_token(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The token of the ``authorization: Bearer ...`` metadata entry."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
    raise Unauthenticated("missing bearer token (authorization metadata)")


def peer_certificate(context: grpc.aio.ServicerContext[Any, Any]) -> ClientCertificate | None:
    """The client certificate the connection presented, verified by the TLS layer against the
    client CA (only an mTLS listener asks for one)."""
    pem = next(iter((context.auth_context() or {}).get("x509_pem_cert", ())), None)
    return ClientCertificate.from_pem(pem) if pem else None


class Authenticator:
    """Verifies callers' broker tokens for the broker's own API."""

    def __init__(self, verify: VerifyBrokerToken, *, issuer: str) -> None:
        self._verify = verify
        self._issuer = issuer

    async def authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> AccessClaims:
        """The caller's verified claims (what they may do is the Principal's to check)."""
        token = bearer_token(context)
        claims = await asyncio.to_thread(self._verify, token)
        if self._issuer not in claims.audiences:
            raise invalid("token is not for this audience")
        check_holder(claims.claims, peer_certificate(context) if claims.cnf else None)
        return claims

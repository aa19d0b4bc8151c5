"""Request authentication: a broker bearer token whose aud holds the broker's issuer."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from ..core.errors import PermissionDenied, Unauthenticated
from ..core.tokens import AccessClaims, TokenCore


def bearer_token(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The token of the ``authorization: Bearer ...`` metadata entry."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
    raise Unauthenticated("missing bearer token (authorization metadata)")


def has_scope(claims: AccessClaims, scope: str) -> bool:
    """True if the token grants ``scope``."""
    return scope in claims.scopes


class Authenticator:
    """Verifies callers' broker tokens for the broker's own API."""

    def __init__(self, tokens: TokenCore) -> None:
        self._tokens = tokens

    async def authenticate(self, context: grpc.aio.ServicerContext[Any, Any], scope: str | None) -> AccessClaims:
        """The caller's verified claims; PermissionDenied if ``scope`` is missing."""
        token = bearer_token(context)
        claims = await asyncio.to_thread(self._tokens.verify, token, audience=self._tokens.issuer)
        if scope is not None and not has_scope(claims, scope):
            raise PermissionDenied(f"this call needs scope {scope}")
        return claims

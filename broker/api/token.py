"""TokenService: exchange, introspection (RFC 7662), revocation (RFC 7009), JWKS."""

from __future__ import annotations

import asyncio
import json

from google.protobuf import struct_pb2

from broker_client.v1 import token_pb2, token_pb2_grpc

from ..core.attestation import bad_attestation
from ..core.clock import Clock
from ..core.errors import BrokerError
from ..core.exchange import ExchangeRequest, ExchangeResult, TokenExchange
from ..core.keys import Keyring
from ..core.principals import Principal
from ..core.tokens import TOKEN_TYPE_JWT, TokenCore
from ..runtime import inline
from ..runtime.audit_writer import AuditWriter
from ..runtime.replay import ReplayGuard
from . import convert
from .auth import peer_certificate
from .handler import ApiContext, Ctx, Servicer, rpc


class TokenServicer(Servicer, token_pb2_grpc.TokenServiceServicer):
    """Thin adapter from TokenService to the exchange and the token core."""

    def __init__(
        self,
        api: ApiContext,
        exchange: TokenExchange,
        tokens: TokenCore,
        keyring: Keyring,
        clock: Clock,
        replay: ReplayGuard,
        audit: AuditWriter,
    ) -> None:
        super().__init__(api)
        self._exchange = exchange
        self._tokens = tokens
        self._keyring = keyring
        self._clock = clock
        self._replay = replay
        self._audit = audit

    def _try_inline(
        self, req: ExchangeRequest, by: Principal
    ) -> tuple[ExchangeResult | BrokerError, inline.Deferred] | None:
        """The exchange on the event loop, or None when it would need I/O (runtime/inline.py)."""
        if req.subject_token_type != TOKEN_TYPE_JWT or req.actor_token:
            return None  # down-scoping and delegation read revocations
        with inline.inline() as deferred:
            try:
                return self._exchange.exchange(req, by=by), deferred
            except inline.WouldBlock:
                return None
            except BrokerError as exc:
                return exc, deferred

    async def _exchange_token(self, req: ExchangeRequest, by: Principal) -> ExchangeResult:
        attempt = self._try_inline(req, by)
        if attempt is None:
            return await asyncio.to_thread(self._exchange.exchange, req, by=by)
        outcome, deferred = attempt
        # Written off the loop, in group commits: the single-use records first (a replay
        # undoes what the inline run decided), then its audit events; only then the answer.
        for key, expires_at, now in deferred.replay:
            if not await self._replay.consume_async(key, expires_at, now):
                replayed = bad_attestation("replayed jti")
                await asyncio.to_thread(self._exchange.refuse_unproven, replayed, by=by)
                raise replayed
        await self._audit.append_async(deferred.audit)
        if isinstance(outcome, BrokerError):
            raise outcome
        return outcome

    @rpc(public=True, limited=True)
    async def ExchangeToken(
        self, request: token_pb2.ExchangeTokenRequest, context: Ctx, principal: Principal
    ) -> token_pb2.ExchangeTokenResponse:
        req = ExchangeRequest(
            subject_token=request.subject_token,
            subject_token_type=request.subject_token_type,
            actor_token=request.actor_token,
            actor_token_type=request.actor_token_type,
            scopes=tuple(request.scopes),
            audiences=tuple(request.audiences),
            requested_ttl=convert.from_duration(
                request.requested_ttl, request.HasField("requested_ttl"), "requested_ttl"
            ),
            requested_token_type=request.requested_token_type,
            # a JWT attestation proves itself; every other shape may need the connection's certificate
            client_certificate=peer_certificate(context) if request.subject_token_type != TOKEN_TYPE_JWT else None,
        )
        result = await self._exchange_token(req, principal)
        return token_pb2.ExchangeTokenResponse(
            access_token=result.minted.token,
            issued_token_type=result.issued_token_type,
            token_type="Bearer",
            expires_at=convert.timestamp(result.minted.expires_at),
            scopes=result.scopes,
            audiences=result.audiences,
        )

    @rpc()
    async def IntrospectToken(
        self, request: token_pb2.IntrospectTokenRequest, context: Ctx, principal: Principal
    ) -> token_pb2.IntrospectTokenResponse:
        claims = await asyncio.to_thread(self._exchange.introspect, request.token)
        if claims is None:
            return token_pb2.IntrospectTokenResponse(active=False)
        struct = struct_pb2.Struct()
        struct.update(json.loads(json.dumps(dict(claims))))
        return token_pb2.IntrospectTokenResponse(active=True, claims=struct)

    @rpc()
    async def RevokeToken(
        self, request: token_pb2.RevokeTokenRequest, context: Ctx, principal: Principal
    ) -> token_pb2.RevokeTokenResponse:
        await asyncio.to_thread(self._exchange.revoke, request.token, by=principal)
        return token_pb2.RevokeTokenResponse()

    @rpc(public=True)
    async def GetJwks(
        self, request: token_pb2.GetJwksRequest, context: Ctx, principal: Principal
    ) -> token_pb2.GetJwksResponse:
        jwks = self._keyring.jwks(self._clock.now())
        return token_pb2.GetJwksResponse(jwks_json=json.dumps(jwks), issuer=self._tokens.issuer)

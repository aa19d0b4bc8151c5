"""What the exchange's unit tests share: workloads with keys, and the four ways in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker.core.attestation import AssertionVerifier
from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.exchange import ExchangeRequest, ExchangeResult, TokenExchange
from broker.core.identities import Identity, IdentityKind, IdentityRegistry
from broker.core.liveness import LiveTokens
from broker.core.principals import Principal
from broker.core.tokens import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT, TokenCore
from broker.store.sql import SqlStore
from broker_client import keys
from tests.unit.conftest import ANYONE, ISSUER, OPERATOR

DOCS = "https://docs.example.com"
SA = IdentityKind.SERVICE_ACCOUNT
AGENT = IdentityKind.AI_AGENT


def make_exchange(
    tokens: TokenCore,
    registry: IdentityRegistry,
    auditor: Auditor,
    store: SqlStore,
    clock: FakeClock,
    *,
    trust_domain: str = "",
    **kw: Any,
) -> TokenExchange:
    assertions = AssertionVerifier(registry.lookup, clock, audience=ISSUER, consume_jti=store.consume_jti)
    live = LiveTokens(tokens, registry.lookup, trust_domain=trust_domain)
    return TokenExchange(
        tokens,
        assertions,
        live,
        auditor,
        clock,
        revoke_jti=store.revoke_token,
        max_ttl=timedelta(hours=1),
        default_ttl=timedelta(minutes=15),
        **kw,
    )


class Workload:
    """An identity registered with a fresh key, and assertions signed with it."""

    def __init__(self, registry: IdentityRegistry, clock: FakeClock, ident: str, kind: IdentityKind, **fields: Any):
        self.id = ident
        self.clock = clock
        self.key = ec.generate_private_key(ec.SECP256R1())
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.identity = registry.create(
            Identity(id=ident, kind=kind, public_keys=(registry.make_key(pem.decode()),), **fields), by=OPERATOR
        )

    def assertion(self, **kw: Any) -> str:
        return keys.make_assertion(self.id, self.key, ISSUER, now=self.clock.now().timestamp(), **kw)

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        kid = keys.thumbprint(keys.public_jwk(self.key))
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": kid, **headers})


def attest(exchange: TokenExchange, token: str, **kw: Any) -> ExchangeResult:
    return exchange.exchange(ExchangeRequest(subject_token=token, subject_token_type=TOKEN_TYPE_JWT, **kw), by=ANYONE)


def downscope(exchange: TokenExchange, token: str, **kw: Any) -> ExchangeResult:
    return exchange.exchange(
        ExchangeRequest(subject_token=token, subject_token_type=TOKEN_TYPE_ACCESS, **kw), by=ANYONE
    )


def delegate(exchange: TokenExchange, subject: str, actor: str, **kw: Any) -> ExchangeResult:
    return exchange.exchange(
        ExchangeRequest(
            subject_token=subject,
            subject_token_type=TOKEN_TYPE_ACCESS,
            actor_token=actor,
            actor_token_type=TOKEN_TYPE_JWT,
            **kw,
        ),
        by=ANYONE,
    )


def claims_of(result: ExchangeResult) -> dict[str, Any]:
    return dict(result.minted.claims)


def principal_of(tokens: TokenCore, result: ExchangeResult) -> Principal:
    """The caller holding the minted token."""
    return Principal.of_token(tokens.verify(result.minted.token, audience=None))

"""The caller reaches core: every audit row names who asked and carries the request's id."""

from __future__ import annotations

import json

import grpc
from cryptography.hazmat.primitives.asymmetric import ec

from broker.core.tokens import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT
from broker_client import keys
from broker_client.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from tests.api.harness import ApiBroker
from tests.e2e.harness import Metadata


def _events(channel: grpc.Channel, admin: Metadata, action: str) -> list[audit_pb2.AuditEvent]:
    stub = audit_pb2_grpc.AuditServiceStub(channel)
    request = audit_pb2.ListAuditEventsRequest(filter=f"action={action}")
    return list(stub.ListAuditEvents(request, metadata=admin).events)


def test_an_admin_write_is_audited_with_the_callers_identity_and_request_id(shared_api_broker: ApiBroker) -> None:
    """CreateIdentity and CreateSecret sent with x-request-id: their audit rows have that id and actor admin."""
    admin = shared_api_broker.admin_metadata()
    with shared_api_broker.channel() as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
            identity_pb2.CreateIdentityRequest(
                identity=identity_pb2.Identity(id="audited", kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT)
            ),
            metadata=(*admin, ("x-request-id", "req-identity-1")),
        )
        secret_pb2_grpc.SecretServiceStub(channel).CreateSecret(
            secret_pb2.CreateSecretRequest(
                secret_id="audited-secret", secret=secret_pb2.Secret(generator=secret_pb2.SECRET_GENERATOR_API_KEY)
            ),
            metadata=(*admin, ("x-request-id", "req-secret-1")),
        )
        identity = [e for e in _events(channel, admin, "identity.create") if e.target == "audited"]
        secret = [e for e in _events(channel, admin, "secret.create") if e.target == "audited-secret"]
    assert [(e.actor, e.request_id, e.outcome) for e in identity] == [("admin", "req-identity-1", "success")]
    assert [(e.actor, e.request_id, e.details["generator"]) for e in secret] == [("admin", "req-secret-1", "api_key")]


def test_a_delegation_is_audited_with_the_agent_as_actor_and_the_exchanges_request_id(
    shared_api_broker: ApiBroker,
) -> None:
    """The token exchange is public; its delegation audit row still carries the request id sent with it."""
    admin = shared_api_broker.admin_metadata()
    boss_key, agent_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    with shared_api_broker.channel() as channel:
        stub = identity_pb2_grpc.IdentityServiceStub(channel)
        for ident, key, kind, extra in (
            ("boss", boss_key, identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT, {"allowed_scopes": ["docs.read"]}),
            ("helper", agent_key, identity_pb2.IDENTITY_KIND_AI_AGENT, {"delegable_scopes": ["docs.read"]}),
        ):
            public = identity_pb2.PublicKey(jwk_json=json.dumps(keys.public_jwk(key)))
            identity = identity_pb2.Identity(id=ident, kind=kind, public_keys=[public], **extra)  # type: ignore[arg-type]
            stub.CreateIdentity(identity_pb2.CreateIdentityRequest(identity=identity), metadata=admin)
        subject = shared_api_broker.exchange("boss", boss_key, scopes=["docs.read"])
        token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(
            token_pb2.ExchangeTokenRequest(
                subject_token=subject.access_token,
                subject_token_type=TOKEN_TYPE_ACCESS,
                actor_token=shared_api_broker.assertion("helper", agent_key),
                actor_token_type=TOKEN_TYPE_JWT,
            ),
            metadata=(("x-request-id", "req-delegate-1"),),
        )
        rows = [e for e in _events(channel, admin, "token.delegate") if e.request_id == "req-delegate-1"]
    assert [(e.actor, e.outcome) for e in rows] == [("helper", "success")]

"""Attacks with and on the broker's own tokens: forged bearer tokens, token confusion, scope
escalation through down-scoping and delegation, disabled/deleted identities and revocation,
each against the real server with the exact status code expected on the wire."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from google.protobuf import duration_pb2

from tests.e2e.harness import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT
from tests.security.conftest import DOCS, Actors, Target
from tests.security.issuer_kit import TestIssuer, forge

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("security")]  # one worker: test_zz_logs reads their log

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _broker_public_pem(target: Target) -> bytes:
    with urllib.request.urlopen(f"{target.proc.http_url}/.well-known/jwks.json", timeout=5) as resp:
        (jwk,) = json.loads(resp.read())["keys"]
    public = jwt.PyJWK(jwk).key
    assert isinstance(public, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey)
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def admin_token(target: Target) -> str:
    """The admin's real bearer token (the template every forgery starts from)."""
    return target.admin[0][1].removeprefix("Bearer ")


# forged bearer tokens at the admin API, and at introspection ---------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_an_unsigned_admin_token_is_unauthenticated(target: Target, admin_token: str, alg: str) -> None:
    """The admin's own claims with alg none: UNAUTHENTICATED at the API, inactive at introspection."""
    header, claims = _parts(admin_token)
    token = forge({**header, "alg": alg}, claims, signature=b"")
    assert target.bearer_code(token) == UNAUTHENTICATED
    assert target.introspect(token).active is False


def test_hs256_keyed_with_the_brokers_public_key_is_unauthenticated(target: Target, admin_token: str) -> None:
    """Algorithm confusion: HMAC with the published ES256 key as the secret never verifies."""
    header, claims = _parts(admin_token)
    token = forge({**header, "alg": "HS256"}, claims, hmac_secret=_broker_public_pem(target))
    assert target.bearer_code(token) == UNAUTHENTICATED
    assert target.introspect(token).active is False


@pytest.mark.parametrize("kid", ["unknown", "", "../keys/admin", "https://evil.example/jwks.json"])
def test_a_token_naming_a_kid_the_broker_does_not_publish_is_unauthenticated(
    target: Target, admin_token: str, kid: str
) -> None:
    """A forged admin token signed by an attacker's key, whatever its kid, is UNAUTHENTICATED."""
    header, claims = _parts(admin_token)
    attacker = TestIssuer(target.issuer, alg="ES256")
    token = forge({**header, "kid": kid}, claims, key=attacker.private)
    assert target.bearer_code(token) == UNAUTHENTICATED


def test_embedded_jwk_and_jku_cannot_supply_the_verification_key(target: Target, admin_token: str) -> None:
    """The broker's kid with the attacker's key in jwk/jku: UNAUTHENTICATED."""
    header, claims = _parts(admin_token)
    attacker = TestIssuer(target.issuer, alg="ES256", kid=header["kid"])
    for extra in ({"jwk": attacker.jwk()}, {"jku": "http://127.0.0.1:9/jwks"}, {"x5u": "http://127.0.0.1:9/c"}):
        token = forge({**header, **extra}, claims, key=attacker.private)
        assert target.bearer_code(token) == UNAUTHENTICATED


def test_a_crit_header_on_a_broker_token_is_unauthenticated(target: Target, admin_token: str) -> None:
    """Adding crit invalidates the signature and is refused on its own account anyway."""
    header, claims = _parts(admin_token)
    token = forge({**header, "crit": ["b64"], "b64": False}, claims, signature=b"\x00" * 64)
    assert target.bearer_code(token) == UNAUTHENTICATED


def test_a_tampered_payload_or_signature_is_unauthenticated(target: Target, actors: Actors) -> None:
    """Escalating a victim's token to broker.admin in its payload, or flipping a signature byte."""
    token = target.token_for(actors.victim)
    head, body, sig = token.split(".")
    _, claims = _parts(token)
    escalated = json.dumps({**claims, "scope": "broker.admin"}).encode()
    forged = f"{head}.{jwt.utils.base64url_encode(escalated).decode()}.{sig}"
    flipped = f"{head}.{body}.{sig[:5]}{'A' if sig[5] != 'A' else 'B'}{sig[6:]}"
    assert target.bearer_code(forged) == UNAUTHENTICATED
    assert target.bearer_code(flipped) == UNAUTHENTICATED
    assert target.bearer_code(token) == PERMISSION_DENIED  # genuine, just not an admin


def test_an_ecdsa_signature_of_zeros_is_unauthenticated(target: Target, admin_token: str) -> None:
    """The admin's header and claims with r = s = 0."""
    header, claims = _parts(admin_token)
    token = forge(header, claims, signature=bytes(64))
    assert target.bearer_code(token) == UNAUTHENTICATED
    assert target.introspect(token).active is False


# token confusion -------------------------------------------------------------------------------------------
def test_an_attestation_offered_as_an_access_token_is_unauthenticated(target: Target, actors: Actors) -> None:
    """A self-signed assertion or an issuer's JWT as bearer, as access-token subject, or introspected."""
    assertion = target.assertion(actors.victim)
    k8s = target.k8s_token()
    for attestation in (assertion, k8s):
        assert target.bearer_code(attestation) == UNAUTHENTICATED
        assert target.exchange_code(attestation, TOKEN_TYPE_ACCESS) == UNAUTHENTICATED
        assert target.introspect(attestation).active is False


def test_a_token_for_another_audience_is_refused_at_the_broker_api(target: Target, actors: Actors) -> None:
    """Audience discipline: a token minted for docs cannot call the broker (UNAUTHENTICATED)."""
    token = target.token_for(actors.victim, audiences=[DOCS])
    assert target.bearer_code(token) == UNAUTHENTICATED
    assert target.introspect(token).active is True


# scope escalation -------------------------------------------------------------------------------------------
def test_downscoping_cannot_escalate(target: Target, actors: Actors) -> None:
    """A scope, an audience or broker.admin beyond the presented token: PERMISSION_DENIED."""
    token = target.token_for(actors.victim, scopes=["docs.read"], audiences=[DOCS])
    for fields in ({"scopes": ["docs.write"]}, {"scopes": ["broker.admin"]}, {"audiences": [target.issuer]}):
        assert target.exchange_code(token, TOKEN_TYPE_ACCESS, **fields) == PERMISSION_DENIED
    assert target.exchange_code(token, TOKEN_TYPE_ACCESS, scopes=["docs.read"]) == OK


def test_delegation_cannot_escalate(target: Target, actors: Actors) -> None:
    """The agent may not take the subject's non-delegable scope, a scope the subject lacks, or a new audience."""
    subject = target.token_for(actors.victim, audiences=[DOCS])
    actor = {"actor_token_type": TOKEN_TYPE_JWT}
    for fields in ({"scopes": ["docs.write"]}, {"scopes": ["broker.admin"]}, {"audiences": ["https://x.example"]}):
        code = target.exchange_code(
            subject, TOKEN_TYPE_ACCESS, actor_token=target.assertion(actors.agent), **actor, **fields
        )
        assert code == PERMISSION_DENIED
    delegated = target.exchange(subject, TOKEN_TYPE_ACCESS, actor_token=target.assertion(actors.agent), **actor)
    assert list(delegated.scopes) == ["docs.read"]
    widened = target.exchange_code(delegated.access_token, TOKEN_TYPE_ACCESS, scopes=["docs.write"])
    assert widened == PERMISSION_DENIED


def test_an_identity_cannot_delegate_without_delegable_scopes(target: Target, actors: Actors) -> None:
    """A service account (no delegable_scopes) acting as an agent: PERMISSION_DENIED."""
    subject = target.token_for(actors.victim, audiences=[DOCS])
    code = target.exchange_code(
        subject, TOKEN_TYPE_ACCESS, actor_token=target.assertion(actors.victim), actor_token_type=TOKEN_TYPE_JWT
    )
    assert code == PERMISSION_DENIED


# disabled, deleted, revoked ----------------------------------------------------------------------------------
def test_tokens_of_a_disabled_or_deleted_identity_stop_working(target: Target) -> None:
    """Down-scoping and introspection refuse them at once: UNAUTHENTICATED / inactive."""
    short = target.create_workload("short-lived", allowed_scopes=["a", "b"])
    token = target.token_for(short)
    assert target.exchange_code(token, TOKEN_TYPE_ACCESS, scopes=["a"]) == OK
    target.disable("short-lived")
    assert target.exchange_code(token, TOKEN_TYPE_ACCESS, scopes=["a"]) == UNAUTHENTICATED
    assert target.introspect(token).active is False
    target.delete("short-lived")
    assert target.exchange_code(token, TOKEN_TYPE_ACCESS, scopes=["a"]) == UNAUTHENTICATED


def test_an_identity_disabled_or_deleted_loses_the_admin_api_at_once(target: Target) -> None:
    """Its unexpired admin-scoped token: OK on an admin call, then UNAUTHENTICATED once disabled, and deleted."""
    for ident, end in (("operator-1", target.disable), ("operator-2", target.delete)):
        operator = target.create_workload(ident, allowed_scopes=["broker.admin"])
        token = target.token_for(operator)
        assert target.bearer_code(token) == OK
        end(ident)
        assert target.bearer_code(token) == UNAUTHENTICATED


def test_a_disabled_agent_cannot_delegate_and_its_chain_dies(target: Target, actors: Actors) -> None:
    """Disabling the agent refuses its attestation and every token naming it in act."""
    from broker_client.v1 import identity_pb2  # noqa: PLC0415 - only this test needs the enum

    rogue = target.create_workload(
        "rogue-agent",
        kind=identity_pb2.IDENTITY_KIND_AI_AGENT,
        delegable_scopes=["docs.read"],
        allowed_audiences=[DOCS],
    )
    subject = target.token_for(actors.victim, audiences=[DOCS])
    actor = {"actor_token_type": TOKEN_TYPE_JWT}
    delegated = target.exchange(subject, TOKEN_TYPE_ACCESS, actor_token=target.assertion(rogue), **actor).access_token
    target.disable("rogue-agent")
    assert (
        target.exchange_code(subject, TOKEN_TYPE_ACCESS, actor_token=target.assertion(rogue), **actor)
        == UNAUTHENTICATED
    )
    assert target.exchange_code(delegated, TOKEN_TYPE_ACCESS) == UNAUTHENTICATED
    assert target.introspect(delegated).active is False


def test_a_revoked_subject_token_is_unauthenticated_everywhere(target: Target, actors: Actors) -> None:
    """After RevokeToken by its holder: down-scoping, delegation, admin calls and introspection all refuse it."""
    holder = target.token_for(actors.victim)
    subject = target.token_for(actors.victim, audiences=[target.issuer, DOCS])
    assert target.revoke(subject, by=holder) == OK
    actor = {"actor_token": target.assertion(actors.agent), "actor_token_type": TOKEN_TYPE_JWT}
    assert target.exchange_code(subject, TOKEN_TYPE_ACCESS) == UNAUTHENTICATED
    assert target.exchange_code(subject, TOKEN_TYPE_ACCESS, **actor) == UNAUTHENTICATED
    assert target.introspect(subject).active is False
    assert target.bearer_code(subject) == UNAUTHENTICATED
    assert target.revoke(holder, by=holder) == OK
    assert target.bearer_code(holder) == UNAUTHENTICATED


def test_only_the_holder_or_an_admin_may_revoke(target: Target, actors: Actors) -> None:
    """Another identity revoking the victim's token: PERMISSION_DENIED; the admin may."""
    other = target.create_workload("bystander")
    victims = target.token_for(actors.victim)
    assert target.revoke(victims, by=target.token_for(other)) == PERMISSION_DENIED
    assert target.introspect(victims).active is True
    assert target.revoke(victims, by=target.admin[0][1].removeprefix("Bearer ")) == OK
    assert target.introspect(victims).active is False


# tokens that came back (the hardening issue, items 1, 2 and 5) --------------------------------------------
def test_a_stolen_admin_token_stays_dead_when_its_identity_is_enabled_again(target: Target) -> None:
    """Disabled, its key removed and its scopes cut, then enabled: the token from before still fails
    every path (bearer, subject token, introspection); the identity's new tokens work."""
    operator = target.create_workload("operator-3", allowed_scopes=["broker.admin", "ops.read"])
    stolen = target.token_for(operator)
    assert target.bearer_code(stolen) == OK
    target.disable("operator-3")
    target.update("operator-3", ["allowed_scopes"], allowed_scopes=["ops.read", "broker.admin"])
    target.enable("operator-3")
    assert target.bearer_code(stolen) == UNAUTHENTICATED
    assert target.exchange_code(stolen, TOKEN_TYPE_ACCESS) == UNAUTHENTICATED
    assert target.introspect(stolen).active is False
    assert target.bearer_code(target.token_for(operator)) == OK


def test_a_stolen_admin_token_stays_dead_when_its_id_is_created_again(target: Target) -> None:
    """Deleted and re-created with the same id and scopes: the old identity's token does not speak for the new."""
    operator = target.create_workload("operator-4", allowed_scopes=["broker.admin"])
    stolen = target.token_for(operator)
    target.delete("operator-4")
    again = target.create_workload("operator-4", allowed_scopes=["broker.admin"])
    assert target.bearer_code(stolen) == UNAUTHENTICATED
    assert target.introspect(stolen).active is False
    assert target.bearer_code(target.token_for(again)) == OK


def test_a_revoked_admin_token_is_refused_past_its_exp_too(target: Target) -> None:
    """The broker's own tokens get no leeway past exp, and the revocation outlives them: refused at
    exp + 1 s (inside the old 30 s window in which a revoked token worked again)."""
    operator = target.create_workload("operator-5", allowed_scopes=["broker.admin"])
    token = target.token_for(operator, requested_ttl=duration_pb2.Duration(seconds=2))
    assert target.revoke(token, by=token) == OK
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp + 1 - time.time()))  # a real process: its clock is the wall clock
    assert target.bearer_code(token) == UNAUTHENTICATED
    assert target.introspect(token).active is False


def test_junk_delegations_from_nobody_write_one_sampled_event_not_one_each(target: Target, actors: Actors) -> None:
    """300 delegation attempts with made-up subject tokens: at most one token.delegate event for them."""
    before = target.audit_count("token.delegate")
    actor = {"actor_token_type": TOKEN_TYPE_JWT}
    for n in range(300):
        junk = f"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.{n:04d}"
        assert target.exchange_code(junk, TOKEN_TYPE_ACCESS, actor_token=target.assertion(actors.agent), **actor) in (
            UNAUTHENTICATED,
            grpc.StatusCode.INVALID_ARGUMENT,
        )
    assert target.audit_count("token.delegate") - before <= 1

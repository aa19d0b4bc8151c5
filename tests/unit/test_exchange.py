"""Token exchange in core: attestation, down-scoping, delegation, introspection, revocation, SPIFFE subjects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest

from broker.core.audit import AuditFilter, Auditor
from broker.core.clock import FakeClock
from broker.core.errors import InvalidArgument, PermissionDenied, Unauthenticated
from broker.core.exchange import ExchangeRequest, TokenExchange
from broker.core.identities import IdentityRegistry
from broker.core.principals import ADMIN_SCOPE
from broker.core.tokens import TOKEN_TYPE_JWT, TokenCore
from broker.store.sql import SqlStore
from tests.unit.conftest import ANYONE, ISSUER, OPERATOR
from tests.unit.exchange_kit import (
    AGENT,
    DOCS,
    SA,
    Workload,
    attest,
    claims_of,
    delegate,
    downscope,
    make_exchange,
    principal_of,
)


# self-signed assertions -------------------------------------------------------------------------
def test_an_assertion_is_exchanged_once(exchange: TokenExchange, reports: Workload) -> None:
    """The first presentation mints a token; the same assertion again is a replay."""
    assertion = reports.assertion()
    granted = attest(exchange, assertion, scopes=["docs.read"])
    assert granted.scopes == ("docs.read",) and granted.audiences == (ISSUER,)
    with pytest.raises(Unauthenticated) as info:
        attest(exchange, assertion)
    assert (info.value.message, info.value.detail) == ("invalid attestation", "replayed jti")


def test_the_replay_record_survives_a_restart(
    tokens: TokenCore,
    registry: IdentityRegistry,
    auditor: Auditor,
    store: SqlStore,
    clock: FakeClock,
    reports: Workload,
) -> None:
    """A new exchange service over the same store (a restart, another replica) still refuses the replay."""
    assertion = reports.assertion()
    attest(exchange_a := make_exchange(tokens, registry, auditor, store, clock), assertion)
    del exchange_a
    restarted = make_exchange(
        tokens,
        IdentityRegistry(store, clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1)),
        auditor,
        store,
        clock,
    )
    with pytest.raises(Unauthenticated):
        attest(restarted, assertion)


def test_a_replay_inside_the_expiry_leeway_is_still_refused(
    exchange: TokenExchange, reports: Workload, clock: FakeClock
) -> None:
    """The jti is kept until exp + leeway, the last moment the assertion could pass the time checks."""
    assertion = reports.assertion(lifetime=60)
    attest(exchange, assertion)
    clock.advance(timedelta(seconds=60 + 29))
    with pytest.raises(Unauthenticated) as info:
        attest(exchange, assertion)
    assert info.value.detail == "replayed jti"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated) as info:
        attest(exchange, assertion)
    assert info.value.detail == "expired"


def test_assertions_living_longer_than_five_minutes_are_refused(
    exchange: TokenExchange, reports: Workload, clock: FakeClock
) -> None:
    """exp - iat of 301 s is refused; 300 s passes."""
    now = int(clock.now().timestamp())
    base = {"iss": "reports", "sub": "reports", "aud": ISSUER, "iat": now}
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        attest(exchange, reports.sign({**base, "exp": now + 301, "jti": "a"}))
    attest(exchange, reports.sign({**base, "exp": now + 300, "jti": "b"}))


def test_iat_in_the_future_is_refused_beyond_the_leeway_only(
    exchange: TokenExchange, reports: Workload, clock: FakeClock
) -> None:
    """iat 31 s ahead is refused; 30 s ahead (the leeway) passes."""
    now = int(clock.now().timestamp())
    base = {"iss": "reports", "sub": "reports", "aud": ISSUER}
    with pytest.raises(Unauthenticated) as info:
        attest(exchange, reports.sign({**base, "iat": now + 31, "exp": now + 120, "jti": "a"}))
    assert info.value.detail == "issued in the future (iat)"
    attest(exchange, reports.sign({**base, "iat": now + 30, "exp": now + 120, "jti": "b"}))


@pytest.mark.parametrize(
    ("claims", "headers"),
    [
        ({"iss": "Not A Label!", "sub": "Not A Label!"}, {}),
        ({"iss": "nobody", "sub": "nobody"}, {}),
        ({"sub": "someone-else"}, {}),
        ({"aud": "https://elsewhere.example"}, {}),
        ({}, {"typ": "at+jwt"}),
        ({"exp": 1e300}, {}),
        ({"jti": ""}, {}),
    ],
)
def test_bad_assertions_are_one_opaque_error(
    exchange: TokenExchange, reports: Workload, clock: FakeClock, claims: dict[str, Any], headers: dict[str, Any]
) -> None:
    """Unknown or malformed identities, wrong aud, access-token typ, absurd exp, empty jti: invalid attestation."""
    now = int(clock.now().timestamp())
    body = {"iss": "reports", "sub": "reports", "aud": ISSUER, "iat": now, "exp": now + 60, "jti": "j", **claims}
    with pytest.raises(Unauthenticated) as info:
        attest(exchange, reports.sign(body, **headers))
    assert info.value.message == "invalid attestation"


def test_a_broker_token_is_not_an_attestation(exchange: TokenExchange, reports: Workload) -> None:
    """A broker access token presented as subject_token_type jwt is refused."""
    token = attest(exchange, reports.assertion()).minted.token
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        attest(exchange, token)


def test_a_disabled_identity_cannot_attest(
    exchange: TokenExchange, registry: IdentityRegistry, reports: Workload
) -> None:
    """Disabling an identity stops its assertions at once."""
    registry.update("reports", {"disabled": True}, by=OPERATOR)
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        attest(exchange, reports.assertion())


def test_unknown_scope_or_audience_is_permission_denied_naming_it(exchange: TokenExchange, reports: Workload) -> None:
    """Asking for more than the identity may have is refused, never silently dropped."""
    with pytest.raises(PermissionDenied, match=r"docs\.admin"):
        attest(exchange, reports.assertion(), scopes=["docs.read", "docs.admin"])
    with pytest.raises(PermissionDenied, match=r"https://other\.example"):
        attest(exchange, reports.assertion(), audiences=["https://other.example"])


def test_request_shape_errors_are_invalid_argument(exchange: TokenExchange, reports: Workload) -> None:
    """Empty subject, unknown token types, an actor type without an actor token: INVALID_ARGUMENT."""
    with pytest.raises(InvalidArgument, match="subject_token"):
        attest(exchange, "")
    with pytest.raises(InvalidArgument, match="subject_token_type"):
        exchange.exchange(ExchangeRequest(subject_token=reports.assertion(), subject_token_type="saml"), by=ANYONE)
    with pytest.raises(InvalidArgument, match="requested_token_type"):
        attest(exchange, reports.assertion(), requested_token_type="urn:x")
    with pytest.raises(InvalidArgument, match="actor_token"):
        attest(exchange, reports.assertion(), actor_token_type=TOKEN_TYPE_JWT)


# down-scoping ---------------------------------------------------------------------------------------
def test_downscoping_narrows_scopes_audience_and_life(
    exchange: TokenExchange, reports: Workload, clock: FakeClock
) -> None:
    """One scope, one audience, a shorter life: granted; same sub and client_id."""
    wide = attest(exchange, reports.assertion(), audiences=[ISSUER, DOCS], requested_ttl=timedelta(minutes=30))
    narrow = downscope(
        exchange, wide.minted.token, scopes=["docs.read"], audiences=[DOCS], requested_ttl=timedelta(minutes=5)
    )
    claims = claims_of(narrow)
    assert (claims["sub"], claims["client_id"], claims["scope"], claims["aud"]) == (
        "reports", "reports", "docs.read", DOCS,
    )  # fmt: skip
    assert narrow.minted.expires_at == clock.now().replace(microsecond=0) + timedelta(minutes=5)


def test_downscoping_never_widens(exchange: TokenExchange, reports: Workload, clock: FakeClock) -> None:
    """A scope or audience the presented token lacks is refused; the life never passes the token's exp."""
    token = attest(exchange, reports.assertion(), scopes=["docs.read"], requested_ttl=timedelta(minutes=2))
    with pytest.raises(PermissionDenied, match=r"docs\.write"):
        downscope(exchange, token.minted.token, scopes=["docs.write"])
    with pytest.raises(PermissionDenied, match=DOCS):
        downscope(exchange, token.minted.token, audiences=[DOCS])
    longer = downscope(exchange, token.minted.token, requested_ttl=timedelta(hours=1))
    assert longer.minted.expires_at == token.minted.expires_at


def test_revoked_disabled_and_deleted_subjects_cannot_be_downscoped(
    exchange: TokenExchange, registry: IdentityRegistry, store: SqlStore, reports: Workload
) -> None:
    """A revoked token, a disabled identity's and a deleted identity's tokens are all refused."""
    first = attest(exchange, reports.assertion()).minted
    second = attest(exchange, reports.assertion()).minted.token
    store.revoke_token(first.jti, first.expires_at)
    with pytest.raises(Unauthenticated) as info:
        downscope(exchange, first.token)
    assert info.value.detail == "revoked"
    registry.update("reports", {"disabled": True}, by=OPERATOR)
    with pytest.raises(Unauthenticated, match="invalid token"):
        downscope(exchange, second)
    registry.delete("reports", by=OPERATOR)
    with pytest.raises(Unauthenticated, match="invalid token"):
        downscope(exchange, second)


# delegation ----------------------------------------------------------------------------------------------
def test_an_agent_acts_for_the_subject_with_the_intersection(
    exchange: TokenExchange, reports: Workload, agent: Workload
) -> None:
    """sub stays the principal, act names the agent, scopes = subject ∩ delegable, exp ≤ the subject's."""
    subject = attest(exchange, reports.assertion(), audiences=[DOCS], requested_ttl=timedelta(minutes=5))
    result = delegate(exchange, subject.minted.token, agent.assertion(), requested_ttl=timedelta(minutes=10))
    claims = claims_of(result)
    assert claims["sub"] == "reports" and claims["client_id"] == "summarizer"
    assert claims["act"] == {"sub": "summarizer", "client_id": "summarizer"}
    assert result.scopes == ("docs.read",) and result.audiences == (DOCS,)
    assert result.minted.expires_at <= subject.minted.expires_at


def test_delegation_refuses_scopes_beyond_subject_or_delegable(
    exchange: TokenExchange, reports: Workload, agent: Workload, auditor: Auditor
) -> None:
    """docs.write is the subject's but not delegable: PERMISSION_DENIED naming it, audited as a failure."""
    subject = attest(exchange, reports.assertion(), audiences=[DOCS]).minted.token
    with pytest.raises(PermissionDenied, match=r"docs\.write"):
        delegate(exchange, subject, agent.assertion(), scopes=["docs.write"])
    (event,), _ = auditor.list(page_size=10, page_token="", flt=AuditFilter(action="token.delegate"))
    assert (event.outcome, event.actor, event.target) == ("failure", "summarizer", "reports")


def test_delegation_needs_a_shared_audience(
    exchange: TokenExchange, reports: Workload, registry: IdentityRegistry, clock: FakeClock
) -> None:
    """The agent gets only audiences both it and the subject token have."""
    narrow_agent = Workload(registry, clock, "helper", AGENT, delegable_scopes=("docs.read",))
    subject = attest(exchange, reports.assertion(), audiences=[DOCS]).minted.token
    with pytest.raises(PermissionDenied, match="no audience"):
        delegate(exchange, subject, narrow_agent.assertion())


def test_chains_nest_and_stop_at_the_depth_limit(
    exchange: TokenExchange, reports: Workload, registry: IdentityRegistry, clock: FakeClock, auditor: Auditor
) -> None:
    """Each hop nests the previous act; the fourth hop (default depth 3) is refused and audited."""
    agents = [
        Workload(registry, clock, f"agent-{i}", AGENT, delegable_scopes=("docs.read",), allowed_audiences=(DOCS,))
        for i in range(4)
    ]
    token = attest(exchange, reports.assertion(), audiences=[DOCS]).minted.token
    for hop in agents[:3]:
        token = delegate(exchange, token, hop.assertion()).minted.token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["act"] == {
        "sub": "agent-2", "client_id": "agent-2",
        "act": {"sub": "agent-1", "client_id": "agent-1", "act": {"sub": "agent-0", "client_id": "agent-0"}},
    }  # fmt: skip
    with pytest.raises(PermissionDenied, match="limit is 3"):
        delegate(exchange, token, agents[3].assertion())
    events, _ = auditor.list(page_size=10, page_token="", flt=AuditFilter(action="token.delegate"))
    assert sorted(e.outcome for e in events) == ["failure", "success", "success", "success"]
    assert sorted(e.details.get("depth", 0) for e in events) == [0, 1, 2, 3]


def test_agents_without_delegable_scopes_and_disabled_agents_are_refused(
    exchange: TokenExchange, reports: Workload, agent: Workload, registry: IdentityRegistry, clock: FakeClock
) -> None:
    """No delegable_scopes: PERMISSION_DENIED; a disabled agent cannot attest; a disabled agent's chain dies."""
    plain = Workload(registry, clock, "plain", AGENT, allowed_audiences=(DOCS,))
    subject = attest(exchange, reports.assertion(), audiences=[DOCS]).minted.token
    with pytest.raises(PermissionDenied, match="delegable_scopes"):
        delegate(exchange, subject, plain.assertion())
    delegated = delegate(exchange, subject, agent.assertion()).minted.token
    registry.update("summarizer", {"disabled": True}, by=OPERATOR)
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        delegate(exchange, subject, agent.assertion())
    with pytest.raises(Unauthenticated, match="invalid token"):
        downscope(exchange, delegated)


def test_a_revoked_subject_token_cannot_be_delegated(
    exchange: TokenExchange, reports: Workload, agent: Workload, store: SqlStore, auditor: Auditor
) -> None:
    """Revocation reaches delegation; the refusal is audited."""
    subject = attest(exchange, reports.assertion(), audiences=[DOCS]).minted
    store.revoke_token(subject.jti, subject.expires_at)
    with pytest.raises(Unauthenticated, match="invalid token"):
        delegate(exchange, subject.token, agent.assertion())
    (event,), _ = auditor.list(page_size=10, page_token="", flt=AuditFilter(action="token.delegate"))
    assert event.outcome == "failure" and event.details["reason"] == "revoked"


def test_delegation_needs_both_token_types(exchange: TokenExchange, reports: Workload, agent: Workload) -> None:
    """An actor token with a jwt subject (or an access-token actor) is INVALID_ARGUMENT."""
    with pytest.raises(InvalidArgument, match="delegation"):
        attest(exchange, reports.assertion(), actor_token=agent.assertion(), actor_token_type=TOKEN_TYPE_JWT)


# introspection and revocation ---------------------------------------------------------------------------------
def test_introspection_answers_claims_or_inactive(
    exchange: TokenExchange, reports: Workload, store: SqlStore, clock: FakeClock
) -> None:
    """Active tokens give their claims; revoked, expired, foreign and garbage tokens give None."""
    active = attest(exchange, reports.assertion()).minted
    assert exchange.introspect(active.token) == active.claims
    revoked = attest(exchange, reports.assertion()).minted
    store.revoke_token(revoked.jti, revoked.expires_at)
    assert exchange.introspect(revoked.token) is None
    assert exchange.introspect(reports.assertion()) is None
    assert exchange.introspect("garbage") is None
    clock.advance(timedelta(minutes=16))
    assert exchange.introspect(active.token) is None


def test_introspection_of_an_oversized_token_is_invalid_argument(exchange: TokenExchange) -> None:
    """Tokens above the size cap are refused before parsing, not answered inactive."""
    with pytest.raises(InvalidArgument):
        exchange.introspect("e" * 16384)


def test_the_holder_or_an_admin_may_revoke_others_may_not(
    exchange: TokenExchange, tokens: TokenCore, reports: Workload, agent: Workload, registry: IdentityRegistry,
    clock: FakeClock,
) -> None:  # fmt: skip
    """Holder (same sub, or the agent a delegated token was issued to) and admins may; strangers may not."""
    other = Workload(registry, clock, "other", SA)
    admin = Workload(registry, clock, "root", SA, allowed_scopes=(ADMIN_SCOPE,))
    target = attest(exchange, reports.assertion(), audiences=[DOCS]).minted.token
    stranger = principal_of(tokens, attest(exchange, other.assertion()))
    with pytest.raises(PermissionDenied):
        exchange.revoke(target, by=stranger)
    delegated = delegate(exchange, target, agent.assertion())
    agent_self = principal_of(tokens, attest(exchange, agent.assertion()))
    exchange.revoke(delegated.minted.token, by=agent_self)
    assert exchange.introspect(delegated.minted.token) is None
    exchange.revoke(target, by=principal_of(tokens, attest(exchange, reports.assertion())))
    exchange.revoke(target, by=principal_of(tokens, attest(exchange, admin.assertion())))  # twice: fine
    assert exchange.introspect(target) is None


def test_a_delegated_token_cannot_revoke_its_principals_other_tokens(
    exchange: TokenExchange, tokens: TokenCore, reports: Workload, agent: Workload
) -> None:
    """An agent speaking for a principal may not kill the principal's own tokens."""
    principal = attest(exchange, reports.assertion(), audiences=[ISSUER, DOCS]).minted.token
    delegated = delegate(exchange, principal, agent.assertion(), audiences=[ISSUER])
    with pytest.raises(PermissionDenied):
        exchange.revoke(principal, by=principal_of(tokens, delegated))


def test_revoking_an_invalid_token_is_a_no_op(
    exchange: TokenExchange, tokens: TokenCore, reports: Workload, auditor: Auditor, store: SqlStore, clock: FakeClock
) -> None:
    """RFC 7009: a token that does not verify needs no revocation and is not an error."""
    granted = attest(exchange, reports.assertion())
    mine, me = granted.minted, principal_of(tokens, granted)
    expired = attest(exchange, reports.assertion(), requested_ttl=timedelta(minutes=1)).minted
    clock.advance(timedelta(minutes=2))
    foreign = reports.assertion()  # validly signed, but by the workload and not by the broker
    foreign_jti = jwt.decode(foreign, options={"verify_signature": False})["jti"]

    for invalid in ("not-a-token", foreign, expired.token):
        exchange.revoke(invalid, by=me)  # returns; raises nothing

    now = clock.now()
    assert not store.is_token_revoked(foreign_jti, now) and not store.is_token_revoked(expired.jti, now)
    assert exchange.introspect(mine.token) == mine.claims  # the caller's own token is untouched
    revocations, _ = auditor.list(page_size=10, page_token="", flt=AuditFilter(action="token.revoke"))
    assert revocations == []
    exchange.revoke(mine.token, by=me)  # the positive case next to it: a valid token is revoked and audited
    assert store.is_token_revoked(mine.jti, now) and exchange.introspect(mine.token) is None
    revocations, _ = auditor.list(page_size=10, page_token="", flt=AuditFilter(action="token.revoke"))
    assert [e.target for e in revocations] == [mine.jti]


# SPIFFE subjects --------------------------------------------------------------------------------------------------
def test_with_a_trust_domain_sub_is_the_spiffe_id(
    tokens: TokenCore, registry: IdentityRegistry, auditor: Auditor, store: SqlStore, clock: FakeClock,
    reports: Workload, agent: Workload,
) -> None:  # fmt: skip
    """sub and act.sub become spiffe://<td>/identity/<id>; such tokens down-scope and delegate."""
    spiffe = make_exchange(tokens, registry, auditor, store, clock, trust_domain="example.org")
    token = attest(spiffe, reports.assertion(), audiences=[DOCS], requested_token_type=TOKEN_TYPE_JWT)
    assert claims_of(token)["sub"] == "spiffe://example.org/identity/reports"
    assert jwt.get_unverified_header(token.minted.token)["typ"] == "JWT"
    assert token.issued_token_type == TOKEN_TYPE_JWT
    delegated = claims_of(delegate(spiffe, token.minted.token, agent.assertion()))
    assert delegated["act"]["sub"] == "spiffe://example.org/identity/summarizer"
    other_domain = make_exchange(tokens, registry, auditor, store, clock, trust_domain="other.org")
    with pytest.raises(Unauthenticated):
        downscope(other_domain, token.minted.token)


def test_a_trust_domain_must_be_a_spiffe_name(
    tokens: TokenCore, registry: IdentityRegistry, auditor: Auditor, store: SqlStore, clock: FakeClock
) -> None:
    """Uppercase or slashes are not SPIFFE trust domain names: refused at start."""
    with pytest.raises(ValueError, match="trust domain"):
        make_exchange(tokens, registry, auditor, store, clock, trust_domain="Example.ORG")


def test_a_workload_cannot_revoke_a_persons_token_that_merely_shares_its_client_id(
    exchange: TokenExchange, tokens: TokenCore, reports: Workload, store: SqlStore, clock: FakeClock
) -> None:
    """client_id names the holding identity only on machine or delegated tokens, not on a person's own."""
    persons = tokens.mint(
        subject="alice", client_id="reports", kind="human", tenant="", scopes=["docs.read"], audiences=[ISSUER],
        ttl=timedelta(minutes=5),
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        exchange.revoke(persons.token, by=principal_of(tokens, attest(exchange, reports.assertion())))
    assert not store.is_token_revoked(persons.jti, clock.now())


def test_a_token_of_a_kind_the_broker_holds_no_record_of_is_never_active(
    exchange: TokenExchange, tokens: TokenCore
) -> None:
    """A validly signed token whose kind names no identity the broker can re-check (no people yet) is refused."""
    for kind in ("human", "robot", ""):
        minted = tokens.mint(
            subject="alice", client_id="reports", kind=kind, tenant="", scopes=["docs.read"], audiences=[ISSUER],
            ttl=timedelta(minutes=5),
        )  # fmt: skip
        assert exchange.introspect(minted.token) is None

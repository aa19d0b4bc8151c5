"""A dead token stays dead: revocations outlive every check, and a token never carries more
than its identities allow now, whatever is changed back later (the hardening issue, items 1,
2, 16 and 24)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import timedelta

import jwt
import pytest

from broker.core.clock import FakeClock
from broker.core.errors import PermissionDenied, Unauthenticated
from broker.core.exchange import TokenExchange
from broker.core.identities import IdentityRegistry
from broker.core.liveness import LiveTokens
from broker.core.principals import ADMIN_SCOPE
from broker.core.tokens import REVOCATION_MARGIN, TokenCore
from broker.store.sql import SqlStore
from broker_client import keys
from tests.unit.conftest import ISSUER, OPERATOR
from tests.unit.exchange_kit import DOCS, SA, Workload, attest, delegate, downscope, principal_of

SECOND = timedelta(seconds=1)


def _every_path_refuses(exchange: TokenExchange, live: LiveTokens, token: str) -> None:
    """The token is dead as a bearer, as a subject token, and for introspection."""
    with pytest.raises(Unauthenticated):
        live.verify(token)
    with pytest.raises(Unauthenticated):
        downscope(exchange, token)
    assert exchange.introspect(token) is None


# item 1: revoked tokens, expiry ------------------------------------------------------------------
def test_a_revoked_token_stays_dead_past_its_exp_and_its_record_outlives_every_check(
    live: LiveTokens, exchange: TokenExchange, tokens: TokenCore, reports: Workload, store: SqlStore, clock: FakeClock
) -> None:
    """Revoked, then checked at exp - 1 s, at exp and 10 s after (the old 30 s leeway window):
    refused each time; the revocation record is kept until exp + the margin."""
    minted = attest(exchange, reports.assertion(), requested_ttl=timedelta(seconds=60)).minted
    exchange.revoke(minted.token, by=principal_of(tokens, attest(exchange, reports.assertion())))
    for offset in (timedelta(seconds=59), timedelta(seconds=60), timedelta(seconds=70)):
        clock.set(minted.expires_at - timedelta(seconds=60) + offset)
        assert exchange.introspect(minted.token) is None
        with pytest.raises(Unauthenticated):
            live.verify(minted.token)
    assert store.is_token_revoked(minted.jti, minted.expires_at + REVOCATION_MARGIN - SECOND)
    assert not store.is_token_revoked(minted.jti, minted.expires_at + REVOCATION_MARGIN)


def test_an_expired_token_introspects_as_inactive_at_once(
    exchange: TokenExchange, reports: Workload, clock: FakeClock
) -> None:
    """Active a microsecond before exp; inactive at exp, with no leeway."""
    minted = attest(exchange, reports.assertion(), requested_ttl=timedelta(seconds=30)).minted
    clock.set(minted.expires_at - timedelta(microseconds=1))
    assert exchange.introspect(minted.token) is not None
    clock.set(minted.expires_at)
    assert exchange.introspect(minted.token) is None


# item 2: identities that were disabled, narrowed, deleted ---------------------------------------
def _admin(registry: IdentityRegistry, clock: FakeClock) -> Workload:
    return Workload(registry, clock, "ops", SA, allowed_scopes=(ADMIN_SCOPE, "docs.read"))


Change = Callable[[IdentityRegistry, Workload], None]


def _disable_then_enable(registry: IdentityRegistry, who: Workload) -> None:
    registry.update(who.id, {"disabled": True}, by=OPERATOR)
    registry.update(who.id, {"disabled": False}, by=OPERATOR)


def _remove_key_cut_scopes_enable(registry: IdentityRegistry, who: Workload) -> None:
    registry.update(who.id, {"disabled": True}, by=OPERATOR)
    registry.remove_key(who.id, keys.thumbprint(keys.public_jwk(who.key)), by=OPERATOR)
    registry.update(who.id, {"allowed_scopes": ("docs.read",)}, by=OPERATOR)
    registry.update(who.id, {"disabled": False}, by=OPERATOR)


def _cut_then_restore_a_scope(registry: IdentityRegistry, who: Workload) -> None:
    registry.update(who.id, {"allowed_scopes": ("docs.read",)}, by=OPERATOR)
    registry.update(who.id, {"allowed_scopes": (ADMIN_SCOPE, "docs.read")}, by=OPERATOR)


def _delete_and_recreate(registry: IdentityRegistry, who: Workload) -> None:
    before = registry.get(who.id)
    registry.delete(who.id, by=OPERATOR)
    registry.create(dataclasses.replace(before, etag="", create_time=None, tokens_valid_from=None), by=OPERATOR)


def _move_tenant(registry: IdentityRegistry, who: Workload) -> None:
    registry.update(who.id, {"tenant": "other"}, by=OPERATOR)
    registry.update(who.id, {"tenant": ""}, by=OPERATOR)


@pytest.mark.parametrize(
    "change",
    [
        _disable_then_enable,
        _remove_key_cut_scopes_enable,
        _cut_then_restore_a_scope,
        _delete_and_recreate,
        _move_tenant,
    ],
)
def test_a_token_issued_before_its_identity_was_narrowed_is_dead_for_good(
    live: LiveTokens, exchange: TokenExchange, registry: IdentityRegistry, clock: FakeClock, change: Change
) -> None:
    """A stolen broker.admin token from before the change never works again, though the identity
    ends up allowing as much as before; a token issued after the change works."""
    ops = _admin(registry, clock)
    stolen = attest(exchange, ops.assertion()).minted.token
    assert ADMIN_SCOPE in live.verify(stolen).scopes
    clock.advance(SECOND)
    change(registry, ops)
    clock.advance(SECOND)
    _every_path_refuses(exchange, live, stolen)
    if registry.get(ops.id).key(keys.thumbprint(keys.public_jwk(ops.key))) is None:  # the key was removed
        registry.add_key(ops.id, registry.make_key(json.dumps(keys.public_jwk(ops.key))), by=OPERATOR)
    fresh = attest(exchange, ops.assertion(), scopes=["docs.read"]).minted.token
    assert live.verify(fresh).scopes == ("docs.read",)


def test_a_token_issued_in_the_same_second_after_an_enable_works(
    live: LiveTokens, exchange: TokenExchange, registry: IdentityRegistry, clock: FakeClock
) -> None:
    """The cut-off is to the millisecond (the jti's mint time), not iat's whole second."""
    ops = _admin(registry, clock)
    clock.advance(timedelta(milliseconds=100))
    before = attest(exchange, ops.assertion()).minted.token
    clock.advance(timedelta(milliseconds=100))
    _disable_then_enable(registry, ops)
    clock.advance(timedelta(milliseconds=100))
    after = attest(exchange, ops.assertion()).minted.token
    assert (
        jwt.decode(before, options={"verify_signature": False})["iat"]
        == jwt.decode(after, options={"verify_signature": False})["iat"]
    )
    _every_path_refuses(exchange, live, before)
    assert live.verify(after).subject == "ops"


def test_a_scope_removed_from_the_identity_kills_the_tokens_carrying_it(
    live: LiveTokens, exchange: TokenExchange, registry: IdentityRegistry, reports: Workload, clock: FakeClock
) -> None:
    """Even a token cached by a stale replica (issued after the cut) may not carry a scope no longer allowed."""
    token = attest(exchange, reports.assertion(), scopes=["docs.write"]).minted.token
    registry.update(reports.id, {"allowed_scopes": ("docs.read",)}, by=OPERATOR)
    _every_path_refuses(exchange, live, token)
    stale = registry.get(reports.id)
    assert "docs.write" not in stale.allowed_scopes


def test_an_agent_disabled_and_enabled_again_ends_its_delegated_tokens(
    live: LiveTokens,
    exchange: TokenExchange,
    registry: IdentityRegistry,
    reports: Workload,
    agent: Workload,
    clock: FakeClock,
) -> None:
    """The actor chain is held to the same rule: the delegated token dies with the agent's disable."""
    subject = attest(exchange, reports.assertion(), scopes=["docs.read"], audiences=[DOCS]).minted.token
    delegated = delegate(exchange, subject, agent.assertion()).minted.token
    assert live.verify(delegated).actors[0]["client_id"] == "summarizer"
    clock.advance(SECOND)
    _disable_then_enable(registry, agent)
    _every_path_refuses(exchange, live, delegated)
    registry.update(agent.id, {"delegable_scopes": ("docs.read", "docs.write")}, by=OPERATOR)
    fresh = delegate(exchange, subject, agent.assertion()).minted.token
    assert live.verify(fresh).subject == "reports"
    registry.update(agent.id, {"delegable_scopes": ("docs.write",)}, by=OPERATOR)
    _every_path_refuses(exchange, live, fresh)


def test_an_unknown_kind_or_a_foreign_trust_domain_names_no_identity(
    live: LiveTokens, exchange: TokenExchange, tokens: TokenCore
) -> None:
    """A validly signed token whose subject the broker cannot re-check is refused, failing closed."""
    forged = tokens.mint(
        subject="ops", client_id="ops", kind="robot", tenant="", scopes=[ADMIN_SCOPE], audiences=[ISSUER],
        ttl=timedelta(minutes=5),
    )  # fmt: skip
    with pytest.raises(Unauthenticated):
        live.verify(forged.token)


# item 16: wildcard scopes ---------------------------------------------------------------------------
def test_a_narrower_instance_of_a_wildcard_scope_is_granted_and_carried(
    exchange: TokenExchange, registry: IdentityRegistry, clock: FakeClock
) -> None:
    """read:* may ask for read:orders-db (and gets exactly that); read:* itself; never another prefix."""
    reader = Workload(registry, clock, "reader", SA, allowed_scopes=("broker.secrets.read:*",))
    narrow = attest(exchange, reader.assertion(), scopes=["broker.secrets.read:orders-db"])
    assert narrow.scopes == ("broker.secrets.read:orders-db",)
    assert narrow.minted.claims["scope"] == "broker.secrets.read:orders-db"
    assert attest(exchange, reader.assertion()).scopes == ("broker.secrets.read:*",)
    for refused in ("broker.secrets.verify:orders-db", "broker.secrets.read:", "broker.secrets.reader:x"):
        with pytest.raises(PermissionDenied):
            attest(exchange, reader.assertion(), scopes=[refused])
    wide = attest(exchange, reader.assertion()).minted.token
    assert downscope(exchange, wide, scopes=["broker.secrets.read:db"]).scopes == ("broker.secrets.read:db",)


# item 24: assertions without a kid ---------------------------------------------------------------------
def test_an_assertion_without_a_kid_uses_the_one_active_key_of_its_alg(
    exchange: TokenExchange, registry: IdentityRegistry, reports: Workload, clock: FakeClock
) -> None:
    """PyJWT's default (no kid) works with one key; with two keys of the alg the kid is required, said so in the log."""
    iat = int(clock.now().timestamp())
    claims = {"iss": "reports", "sub": "reports", "aud": ISSUER, "iat": iat}
    plain = jwt.encode({**claims, "exp": iat + 60, "jti": "a1"}, reports.key, algorithm="ES256")
    assert jwt.get_unverified_header(plain).get("kid") is None
    assert attest(exchange, plain).minted.claims["sub"] == "reports"
    second = Workload(registry, clock, "spare", SA)
    registry.add_key(reports.id, registry.make_key(json.dumps(keys.public_jwk(second.key))), by=OPERATOR)
    again = jwt.encode({**claims, "exp": iat + 60, "jti": "a2"}, reports.key, algorithm="ES256")
    with pytest.raises(Unauthenticated) as refused:
        attest(exchange, again)
    assert refused.value.detail == "kid required: 2 active ES256 keys on the identity"

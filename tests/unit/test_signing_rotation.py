"""Signing-key rotation with the fake clock: published before it signs, retired after its last token."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.core import jwk as jwks
from broker.core import jws
from broker.core.algorithms import SIGNING
from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.errors import Unauthenticated
from broker.core.keys import Keyring, new_record, publish_lead
from broker.core.secrets import SecretManager
from broker.core.tokens import TokenCore
from broker.scheduler import Scheduler
from broker.store.sql import SqlStore
from tests.unit.conftest import ISSUER

DAY = timedelta(hours=24)
CACHE = timedelta(minutes=5)
TICK = timedelta(seconds=10)
LEAD = publish_lead(CACHE, TICK)
MAX_TTL = timedelta(hours=1)  # the keyring fixture's
LEEWAY = timedelta(seconds=60)  # the keyring's default
US = timedelta(microseconds=1)


def mint(tokens: TokenCore, ttl: timedelta = MAX_TTL) -> str:
    return tokens.mint(
        subject="payments",
        client_id="payments",
        kind="service_account",
        tenant="",
        scopes=["a"],
        audiences=[ISSUER],
        ttl=ttl,
    ).token


def kid_of(token: str) -> str:
    kid = jws.parse(token, algorithms=frozenset(SIGNING)).kid
    assert kid is not None
    return kid


def kids(keyring: Keyring, clock: FakeClock) -> list[str]:
    return [k["kid"] for k in keyring.jwks(clock.now())["keys"]]


def test_the_publish_lead_outlasts_the_jwks_cache_and_a_replica_refresh() -> None:
    """A NEXT key is published longer before activation than verifiers cache the JWKS plus a refresh."""
    assert LEAD > CACHE + TICK


def test_the_next_key_is_published_a_lead_before_it_signs(
    keyring: Keyring, tokens: TokenCore, clock: FakeClock
) -> None:
    """Nothing before interval - lead; then a NEXT key in the JWKS that signs only from its activation."""
    start = clock.now()
    (first,) = kids(keyring, clock)
    clock.set(start + DAY - LEAD - US)
    assert keyring.rotate(clock.now(), interval=DAY, publish_lead=LEAD).added is None
    clock.set(start + DAY - LEAD)
    done = keyring.rotate(clock.now(), interval=DAY, publish_lead=LEAD)
    assert done.added is not None and done.activate_time == start + DAY
    assert kids(keyring, clock) == [first, done.added]
    assert keyring.rotate(clock.now(), interval=DAY, publish_lead=LEAD).added is None  # one NEXT at a time

    clock.set(start + DAY - US)
    assert kid_of(mint(tokens)) == first
    clock.set(start + DAY)
    assert kid_of(mint(tokens)) == done.added


def test_after_downtime_the_next_key_still_waits_a_full_lead(
    keyring: Keyring, tokens: TokenCore, clock: FakeClock
) -> None:
    """Three days late, the new key activates at now + lead, not at once: it is never unpublished when it signs."""
    start = clock.now()
    (first,) = kids(keyring, clock)
    clock.set(start + 3 * DAY)
    done = keyring.rotate(clock.now(), interval=DAY, publish_lead=LEAD)
    assert done.activate_time == clock.now() + LEAD
    assert kid_of(mint(tokens)) == first
    clock.advance(LEAD)
    assert kid_of(mint(tokens)) == done.added


def test_tokens_of_a_retired_key_verify_until_they_expire_then_the_key_is_deleted(
    store: SqlStore, keyring: Keyring, tokens: TokenCore, clock: FakeClock
) -> None:
    """The old key stays published through successor activation + max TTL + leeway, then goes."""
    start = clock.now()
    (first,) = kids(keyring, clock)
    clock.set(start + DAY - LEAD)
    keyring.rotate(clock.now(), interval=DAY, publish_lead=LEAD)
    clock.set(start + DAY - US)
    last_old = mint(tokens)  # the last token the old key signs, with the longest lifetime
    retire_at = start + DAY + MAX_TTL + LEEWAY

    clock.set(start + DAY - timedelta(seconds=1) + MAX_TTL - US)  # its exp (whole-second iat + max TTL), nearly
    assert tokens.verify(last_old, audience=ISSUER).subject == "payments"
    clock.set(retire_at - US)
    assert keyring.rotate(clock.now(), interval=DAY, publish_lead=LEAD).deleted == ()
    assert first in kids(keyring, clock)
    clock.set(retire_at)
    assert keyring.rotate(clock.now(), interval=DAY, publish_lead=LEAD).deleted == (first,)
    assert first not in kids(keyring, clock)
    assert first not in {r.kid for r in store.list_signing_keys()}
    with pytest.raises(Unauthenticated) as refused:
        tokens.verify(last_old, audience=None)
    assert refused.value.detail in {"unknown kid", "expired"}


def test_a_token_signed_by_a_key_that_was_never_published_is_refused(
    keyring: Keyring, tokens: TokenCore, clock: FakeClock
) -> None:
    """A well-formed token whose kid is not in the JWKS fails with 'unknown kid', whatever its claims."""
    stray = new_record("ES256", clock.now(), clock.now())
    genuine = mint(tokens)
    header, claims, _ = genuine.split(".")
    forged_header = jws.encode_json({"alg": "ES256", "kid": stray.kid, "typ": "at+jwt"})
    signing_input = f"{forged_header}.{claims}"
    private = jwks.private_key_from_pem(stray.private_pem.reveal())
    signature = SIGNING["ES256"].sign(signing_input.encode(), private)
    forged = f"{signing_input}.{jws.b64encode(signature)}"
    assert header != forged_header
    with pytest.raises(Unauthenticated) as refused:
        tokens.verify(forged, audience=None)
    assert refused.value.detail == "unknown kid"
    assert tokens.verify(genuine, audience=None).subject == "payments"


def test_only_the_leader_rotates_and_every_replica_learns_the_next_key_before_it_activates(
    store: SqlStore, keyring: Keyring, clock: FakeClock
) -> None:
    """Two schedulers on one store: the leader adds the key; the follower's refresh job publishes it too."""
    other = Keyring(store, clock, alg="ES256", max_token_ttl=MAX_TTL)
    other.refresh()
    secrets = SecretManager(store, clock, Auditor(store, clock))

    def scheduler(ring: Keyring, holder: str) -> Scheduler:
        return Scheduler(
            store,
            secrets,
            ring,
            Auditor(store, clock),
            clock,
            tick=TICK,
            lease_ttl=3 * TICK,
            signing_key_rotation=DAY,
            jwks_cache_ttl=CACHE,
            holder=holder,
        )

    leader, follower = scheduler(keyring, "leader"), scheduler(other, "follower")
    clock.advance(DAY - LEAD)
    leader.run_now("lease")
    follower.run_now("lease")
    assert leader.is_leader() and not follower.is_leader()
    follower.run_now("rotate_signing_keys")
    assert len(kids(other, clock)) == 1
    leader.run_now("rotate_signing_keys")
    assert len(kids(keyring, clock)) == 2
    follower.run_now("refresh_keyring")
    assert kids(other, clock) == kids(keyring, clock)
    assert other.signing_key(clock.now()).kid == keyring.signing_key(clock.now()).kid

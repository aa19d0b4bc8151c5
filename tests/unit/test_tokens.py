"""The token core: mint, verify, the keyring's published set, and claim policy with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from broker.core import jwk as jwks
from broker.core.clock import FakeClock
from broker.core.errors import Unauthenticated
from broker.core.keys import Keyring, SigningKeyRecord, new_record
from broker.core.tokens import TokenCore, issued_at
from broker.store.sql import SqlStore
from tests.unit.conftest import ISSUER


def _mint(tokens: TokenCore, **overrides: object) -> str:
    fields: dict[str, object] = {
        "subject": "payments",
        "client_id": "payments",
        "kind": "service_account",
        "tenant": "acme",
        "scopes": ["a", "b"],
        "audiences": [ISSUER],
        "ttl": timedelta(minutes=5),
    }
    fields.update(overrides)
    return tokens.mint(**fields).token  # type: ignore[arg-type]  # one type for every field's override


def test_minted_token_verifies_with_pyjwt_and_the_jwks(tokens: TokenCore, keyring: Keyring, clock: FakeClock) -> None:
    """A minted token is a standard ES256 JWS that PyJWT verifies with the published JWK."""
    token = _mint(tokens)
    (jwk,) = keyring.jwks(clock.now())["keys"]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        token,
        key,
        algorithms=["ES256"],
        audience=ISSUER,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["scope"] == "a b"
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": jwk["kid"], "typ": "at+jwt"}


def test_verify_round_trip_and_audience(tokens: TokenCore) -> None:
    """verify returns the claims; a required audience not in aud is refused."""
    token = _mint(tokens, audiences=["https://api.example"])
    assert tokens.verify(token, audience=None).scopes == ("a", "b")
    with pytest.raises(Unauthenticated):
        tokens.verify(token, audience=ISSUER)


def test_a_broker_token_is_dead_at_its_exp_with_no_leeway(tokens: TokenCore, clock: FakeClock) -> None:
    """The broker signs its tokens itself: valid until exp, refused from exp on (no clock-skew allowance)."""
    token = _mint(tokens, ttl=timedelta(seconds=60))
    clock.advance(timedelta(seconds=60) - timedelta(microseconds=1))
    tokens.verify(token, audience=None)
    clock.advance(timedelta(microseconds=1))
    with pytest.raises(Unauthenticated) as refused:
        tokens.verify(token, audience=None)
    assert refused.value.detail == "expired"


def test_nbf_and_iat_allow_a_replicas_small_clock_skew_only(tokens: TokenCore, clock: FakeClock) -> None:
    """A token minted by a replica whose clock is 5 s ahead verifies; 6 s ahead is refused."""
    token = _mint(tokens, ttl=timedelta(seconds=60))
    clock.advance(timedelta(seconds=-5))
    tokens.verify(token, audience=None)
    clock.advance(timedelta(seconds=-1))
    with pytest.raises(Unauthenticated):
        tokens.verify(token, audience=None)


def test_the_jti_tells_the_broker_the_mint_time_to_the_millisecond(tokens: TokenCore, clock: FakeClock) -> None:
    """issued_at reads the jti's millisecond time; iat stays whole seconds for other verifiers."""
    clock.advance(timedelta(milliseconds=1234))
    minted = tokens.mint(
        subject="s", client_id="c", kind="service_account", tenant="", scopes=[], audiences=[ISSUER],
        ttl=timedelta(minutes=1),
    )  # fmt: skip
    claims = tokens.verify(minted.token, audience=None)
    assert claims.issued_at == clock.now().replace(microsecond=clock.now().microsecond // 1000 * 1000)
    assert claims.claims["iat"] == int(clock.now().timestamp())
    assert issued_at({**claims.claims, "jti": "abcdefabcde" + "x" * 22}) == datetime.fromtimestamp(
        claims.claims["iat"], UTC
    )  # a jti whose head is hex but not the mint time (an older token's random id): iat


def test_not_after_caps_expiry(tokens: TokenCore, clock: FakeClock) -> None:
    """exp never passes not_after (delegated and down-scoped tokens)."""
    cap = clock.now() + timedelta(seconds=30)
    minted = tokens.mint(
        subject="s",
        client_id="c",
        kind="service_account",
        tenant="",
        scopes=[],
        audiences=[ISSUER],
        ttl=timedelta(hours=1),
        not_after=cap,
    )
    assert minted.expires_at == cap


def test_tampered_payload_and_signature_are_refused(tokens: TokenCore) -> None:
    """Any change to the signed bytes makes verification fail."""
    token = _mint(tokens)
    head, body, sig = token.split(".")
    other = _mint(tokens, scopes=["admin"]).split(".")[1]
    with pytest.raises(Unauthenticated):
        tokens.verify(f"{head}.{other}.{sig}", audience=None)
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    with pytest.raises(Unauthenticated):
        tokens.verify(f"{head}.{body}.{flipped}", audience=None)


def test_revoked_token_is_refused(tokens: TokenCore, store: SqlStore, clock: FakeClock) -> None:
    """A revoked jti fails verification until its expiry."""
    minted = tokens.mint(
        subject="s",
        client_id="c",
        kind="service_account",
        tenant="",
        scopes=[],
        audiences=[ISSUER],
        ttl=timedelta(minutes=5),
    )
    store.revoke_token(minted.jti, minted.expires_at)
    with pytest.raises(Unauthenticated) as info:
        tokens.verify(minted.token, audience=None)
    assert info.value.detail == "revoked"


def test_keyring_next_key_is_published_before_it_signs(store: SqlStore, keyring: Keyring, clock: FakeClock) -> None:
    """A NEXT key is in the JWKS but does not sign until its activate_time."""
    first = keyring.signing_key(clock.now()).kid
    nxt = new_record("ES256", clock.now(), clock.now() + timedelta(minutes=10))
    store.add_signing_key(nxt)
    keyring.refresh()
    kids = {k["kid"] for k in keyring.jwks(clock.now())["keys"]}
    assert kids == {first, nxt.kid}
    assert keyring.signing_key(clock.now()).kid == first
    clock.advance(timedelta(minutes=10))
    assert keyring.signing_key(clock.now()).kid == nxt.kid


def test_retired_key_stays_published_until_its_tokens_expired(
    store: SqlStore, keyring: Keyring, tokens: TokenCore, clock: FakeClock
) -> None:
    """A PREVIOUS key verifies until successor activation + max TTL + leeway, then is gone."""
    old_token = _mint(tokens, ttl=timedelta(hours=1))
    clock.advance(timedelta(seconds=1))
    successor = new_record("ES256", clock.now(), clock.now())
    store.add_signing_key(successor)
    keyring.refresh()
    tokens.verify(old_token, audience=None)
    clock.advance(timedelta(hours=1, seconds=58))
    assert len(keyring.jwks(clock.now())["keys"]) == 2
    clock.advance(timedelta(seconds=2))
    assert [k["kid"] for k in keyring.jwks(clock.now())["keys"]] == [successor.kid]
    assert keyring.expired_kids(clock.now()) != []


def test_unknown_kid_is_refused(tokens: TokenCore, clock: FakeClock, store: SqlStore) -> None:
    """A token signed by a key never published does not verify."""
    never_published = new_record("ES256", clock.now(), clock.now())
    payload = {"iss": ISSUER, "sub": "x", "aud": ISSUER, "exp": 9999999999, "jti": "j"}
    rogue = jwt.encode(
        payload,
        jwks.private_key_from_pem(never_published.private_pem.reveal()),
        algorithm="ES256",
        headers={"kid": never_published.kid, "typ": "at+jwt"},
    )
    with pytest.raises(Unauthenticated) as info:
        tokens.verify(rogue, audience=None)
    assert info.value.detail == "unknown kid"


def test_a_key_created_by_another_replica_verifies_at_once(
    store: SqlStore, keyring: Keyring, tokens: TokenCore, clock: FakeClock
) -> None:
    """Replica B's fresh key is unknown to A's keyring: A reloads once and verifies B's token."""
    other = Keyring(store, clock, alg="ES256", max_token_ttl=timedelta(hours=1))
    clock.advance(timedelta(seconds=5))
    store.add_signing_key(new_record("ES256", clock.now(), clock.now()))
    other.refresh()
    other_tokens = TokenCore(other, clock, issuer=ISSUER)
    token = _mint(other_tokens)
    assert tokens.verify(token, audience=None).subject == "payments"


class _CountingKeyStore:
    """The real store, counting how often the keyring reads its keys."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.reads = 0

    def list_signing_keys(self) -> list[SigningKeyRecord]:
        self.reads += 1
        return self.store.list_signing_keys()

    def add_signing_key(self, record: SigningKeyRecord) -> None:
        self.store.add_signing_key(record)

    def delete_signing_key(self, kid: str) -> None:
        self.store.delete_signing_key(kid)


def test_unknown_kids_reload_the_keyring_at_most_once_a_second(
    store: SqlStore, keyring: Keyring, clock: FakeClock
) -> None:
    """A burst of made-up kids costs one store read per second, not one per token."""
    counting = _CountingKeyStore(store)
    ring = Keyring(counting, clock, alg="ES256", max_token_ttl=timedelta(hours=1))
    ring.refresh()
    clock.advance(timedelta(seconds=5))
    for n in range(20):
        assert ring.verification_key(f"made-up-{n}", clock.now()) is None
    assert counting.reads == 2
    clock.advance(timedelta(seconds=1))
    assert ring.verification_key("made-up-again", clock.now()) is None
    assert counting.reads == 3

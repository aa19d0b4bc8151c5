"""The Verifier: local checks of broker tokens against the cached JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import grpc
import jwt
import pytest
from _support import FakeClock
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker_client import InvalidToken, KeysUnavailable, Verifier
from broker_client.testing import FakeBroker

API = "https://payments.example.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, object], claims: dict[str, object], signature: bytes = b"") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)])


def _claims(fake: FakeBroker, **extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": fake.issuer, "sub": "w", "aud": API, "iat": now, "nbf": now, "exp": now + 300, **extra}


@pytest.fixture
def verifier(fake: FakeBroker) -> Verifier:
    return Verifier(fake.address, API, refetch_interval=30.0)


def test_accepts_a_broker_token_for_its_audience(fake: FakeBroker, verifier: Verifier) -> None:
    """A token minted for the audience verifies; its claims are returned."""
    verified = verifier.verify(fake.mint("payments", scopes=["payments.read"], audiences=[API]))
    assert verified.subject == "payments"
    assert verified.scopes == {"payments.read"}
    assert verified.audiences == (API,)
    assert verified.expires_at > time.time()


def test_accepts_jwt_typ_and_a_list_audience(fake: FakeBroker, verifier: Verifier) -> None:
    """typ JWT (a JWT-SVID) and aud as a list holding the audience are accepted."""
    verifier.verify(fake.mint("w", audiences=[API, "https://other"], typ="JWT"))


def test_hot_path_makes_no_broker_call(fake: FakeBroker, verifier: Verifier) -> None:
    """After the first JWKS fetch, verifying many tokens calls the broker no more."""
    for _ in range(20):
        verifier.verify(fake.mint("w", audiences=[API]))
    assert fake.count("GetJwks") == 1


def test_rejects_alg_none(fake: FakeBroker, verifier: Verifier) -> None:
    """An unsigned token (alg none) is refused before any key lookup."""
    token = _unsigned({"alg": "none", "typ": "at+jwt", "kid": fake.kid}, _claims(fake))
    with pytest.raises(InvalidToken, match="algorithm 'none' is not allowed"):
        verifier.verify(token)


def test_rejects_hs256_signed_with_the_public_key(fake: FakeBroker, verifier: Verifier) -> None:
    """The classic key-confusion attack: HMAC over the token with the public key as secret is refused."""
    public_pem = fake.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": fake.kid}
    signing_input = ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(_claims(fake)).encode())])
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="HS256"):
        verifier.verify(f"{signing_input}.{_b64(signature)}")


def test_rejects_a_wrong_audience(fake: FakeBroker, verifier: Verifier) -> None:
    """A token minted for another service is refused."""
    with pytest.raises(InvalidToken, match="wrong audience"):
        verifier.verify(fake.mint("w", audiences=["https://other.example.com"]))


def test_rejects_an_expired_token(fake: FakeBroker, verifier: Verifier) -> None:
    """A token past exp (beyond the leeway) is refused."""
    past = int(time.time()) - 120
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(fake.mint("w", audiences=[API], claims={"iat": past - 60, "nbf": past - 60, "exp": past}))


def test_leeway_accepts_a_token_expired_seconds_ago(fake: FakeBroker, verifier: Verifier) -> None:
    """Within the small leeway (10s) a just-expired token still passes."""
    just = int(time.time()) - 3
    verifier.verify(fake.mint("w", audiences=[API], claims={"iat": just - 60, "nbf": just - 60, "exp": just}))


def test_clock_is_injected(fake: FakeBroker) -> None:
    """With the Verifier's clock moved past exp, the same token is refused; before nbf, too."""
    clock = FakeClock(time.time())
    verifier = Verifier(fake.address, API, now=clock)
    token = fake.mint("w", audiences=[API], ttl=60)
    verifier.verify(token)
    clock.advance(100)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)
    clock.advance(-1000)
    with pytest.raises(InvalidToken, match="not valid yet"):
        verifier.verify(token)


def test_rejects_an_unknown_kid_after_one_refetch(fake: FakeBroker, verifier: Verifier) -> None:
    """A kid absent from the refetched JWKS is refused; the refetch happened once and is rate-limited."""
    verifier.verify(fake.mint("w", audiences=[API]))
    stranger = ec.generate_private_key(ec.SECP256R1())
    for _ in range(3):
        with pytest.raises(InvalidToken, match="unknown kid"):
            verifier.verify(fake.mint("w", audiences=[API], key=stranger, kid="stranger"))
    assert fake.count("GetJwks") == 2


def test_unknown_kid_of_a_rotated_key_is_found_by_the_refetch(fake: FakeBroker, verifier: Verifier) -> None:
    """After the broker rotates its signing key, the first token with the new kid triggers a refetch and passes."""
    verifier.verify(fake.mint("w", audiences=[API]))
    fake.rotate_signing_key()
    verifier.verify(fake.mint("w", audiences=[API]))
    assert fake.count("GetJwks") == 2


def test_refetch_is_allowed_again_after_the_interval(fake: FakeBroker) -> None:
    """Once refetch_interval has passed, another unknown kid triggers another fetch."""
    clock = FakeClock(time.time())
    verifier = Verifier(fake.address, API, refetch_interval=30.0, now=clock)
    verifier.verify(fake.mint("w", audiences=[API]))
    fake.rotate_signing_key()
    clock.advance(1)
    verifier.verify(fake.mint("w", audiences=[API]))
    fake.rotate_signing_key()
    with pytest.raises(InvalidToken, match="unknown kid"):
        verifier.verify(fake.mint("w", audiences=[API]))
    clock.advance(31)
    verifier.verify(fake.mint("w", audiences=[API], claims={"iat": int(clock.now), "nbf": int(clock.now)}))
    assert fake.count("GetJwks") == 3


def test_rejects_a_missing_scope(fake: FakeBroker) -> None:
    """Scopes required by the Verifier or by the call must all be granted."""
    verifier = Verifier(fake.address, API, scopes=["payments.read"])
    token = fake.mint("w", scopes=["payments.read"], audiences=[API])
    verifier.verify(token)
    with pytest.raises(InvalidToken, match=r"missing scope payments\.write"):
        verifier.verify(token, scopes=["payments.write"])
    with pytest.raises(InvalidToken, match=r"missing scope payments\.read"):
        verifier.verify(fake.mint("w", scopes=["other"], audiences=[API]))


def test_rejects_a_wrong_issuer(fake: FakeBroker, verifier: Verifier) -> None:
    """A token whose iss is not the broker's is refused even when its signature checks."""
    with pytest.raises(InvalidToken, match="wrong issuer"):
        verifier.verify(fake.mint("w", audiences=[API], claims={"iss": "https://evil"}))


def test_rejects_other_typ(fake: FakeBroker, verifier: Verifier) -> None:
    """Only at+jwt and JWT are accepted as typ (e.g. not a logout or id token type)."""
    with pytest.raises(InvalidToken, match="typ"):
        verifier.verify(fake.mint("w", audiences=[API], typ="logout+jwt"))


def test_rejects_a_tampered_token(fake: FakeBroker, verifier: Verifier) -> None:
    """Changing the claims after signing breaks the signature."""
    header, _, signature = fake.mint("w", scopes=["a"], audiences=[API]).split(".")
    forged = _b64(json.dumps(_claims(fake, scope="a admin")).encode())
    with pytest.raises(InvalidToken, match="bad signature"):
        verifier.verify(f"{header}.{forged}.{signature}")


def test_rejects_garbage_and_oversized_tokens(verifier: Verifier) -> None:
    """Malformed and oversized input is refused with InvalidToken, not another exception."""
    for token in ("", "abc", "a.b.c", "x" * 20_000):
        with pytest.raises(InvalidToken):
            verifier.verify(token)


def test_jwks_url_mode_needs_the_issuer(fake: FakeBroker) -> None:
    """With a JWKS URL the issuer must be named; then tokens verify from HTTP-fetched keys."""
    with pytest.raises(ValueError, match="issuer"):
        Verifier(fake.jwks_url, API)
    verifier = Verifier(fake.jwks_url, API, issuer=fake.issuer)
    verifier.verify(fake.mint("w", audiences=[API]))
    assert fake.count("jwks.json") == 1 and fake.count("GetJwks") == 0


def test_keys_unavailable_when_the_first_fetch_fails(fake: FakeBroker) -> None:
    """If the JWKS was never fetched and cannot be, KeysUnavailable (not InvalidToken) is raised."""
    fake.fail("GetJwks", grpc.StatusCode.UNAVAILABLE)
    verifier = Verifier(fake.address, API)
    with pytest.raises(KeysUnavailable):
        verifier.verify(fake.mint("w", audiences=[API]))


def test_cached_keys_survive_a_failed_refetch(fake: FakeBroker) -> None:
    """When a refetch fails, the keys already held keep working."""
    clock = FakeClock(time.time())
    verifier = Verifier(fake.address, API, max_age=60, now=clock)
    token = fake.mint("w", audiences=[API], ttl=3600)
    verifier.verify(token)
    fake.fail("GetJwks", grpc.StatusCode.UNAVAILABLE)
    clock.advance(120)  # stale: a refetch is attempted and fails
    verifier.verify(token)
    assert fake.count("GetJwks") == 2


def test_algorithm_allow_list_is_checked() -> None:
    """Only a non-empty subset of ES256, EdDSA and RS256 may be configured."""
    for algorithms in ([], ["HS256"], ["ES256", "none"]):
        with pytest.raises(ValueError):
            Verifier("127.0.0.1:1", API, algorithms=algorithms)


def test_es256_only_verifier_refuses_a_key_of_another_algorithm(fake: FakeBroker) -> None:
    """A verifier limited to RS256 refuses ES256 tokens even though the key is published."""
    verifier = Verifier(fake.address, API, algorithms=["RS256"])
    with pytest.raises(InvalidToken, match="ES256"):
        verifier.verify(fake.mint("w", audiences=[API]))


def test_signature_by_a_different_published_key_is_refused(fake: FakeBroker, verifier: Verifier) -> None:
    """A token naming one published kid but signed with another published key fails the signature check."""
    old_kid = fake.kid
    fake.rotate_signing_key()
    token = fake.mint("w", audiences=[API], kid=old_kid, key=fake.signing_key)
    with pytest.raises(InvalidToken, match="bad signature"):
        verifier.verify(token)


def test_verifier_error_names_no_token_content(fake: FakeBroker, verifier: Verifier) -> None:
    """InvalidToken carries a reason, never the token itself."""
    token = fake.mint("w", audiences=["https://other"])
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    assert token not in str(caught.value) and caught.value.reason == "wrong audience"
    assert jwt.get_unverified_header(token)["kid"] == fake.kid

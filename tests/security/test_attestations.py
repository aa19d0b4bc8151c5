"""Attacks on ExchangeToken's attestations (self-signed assertions and a trusted issuer's JWTs),
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
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.harness import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT
from tests.security.conftest import Actors, Target
from tests.security.issuer_kit import BROKER_AUDIENCE, TestIssuer, b64url, forge, jwks_server, kubernetes_claims

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("security")]  # one worker: test_zz_logs reads their log

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
LEEWAY = 30
MARGIN = 5  # "just inside/outside" the leeway, with room for a slow machine


def _assertion_claims(target: Target, workload_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": workload_id, "sub": workload_id, "aud": target.issuer, "iat": now}
    claims.update({"exp": now + 60, "jti": f"j-{time.monotonic_ns()}", **changes})
    return claims


def _k8s_claims(target: Target, **changes: Any) -> dict[str, Any]:
    claims = kubernetes_claims(target.k8s.url, namespace="apps", service_account="web")
    claims.update(changes)
    return claims


# algorithms --------------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_capitalisation_is_unauthenticated(target: Target, actors: Actors, alg: str) -> None:
    """An unsigned assertion or issuer token, whatever the case of 'none', is UNAUTHENTICATED."""
    assertion = forge({"alg": alg, "kid": actors.victim.kid}, _assertion_claims(target, "victim"), signature=b"")
    k8s = forge({"alg": alg, "kid": target.k8s.kid}, _k8s_claims(target), signature=b"")
    assert target.exchange_code(assertion) == UNAUTHENTICATED
    assert target.exchange_code(assertion.rstrip(".") + ".AA") == UNAUTHENTICATED
    assert target.exchange_code(k8s) == UNAUTHENTICATED


def test_hs256_signed_with_a_public_key_is_unauthenticated(target: Target, actors: Actors) -> None:
    """HMAC keyed with the issuer's or the identity's public key (key confusion) is UNAUTHENTICATED."""
    k8s = forge({"alg": "HS256", "kid": target.k8s.kid}, _k8s_claims(target), hmac_secret=target.k8s.public_pem)
    victim_pem = actors.victim.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assertion = forge(
        {"alg": "HS256", "kid": actors.victim.kid}, _assertion_claims(target, "victim"), hmac_secret=victim_pem
    )
    assert target.exchange_code(k8s) == UNAUTHENTICATED
    assert target.exchange_code(assertion) == UNAUTHENTICATED


def test_an_algorithm_outside_the_issuers_allow_list_is_unauthenticated(target: Target) -> None:
    """The issuer allows RS256 only: PS256 and RS512 with its real key are UNAUTHENTICATED, RS256 is OK."""
    claims = _k8s_claims(target)
    for alg in ("PS256", "RS512"):
        token = jwt.encode(claims, target.k8s.private, algorithm=alg, headers={"kid": target.k8s.kid})
        assert target.exchange_code(token) == UNAUTHENTICATED
    assert target.exchange_code(target.k8s_token()) == OK


# key selection -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kid", ["unknown-kid", "", "../../../../etc/passwd", "/dev/null", "https://evil.example/jwks.json"]
)
def test_unknown_empty_path_and_url_kids_are_unauthenticated(target: Target, actors: Actors, kid: str) -> None:
    """Whatever the kid says, the key comes from the broker's own registry, or nothing verifies."""
    assertion = actors.victim.sign(_assertion_claims(target, "victim"), kid=kid)
    k8s = target.k8s.sign(_k8s_claims(target), {"alg": "RS256", "kid": kid})
    assert target.exchange_code(assertion) == UNAUTHENTICATED
    assert target.exchange_code(k8s) == UNAUTHENTICATED


def test_jku_x5u_and_embedded_jwk_headers_are_never_fetched_or_trusted(target: Target, actors: Actors) -> None:
    """Tokens signed by an attacker's key that point at it (jku, x5u, jwk) are UNAUTHENTICATED;
    the attacker's JWKS server receives no request."""
    ec_attacker = TestIssuer(target.k8s.url, alg="ES256", kid=actors.victim.kid)
    rsa_attacker = TestIssuer(target.k8s.url, alg="RS256", kid=target.k8s.kid)
    with jwks_server(json.dumps({"keys": [ec_attacker.jwk(), rsa_attacker.jwk()]})) as server:
        for name, value in {"jku": server.url, "x5u": server.url, "jwk": ec_attacker.jwk()}.items():
            assertion = ec_attacker.sign(
                _assertion_claims(target, "victim"), {"alg": "ES256", "kid": actors.victim.kid, name: value}
            )
            assert target.exchange_code(assertion) == UNAUTHENTICATED
        for name, value in {"jku": server.url, "x5u": server.url, "jwk": rsa_attacker.jwk()}.items():
            k8s = rsa_attacker.sign(_k8s_claims(target), {"alg": "RS256", "kid": target.k8s.kid, name: value})
            assert target.exchange_code(k8s) == UNAUTHENTICATED
        assert server.requests == []


def test_jwk_headers_do_not_get_in_the_way_of_a_valid_signature(target: Target) -> None:
    """Ignored means ignored: a genuine token that also carries x5t and jku is OK (GitHub sends x5t)."""
    token = target.k8s.sign(_k8s_claims(target), {"alg": "RS256", "kid": target.k8s.kid, "x5t": "abc"})
    assert target.exchange_code(token) == OK


def test_a_crit_header_is_unauthenticated_even_when_correctly_signed(target: Target, actors: Actors) -> None:
    """The broker implements no JWS extension, so a crit header refuses the token."""
    assertion = actors.victim.sign(_assertion_claims(target, "victim", exp2=1), crit=["exp2"])
    assert target.exchange_code(assertion) == UNAUTHENTICATED
    assert target.exchange_code(actors.victim.sign(_assertion_claims(target, "victim"))) == OK


# signatures --------------------------------------------------------------------------------------
def test_a_tampered_payload_or_signature_is_unauthenticated(target: Target, actors: Actors) -> None:
    """Changing one claim or one signature byte of a valid assertion breaks it."""
    valid = target.assertion(actors.victim)
    head, body, sig = valid.split(".")
    other = target.assertion(actors.victim, sub="admin", iss="admin").split(".")[1]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert target.exchange_code(f"{head}.{other}.{sig}") == UNAUTHENTICATED
    assert target.exchange_code(f"{head}.{body}.{flipped}") == UNAUTHENTICATED
    k8s_head, k8s_body, k8s_sig = target.k8s_token().split(".")
    assert target.exchange_code(f"{k8s_head}.{k8s_body}.{k8s_sig[:-4]}AAAA") == UNAUTHENTICATED
    assert target.exchange_code(valid) == OK


def test_an_ecdsa_signature_of_zeros_is_unauthenticated(target: Target, actors: Actors) -> None:
    """r = s = 0 (the "psychic signature") never verifies."""
    token = forge(
        {"alg": "ES256", "kid": actors.victim.kid, "typ": "JWT"},
        _assertion_claims(target, "victim"),
        signature=bytes(64),
    )
    assert target.exchange_code(token) == UNAUTHENTICATED


# time -------------------------------------------------------------------------------------------------
OUTSIDE, INSIDE = LEEWAY + MARGIN, LEEWAY - MARGIN
TIME_CASES = {
    "exp past, outside": ({"iat": -90, "exp": -OUTSIDE}, UNAUTHENTICATED),
    "exp past, inside": ({"iat": -90, "exp": -INSIDE}, OK),
    "nbf future, outside": ({"nbf": OUTSIDE, "exp": 120}, UNAUTHENTICATED),
    "nbf future, inside": ({"nbf": INSIDE, "exp": 120}, OK),
    "iat future, outside": ({"iat": OUTSIDE, "exp": OUTSIDE + 60}, UNAUTHENTICATED),
    "iat future, inside": ({"iat": INSIDE, "exp": INSIDE + 60}, OK),
}


@pytest.mark.parametrize("case", sorted(TIME_CASES))
def test_time_claims_just_outside_and_just_inside_the_leeway(target: Target, actors: Actors, case: str) -> None:
    """exp in the past, nbf and iat in the future: refused beyond the 30 s leeway, accepted within it
    (assertions and issuer tokens alike)."""
    offsets, expected = TIME_CASES[case]
    now = int(time.time())
    times = {name: now + offset for name, offset in offsets.items()}
    assertion = actors.victim.sign(_assertion_claims(target, "victim", **times))
    k8s = target.k8s.sign(_k8s_claims(target, **times), {"alg": "RS256", "kid": target.k8s.kid})
    assert target.exchange_code(assertion) == expected
    assert target.exchange_code(k8s) == expected


def test_an_assertion_living_longer_than_five_minutes_is_unauthenticated(target: Target, actors: Actors) -> None:
    """exp - iat = 301 s is refused; 300 s is OK."""
    now = int(time.time())
    assert target.exchange_code(target.assertion(actors.victim, iat=now, exp=now + 301)) == UNAUTHENTICATED
    assert target.exchange_code(target.assertion(actors.victim, iat=now, exp=now + 300)) == OK


# audience, issuer, token kinds -------------------------------------------------------------------------
def test_a_wrong_audience_is_unauthenticated(target: Target, actors: Actors) -> None:
    """An assertion for another audience, and an issuer token minted for another service."""
    assert target.exchange_code(target.assertion(actors.victim, aud="https://other.example")) == UNAUTHENTICATED
    assert target.exchange_code(target.k8s_token(audience="https://vault.example.com")) == UNAUTHENTICATED
    assert target.exchange_code(target.k8s_token(audience=BROKER_AUDIENCE)) == OK


def test_a_wrong_issuer_is_unauthenticated(target: Target, actors: Actors) -> None:
    """iss != sub in an assertion; an untrusted issuer URL; the trusted issuer's claims signed by another key."""
    assert target.exchange_code(target.assertion(actors.victim, iss="helper-agent")) == UNAUTHENTICATED
    stranger = TestIssuer("https://evil.example")
    assert target.exchange_code(stranger.sign(_k8s_claims(target, iss=stranger.url))) == UNAUTHENTICATED
    impostor = TestIssuer(target.k8s.url, kid=target.k8s.kid)
    assert target.exchange_code(impostor.sign(_k8s_claims(target))) == UNAUTHENTICATED


def test_a_broker_access_token_offered_as_an_attestation_is_unauthenticated(target: Target, actors: Actors) -> None:
    """subject_token_type jwt with one of the broker's own tokens, as subject and as actor."""
    token = target.token_for(actors.victim)
    assert target.exchange_code(token) == UNAUTHENTICATED
    subject = target.token_for(actors.victim, audiences=["https://docs.example.com"])
    assert (
        target.exchange_code(subject, TOKEN_TYPE_ACCESS, actor_token=token, actor_token_type=TOKEN_TYPE_JWT)
        == UNAUTHENTICATED
    )


def test_a_replayed_jti_is_unauthenticated(target: Target, actors: Actors) -> None:
    """An assertion, and a token of the single-use issuer, are accepted exactly once."""
    assertion = target.assertion(actors.victim)
    k8s = target.k8s_token()
    assert (target.exchange_code(assertion), target.exchange_code(assertion)) == (OK, UNAUTHENTICATED)
    assert (target.exchange_code(k8s), target.exchange_code(k8s)) == (OK, UNAUTHENTICATED)


# size and JSON shape ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [16 * 1024, 1024 * 1024])
def test_oversized_tokens_are_invalid_argument_and_refused_fast(target: Target, actors: Actors, size: int) -> None:
    """16 KiB and 1 MiB tokens, as subject or actor, are INVALID_ARGUMENT before any decoding."""
    huge = "eyJ" + "A" * (size - 3)
    started = time.monotonic()
    assert target.exchange_code(huge) == INVALID_ARGUMENT
    assert target.exchange_code(huge, TOKEN_TYPE_ACCESS) == INVALID_ARGUMENT
    subject = target.token_for(actors.victim, audiences=["https://docs.example.com"])
    code = target.exchange_code(subject, TOKEN_TYPE_ACCESS, actor_token=huge, actor_token_type=TOKEN_TYPE_JWT)
    assert code == INVALID_ARGUMENT
    assert time.monotonic() - started < 10  # three round trips, generously bounded
    refusals = [
        json.loads(line)
        for line in target.proc.log().splitlines()
        if line.startswith("{") and "longer than" in line and '"rpc"' in line
    ]
    assert refusals and max(r["ms"] for r in refusals) < 250  # the daemon's own time: a length check


def test_duplicate_members_and_deep_nesting_are_unauthenticated(target: Target, actors: Actors) -> None:
    """Correctly signed assertions whose JSON has a duplicate member or nests 20 deep are refused."""
    claims = _assertion_claims(target, "victim")
    body = json.dumps(claims)[:-1] + ', "sub": "admin"}'
    header = {"alg": "ES256", "kid": actors.victim.kid}
    assert target.exchange_code(forge(header, body.encode(), key=actors.victim.key)) == UNAUTHENTICATED
    deep: Any = "x"
    for _ in range(20):
        deep = {"a": deep}
    nested = forge(header, {**claims, "deep": deep}, key=actors.victim.key)
    assert target.exchange_code(nested) == UNAUTHENTICATED
    duplicate_alg = b'{"alg":"ES256","alg":"none","kid":"' + actors.victim.kid.encode() + b'"}'
    assert target.exchange_code(forge(duplicate_alg, claims, key=actors.victim.key)) == UNAUTHENTICATED
    nan = json.dumps(claims).replace(str(claims["exp"]), "NaN").encode()
    assert target.exchange_code(forge(header, nan, key=actors.victim.key)) == UNAUTHENTICATED


def test_malformed_compact_serialisations_are_unauthenticated(target: Target) -> None:
    """Garbage, two parts, four parts and non-base64url segments are UNAUTHENTICATED, never a crash."""
    for token in ("garbage", "a.b", "a.b.c.d", "eyJ!.eyJ.sig", f"{b64url(b'[1]')}.{b64url(b'{}')}.AA"):
        assert target.exchange_code(token) == UNAUTHENTICATED


# identities ---------------------------------------------------------------------------------------------
def test_a_disabled_or_deleted_identity_cannot_attest(target: Target) -> None:
    """Disable: UNAUTHENTICATED at once; delete: UNAUTHENTICATED."""
    gone = target.create_workload("soon-gone")
    assert target.exchange_code(target.assertion(gone)) == OK
    target.disable("soon-gone")
    assert target.exchange_code(target.assertion(gone)) == UNAUTHENTICATED
    target.delete("soon-gone")
    assert target.exchange_code(target.assertion(gone)) == UNAUTHENTICATED


def test_an_unregistered_key_cannot_sign_for_an_identity(target: Target, actors: Actors) -> None:
    """A key the identity never registered, even with the right kid, is UNAUTHENTICATED."""
    rogue = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(
        _assertion_claims(target, "victim"), rogue, algorithm="ES256", headers={"kid": actors.victim.kid}
    )
    assert target.exchange_code(token) == UNAUTHENTICATED


def test_the_jwks_of_the_broker_never_lists_a_private_member(target: Target) -> None:
    """The trust bundle an attacker can read holds public keys only."""
    with urllib.request.urlopen(f"{target.proc.http_url}/.well-known/jwks.json", timeout=5) as resp:
        published = json.loads(resp.read())
    assert all(not ({"d", "p", "q", "k"} & set(k)) for k in published["keys"])

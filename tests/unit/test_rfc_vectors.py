"""The RFCs' own example keys, thumbprints and signatures, through the broker's JOSE code.

RFC 7638 section 3.1 (the RSA thumbprint), RFC 8037 appendix A (Ed25519 key, thumbprint and
the signed "Example of Ed25519 signing") and RFC 7515 appendix A.3 (the ES256 example JWS):
keys are read with ``broker.core.jwk``, JWS segments made and split with
``broker.core.jws``, signatures made and checked with the ``broker.core.algorithms``
registry, and kids computed with the RFC 7638 thumbprint the broker registers keys under.
Each verification has a one-byte tamper next to it that must fail.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from broker.core import jwk, jws
from broker.core.algorithms import SIGNING
from broker.core.identities import IdentityRegistry
from broker_client.keys import thumbprint

# RFC 7638 section 3.1: the RSA key of RFC 7517 appendix A.1 and its thumbprint.
RFC7638_RSA = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4"
    "n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHz"
    "u6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8a"
    "wapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

# RFC 8037 appendix A.1 (private key d), A.2 (public key x), A.3 (thumbprint), A.4 (signature).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_PUBLIC = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_PAYLOAD = b"Example of Ed25519 signing"
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9"
    ".RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

# RFC 7515 appendix A.3: the ES256 example, and the public part of its key (A.3.1).
RFC7515_ES256_PUBLIC = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
}
RFC7515_ES256_JWS = (
    "eyJhbGciOiJFUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _flip_one_byte(data: bytes, at: int = 10) -> bytes:
    tampered = bytearray(data)
    tampered[at] ^= 0x01
    return bytes(tampered)


def _split(compact: str) -> tuple[bytes, bytes]:
    """The signing input and the signature of a compact JWS (whatever its payload)."""
    header, payload, signature = compact.split(".")
    return f"{header}.{payload}".encode("ascii"), _b64decode(signature)


# RFC 7638 ------------------------------------------------------------------------------------------------
def test_rfc7638_rsa_thumbprint_of_the_normalised_jwk() -> None:
    """RFC 7638 3.1: the RSA JWK, read and normalised by the broker, has the RFC's thumbprint."""
    key = jwk.key_from_jwk(RFC7638_RSA)
    normalised = jwk.public_jwk(key)
    assert normalised == {"kty": "RSA", "n": RFC7638_RSA["n"], "e": "AQAB"}  # alg and kid are not key members
    assert thumbprint(normalised) == RFC7638_THUMBPRINT


def test_rfc7638_rsa_key_is_registered_under_its_thumbprint(registry: IdentityRegistry) -> None:
    """An identity key given as the RFC's JWK gets the RFC 7638 thumbprint as its kid."""
    assert registry.make_key(json.dumps(RFC7638_RSA)).kid == RFC7638_THUMBPRINT


def test_rfc7638_thumbprint_changes_with_the_key() -> None:
    """One flipped byte of the modulus gives another thumbprint (the negative case)."""
    n = _b64decode(RFC7638_RSA["n"])
    other = {"kty": "RSA", "n": jws.b64encode(_flip_one_byte(n, at=100)), "e": "AQAB"}
    assert thumbprint(other) != RFC7638_THUMBPRINT


# RFC 8037 ------------------------------------------------------------------------------------------------
def test_rfc8037_a2_public_key_of_the_a1_private_key() -> None:
    """A.2: the broker's public JWK of the A.1 private key is the RFC's x."""
    private = ed25519.Ed25519PrivateKey.from_private_bytes(_b64decode(RFC8037_D))
    assert jwk.public_jwk(private.public_key()) == RFC8037_PUBLIC
    assert jwk.algorithm_for(private) == "EdDSA"


def test_rfc8037_a3_ed25519_thumbprint(registry: IdentityRegistry) -> None:
    """A.3: the Ed25519 public key's thumbprint, directly and as a registered key's kid."""
    assert thumbprint(jwk.public_jwk(jwk.key_from_jwk(RFC8037_PUBLIC))) == RFC8037_THUMBPRINT
    assert registry.make_key(json.dumps(RFC8037_PUBLIC)).kid == RFC8037_THUMBPRINT


def test_rfc8037_a4_signing_gives_the_rfcs_jws() -> None:
    """A.4: header {"alg":"EdDSA"} and the payload, signed with the A.1 key, are the RFC's JWS byte for byte
    (Ed25519 is deterministic)."""
    private = ed25519.Ed25519PrivateKey.from_private_bytes(_b64decode(RFC8037_D))
    signing_input = f"{jws.encode_json({'alg': 'EdDSA'})}.{jws.b64encode(RFC8037_PAYLOAD)}"
    signature = SIGNING["EdDSA"].sign(signing_input.encode("ascii"), private)
    assert f"{signing_input}.{jws.b64encode(signature)}" == RFC8037_JWS


def test_rfc8037_a5_the_broker_verifies_the_jws_and_refuses_a_tampered_one() -> None:
    """A.5: the JWS verifies with the A.2 public key as the broker reads keys; one flipped byte of the
    signature or of the signing input does not."""
    public, alg = jwk.cached_key(RFC8037_PUBLIC)
    assert alg == "EdDSA"
    signing_input, signature = _split(RFC8037_JWS)
    assert SIGNING[alg].verify(signing_input, public, signature)
    assert not SIGNING[alg].verify(signing_input, public, _flip_one_byte(signature))
    assert not SIGNING[alg].verify(_flip_one_byte(signing_input, at=30), public, signature)


def test_rfc8037_a4_is_not_a_token_the_broker_reads() -> None:
    """Its payload is text, not a JWT claims set: jws.parse refuses it before any signature check."""
    with pytest.raises(jws.TokenFormatError):
        jws.parse(RFC8037_JWS, algorithms=frozenset({"EdDSA"}))


# RFC 7515 ------------------------------------------------------------------------------------------------
def test_rfc7515_a3_es256_example_verifies_with_the_rfcs_public_key() -> None:
    """A.3: the ES256 example parses, and its signature verifies with the A.3.1 public key."""
    parsed = jws.parse(RFC7515_ES256_JWS, algorithms=frozenset({"ES256"}))
    public, alg = jwk.cached_key(RFC7515_ES256_PUBLIC)
    assert (parsed.alg, alg) == ("ES256", "ES256")
    assert parsed.claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    assert SIGNING[alg].verify(parsed.signing_input, public, parsed.signature)


@pytest.mark.parametrize("part", ["signature", "signing input"])
def test_rfc7515_a3_es256_example_with_one_byte_changed_fails(part: str) -> None:
    """One flipped byte of the signature, or of the signed header and payload, fails verification."""
    parsed = jws.parse(RFC7515_ES256_JWS, algorithms=frozenset({"ES256"}))
    public, alg = jwk.cached_key(RFC7515_ES256_PUBLIC)
    signing_input, signature = parsed.signing_input, parsed.signature
    if part == "signature":
        signature = _flip_one_byte(signature)
    else:
        signing_input = _flip_one_byte(signing_input, at=40)
    assert not SIGNING[alg].verify(signing_input, public, signature)


def test_rfc7515_a3_es256_signature_does_not_verify_under_another_key() -> None:
    """The A.3 signature does not verify under any other P-256 key."""
    parsed = jws.parse(RFC7515_ES256_JWS, algorithms=frozenset({"ES256"}))
    other = jwk.public_jwk(jwk.generate_private_key("ES256").public_key())
    public, alg = jwk.cached_key(other)
    assert not SIGNING[alg].verify(parsed.signing_input, public, parsed.signature)

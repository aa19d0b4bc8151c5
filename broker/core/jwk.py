"""Public-key parsing and JWK handling shared by the keyring and identity keys.

Accepted key types (anything else is refused): EC P-256 (ES256), Ed25519 (EdDSA) and
RSA of at least 2048 bits (RS256). Keys arrive as PEM or as a JWK (JSON text) and are
kept as a normalised public JWK plus a parsed key object.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from .errors import InvalidArgument

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

MIN_RSA_BITS = 2048
MAX_KEY_TEXT = 16 * 1024
#: The JWK members kept for each key type (RFC 7517/7518/8037); everything else is dropped.
_PUBLIC_MEMBERS = {"EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x"), "RSA": ("kty", "n", "e")}


def algorithm_for(key: PublicKey | PrivateKey) -> str:
    """The one JWS algorithm the broker uses with this key type."""
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidArgument(f"public_key: EC curve {key.curve.name} is not accepted (P-256 only)")
        return "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidArgument(f"public_key: RSA keys need at least {MIN_RSA_BITS} bits, got {key.key_size}")
        return "RS256"
    raise InvalidArgument("public_key: key type is not accepted (EC P-256, Ed25519 or RSA >= 2048)")


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The normalised public JWK of ``key`` (kty and key members only)."""
    algorithm_for(key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        raw = ECAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        raw = OKPAlgorithm.to_jwk(key, as_dict=True)
    else:
        raw = RSAAlgorithm.to_jwk(key, as_dict=True)
    return {name: str(raw[name]) for name in _PUBLIC_MEMBERS[str(raw["kty"])]}


def key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Parse a public JWK; private members, unknown key types and weak keys are refused."""
    if any(m in jwk for m in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise InvalidArgument("public_key: a private or symmetric key was given; send the public key only")
    kty = jwk.get("kty")
    text = json.dumps(dict(jwk))
    try:
        key: Any
        if kty == "EC":
            key = ECAlgorithm.from_jwk(text)
        elif kty == "OKP":
            if jwk.get("crv") != "Ed25519":
                raise InvalidArgument("public_key: only the Ed25519 OKP curve is accepted")
            key = OKPAlgorithm.from_jwk(text)
        elif kty == "RSA":
            key = RSAAlgorithm.from_jwk(text)
        else:
            raise InvalidArgument("public_key: kty must be EC, OKP or RSA")
    except InvalidArgument:
        raise
    except Exception as exc:  # PyJWT raises InvalidKeyError, ValueError, KeyError...
        raise InvalidArgument("public_key: the JWK is not a valid public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise InvalidArgument("public_key: a private key was given; send the public key only")
    algorithm_for(key)
    return key


@functools.lru_cache(maxsize=4096)
def _cached_key(members: tuple[tuple[str, Any], ...]) -> tuple[PublicKey, str]:
    key = key_from_jwk(dict(members))
    return key, algorithm_for(key)


def cached_key(jwk: Mapping[str, Any]) -> tuple[PublicKey, str]:
    """``key_from_jwk`` and its algorithm, parsed once per distinct JWK (hot path)."""
    return _cached_key(tuple(sorted(jwk.items())))


def parse_public_key(text: str) -> PublicKey:
    """Parse a PEM public key or a JWK (JSON text)."""
    if len(text) > MAX_KEY_TEXT:
        raise InvalidArgument(f"public_key: longer than {MAX_KEY_TEXT} characters")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            jwk = json.loads(stripped)
        except ValueError as exc:
            raise InvalidArgument("public_key: not valid JSON") from exc
        if not isinstance(jwk, dict):
            raise InvalidArgument("public_key: a JWK must be a JSON object")
        return key_from_jwk(jwk)
    if "PRIVATE KEY" in stripped:
        raise InvalidArgument("public_key: a private key was given; send the public key only")
    try:
        key = serialization.load_pem_public_key(stripped.encode())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidArgument("public_key: not a PEM public key or a JWK") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise InvalidArgument("public_key: key type is not accepted (EC P-256, Ed25519 or RSA >= 2048)")
    algorithm_for(key)
    return key


def generate_private_key(alg: str) -> PrivateKey:
    """A fresh private key for ``alg`` (ES256, EdDSA or RS256)."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise InvalidArgument(f"signing_alg: {alg!r} is not one of ES256, EdDSA, RS256")


def private_key_to_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (callers seal it before it touches a disk or a store)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_pem(pem: bytes) -> PrivateKey:
    """Load a PKCS#8 (or traditional) PEM private key of an accepted type."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidArgument("key file: not an unencrypted PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise InvalidArgument("key file: key type is not accepted (EC P-256, Ed25519 or RSA >= 2048)")
    algorithm_for(key)
    return key

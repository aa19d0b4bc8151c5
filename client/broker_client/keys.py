"""Raw key operations: load workload keys, JWK thumbprints, self-signed assertions.

A self-signed assertion (RFC 7523 style) proves an identity to the broker: iss = sub =
the identity id, aud = the broker's issuer, a short life and a unique jti, signed with
a private key whose public half is registered on the identity. Its kid is the RFC 7638
thumbprint of that public key, which is also the kid the broker assigns by default.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

#: JWK members that define each key type (RFC 7638 section 3.2).
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding)."""
    members = THUMBPRINT_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise ValueError("unsupported kty for a thumbprint")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def algorithm_of(key: PrivateKey) -> str:
    """The JWS algorithm for a private key: ES256, EdDSA or RS256."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    return "RS256"


def public_jwk(key: PrivateKey) -> dict[str, str]:
    """The public JWK of a private key."""
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        raw = ECAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        raw = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        raw = RSAAlgorithm.to_jwk(public, as_dict=True)
    return {k: str(v) for k, v in raw.items()}


def load_private_key(source: str | Path | bytes) -> PrivateKey:
    """Load an unencrypted PEM private key (EC P-256, Ed25519 or RSA) from a path or bytes."""
    pem = source if isinstance(source, bytes) else Path(source).read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise ValueError("key must be EC P-256, Ed25519 or RSA")
    return key


def make_assertion(
    identity_id: str,
    key: PrivateKey,
    audience: str,
    *,
    lifetime: int = 60,
    kid: str | None = None,
    now: float | None = None,
) -> str:
    """A self-signed assertion for ``identity_id``, valid ``lifetime`` seconds (at most 300)."""
    if not 0 < lifetime <= 300:
        raise ValueError("assertion lifetime must be between 1 and 300 seconds")
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": identity_id,
        "sub": identity_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    headers = {"kid": kid or thumbprint(public_jwk(key)), "typ": "JWT"}
    return jwt.encode(claims, key, algorithm=algorithm_of(key), headers=headers)

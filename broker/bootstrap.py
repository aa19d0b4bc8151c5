"""First-start set-up: the ``admin`` identity and its private key file.

The admin key is a PKCS#8 PEM written once with mode 0600 and never overwritten. The
CLI signs short assertions with it and exchanges them for short-lived admin tokens,
so no long-lived bearer secret exists anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from .core import jwk as jwks
from .core.errors import AlreadyExists, Conflict, NotFound
from .core.identities import ADMIN_SCOPE, Identity, IdentityKey, IdentityKind, IdentityRegistry

ADMIN_ID = "admin"
_ATTEMPTS = 5


def _write_new_key(path: Path) -> bytes:
    pem = jwks.private_key_to_pem(jwks.generate_private_key("ES256"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return pem


def ensure_admin(registry: IdentityRegistry, key_path: Path) -> bool:
    """Make sure the admin identity exists and trusts the key at ``key_path``.

    Creates the key file when it is missing; returns True if it was created now.
    """
    created = not key_path.exists()
    pem = _write_new_key(key_path) if created else key_path.read_bytes()
    public = jwks.private_key_from_pem(pem).public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    key = registry.make_key(public_pem)
    for _ in range(_ATTEMPTS):  # replicas starting together race on the one admin identity
        try:
            _register(registry, key)
            return created
        except (AlreadyExists, Conflict):
            continue
    raise Conflict("could not register the admin key: the admin identity keeps changing")


def _register(registry: IdentityRegistry, key: IdentityKey) -> None:
    try:
        admin = registry.get(ADMIN_ID)
    except NotFound:
        registry.create(
            Identity(
                id=ADMIN_ID,
                kind=IdentityKind.SERVICE_ACCOUNT,
                display_name="Broker administrator",
                allowed_scopes=(ADMIN_SCOPE,),
                public_keys=(key,),
            )
        )
        return
    if admin.key(key.kid) is None:
        registry.add_key(ADMIN_ID, key)

"""Before serving: the data directory, the store (opened and migrated), the first signing key
and the ``admin`` identity with its private key file.

The data directory holds the SQLite database, the admin key and the key-encryption key:
it is created 0700, and one that others can read is narrowed to 0700 with a log line.
The admin key is a PKCS#8 PEM written once with mode 0600 and never overwritten (``broker
admin key rotate`` replaces it atomically). The CLI signs short assertions with it and
exchanges them for short-lived admin tokens, so no long-lived bearer secret exists.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization

from .config import Settings
from .core import jwk as jwks
from .core.errors import AlreadyExists, Conflict, NotFound
from .core.identities import Identity, IdentityKey, IdentityKind, IdentityRegistry
from .core.keys import Keyring
from .core.principals import ADMIN_SCOPE, Principal
from .store import ManagedStore, open_store
from .store.sealing import Sealer, load_or_create_keks

ADMIN_ID = "admin"
_ATTEMPTS = 5
_log = structlog.get_logger("broker.bootstrap")
#: Who registers the admin identity and its key at start: the broker, with broker.admin only.
BOOTSTRAP = Principal.broker("bootstrap", ADMIN_SCOPE)


def prepare_data_dir(path: Path) -> None:
    """Create the data directory 0700; narrow an existing one that group or others can read."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o700)
        _log.warning("data directory was open to others; narrowed to 0700", path=str(path), was=f"{mode:04o}")


def open_migrated_store(settings: Settings) -> ManagedStore:
    """The store ``settings`` names, sealed with the KEK, its schema brought to this broker's version."""
    prepare_data_dir(settings.data_dir)
    kek, *previous = load_or_create_keks(settings.kek or None, settings.kek_file)
    sealer = Sealer(kek, previous)
    store = open_store(settings, sealer)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def first_start(keyring: Keyring, registry: IdentityRegistry, admin_key_file: Path) -> bool:
    """The first signing key and the admin identity, if missing; True if the admin key file was created now."""
    keyring.ensure_initial_key()
    return ensure_admin(registry, admin_key_file)


def _write_new_key(path: Path) -> bytes:
    pem = jwks.private_key_to_pem(jwks.generate_private_key("ES256"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return pem


def ensure_admin(registry: IdentityRegistry, key_path: Path) -> bool:
    """Make sure the admin identity exists and trusts the key at ``key_path``.

    Creates the key file when it is missing; returns True if it was created now. A key
    file deleted by hand is replaced by a new key, registered beside the old one, which
    keeps working for whoever holds a copy: retire it with ``broker admin key rotate``
    (or ``broker admin identity remove-key admin KID``).
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
            ),
            by=BOOTSTRAP,
        )
        return
    if admin.key(key.kid) is None:
        registry.add_key(ADMIN_ID, key, by=BOOTSTRAP)

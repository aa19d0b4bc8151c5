"""Envelope encryption of secret material at rest (AES-256-GCM).

Each ``seal`` draws a fresh 256-bit data key, encrypts the plaintext with it and wraps
the data key with the key-encryption key (KEK). Both encryptions authenticate the blob
header and a caller-given context (``"signing_key:<kid>"``), so a blob copied to another
row, or sealed under another KEK, does not open.

Blob layout, version 1::

    version (1) | kek id (8) | wrap nonce (12) | wrapped data key (32 + 16 tag)
                | data nonce (12) | ciphertext + tag (16)

The kek id is the first 8 bytes of SHA-256(KEK): enough to tell "wrong key" from
"corrupt data", never enough to recover the key.

KEK rotation: ``BROKER_KEK=<new>,<old>...`` makes a keyring. The first key seals, every
key opens what it sealed, and ``rewrap`` moves a blob to the first key (the scheduler's
``rewrap_sealed`` job does it for the whole store); once it reports nothing left under an
older key, that key can be dropped from the list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..core.errors import FailedPrecondition

__all__ = ["KEK_SIZE", "Sealer", "SealingError", "kek_id", "load_or_create_keks"]

KEK_SIZE = 32
_VERSION = 1
_KEK_ID_SIZE = 8
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEADER_SIZE = 1 + _KEK_ID_SIZE
_MIN_BLOB_SIZE = _HEADER_SIZE + 2 * _NONCE_SIZE + KEK_SIZE + 2 * _TAG_SIZE


class SealingError(FailedPrecondition):
    """Sealed data cannot be opened: wrong KEK, wrong context, or corrupt bytes."""


def kek_id(kek: bytes) -> bytes:
    """The short public fingerprint of a KEK stored in every blob it seals."""
    return hashlib.sha256(kek).digest()[:_KEK_ID_SIZE]


class Sealer:
    """Seals with the first key-encryption key; opens with any of them."""

    __slots__ = ("_kek", "_kek_id", "_openers")

    def __init__(self, kek: bytes, previous: Sequence[bytes] = ()) -> None:
        for key in (kek, *previous):
            if len(key) != KEK_SIZE:
                raise ValueError(f"the key-encryption key must be {KEK_SIZE} bytes, got {len(key)}")
        self._kek = AESGCM(kek)
        self._kek_id = kek_id(kek)
        self._openers = {kek_id(key): AESGCM(key) for key in (*previous, kek)}

    @property
    def kek_id(self) -> str:
        """The sealing KEK's fingerprint as hex, for logs and error messages."""
        return self._kek_id.hex()

    @property
    def rotating(self) -> bool:
        """True when older keys are configured (blobs may need ``rewrap``)."""
        return len(self._openers) > 1

    def seal(self, plaintext: bytes, context: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``context``; a new data key every call."""
        header = bytes([_VERSION]) + self._kek_id
        aad = header + context.encode()
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce = secrets.token_bytes(_NONCE_SIZE)
        data_nonce = secrets.token_bytes(_NONCE_SIZE)
        wrapped = self._kek.encrypt(wrap_nonce, data_key, aad)
        ciphertext = AESGCM(data_key).encrypt(data_nonce, plaintext, aad)
        return header + wrap_nonce + wrapped + data_nonce + ciphertext

    def open(self, blob: bytes, context: str) -> bytes:
        """Decrypt a blob sealed for ``context``; SealingError if it cannot be opened."""
        if len(blob) < _MIN_BLOB_SIZE:
            raise SealingError("sealed data is corrupt (too short)")
        if blob[0] != _VERSION:
            raise SealingError(f"sealed data has unknown format version {blob[0]}")
        blob_kek_id = blob[1:_HEADER_SIZE]
        opener = self._openers.get(blob_kek_id)
        if opener is None:
            raise SealingError(
                "sealed data cannot be opened: the key-encryption key does not match "
                f"(kek id {blob_kek_id.hex()} in the data, {self.kek_id} configured)"
            )
        header, wrap_nonce, wrapped, data_nonce, ciphertext = _split(
            blob, _HEADER_SIZE, _NONCE_SIZE, KEK_SIZE + _TAG_SIZE, _NONCE_SIZE
        )
        aad = header + context.encode()
        try:
            data_key = opener.decrypt(wrap_nonce, wrapped, aad)
            return AESGCM(data_key).decrypt(data_nonce, ciphertext, aad)
        except InvalidTag:
            raise SealingError("sealed data is corrupt or was sealed for another record") from None

    def rewrap(self, blob: bytes, context: str) -> bytes | None:
        """The blob sealed again under the first key, or None when it already is."""
        if blob[1:_HEADER_SIZE] == self._kek_id:
            return None
        return self.seal(self.open(blob, context), context)

    def __repr__(self) -> str:
        return f"Sealer(kek_id={self.kek_id!r})"


def _split(data: bytes, *sizes: int) -> list[bytes]:
    """Consecutive pieces of ``data`` of the given sizes, then the rest."""
    parts, pos = [], 0
    for size in sizes:
        parts.append(data[pos : pos + size])
        pos += size
    return [*parts, data[pos:]]


def signing_key_context(kid: str) -> str:
    """The sealing context of a signing key's private part: a blob opens only for its own key."""
    return f"signing_key:{kid}"


def totp_context(username: str) -> str:
    """The sealing context of a person's TOTP seed."""
    return f"totp:{username}"


def secret_context(secret_id: str, version: int) -> str:
    """The sealing context of a secret version's value."""
    return f"secret:{secret_id}:{version}"


def load_or_create_keks(env_value: str | None, path: Path) -> tuple[bytes, ...]:
    """The KEKs, the sealing one first: from ``BROKER_KEK`` if set, else the file at ``path``
    (created on first start).

    ``env_value`` is a comma-separated list of base64 or base64url (padding optional) of
    exactly 32 bytes each. The file holds the 32 raw bytes, is created with mode 0600 and
    is never overwritten.
    """
    if env_value is not None:
        return tuple(_decode_env_kek(part) for part in env_value.split(","))
    try:
        return (_read_kek_file(path),)
    except FileNotFoundError:
        pass
    try:
        return (_create_kek_file(path),)
    except FileExistsError:  # another process created it first
        return (_read_kek_file(path),)


def _decode_env_kek(value: str) -> bytes:
    text = value.strip().replace("-", "+").replace("_", "/")
    if not text:
        raise ValueError("BROKER_KEK is set but empty (or has an empty entry); unset it to use the key file")
    try:
        kek = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise ValueError("BROKER_KEK is not valid base64 or base64url") from None
    if len(kek) != KEK_SIZE:
        raise ValueError(f"BROKER_KEK must decode to exactly {KEK_SIZE} bytes, it decodes to {len(kek)}")
    return kek


def _read_kek_file(path: Path) -> bytes:
    kek = path.read_bytes()
    if len(kek) != KEK_SIZE:
        raise ValueError(f"key-encryption key file {path} must hold exactly {KEK_SIZE} bytes, it holds {len(kek)}")
    return kek


def _create_kek_file(path: Path) -> bytes:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    kek = secrets.token_bytes(KEK_SIZE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exact mode whatever the umask
        os.write(fd, kek)
        os.fsync(fd)
    finally:
        os.close(fd)
    return kek

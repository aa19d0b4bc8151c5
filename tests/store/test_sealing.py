"""Envelope encryption at rest: Sealer and the KEK loader."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from broker.core.errors import FailedPrecondition
from broker.store.sealing import KEK_SIZE, Sealer, SealingError, kek_id, load_or_create_keks

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))
SECRET = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n"
CONTEXT = "signing_key:kid-1"


def test_seal_then_open_round_trips() -> None:
    """What is sealed for a context opens for the same context, empty input included."""
    sealer = Sealer(KEK)
    assert sealer.open(sealer.seal(SECRET, CONTEXT), CONTEXT) == SECRET
    assert sealer.open(sealer.seal(b"", CONTEXT), CONTEXT) == b""


def test_blob_hides_the_plaintext_and_differs_every_time() -> None:
    """A fresh data key and nonces per seal: equal plaintexts give unrelated blobs."""
    sealer = Sealer(KEK)
    first, second = sealer.seal(SECRET, CONTEXT), sealer.seal(SECRET, CONTEXT)
    assert first != second
    assert SECRET not in first
    assert b"PRIVATE KEY" not in first


def test_blob_starts_with_version_and_kek_id() -> None:
    """Format version 1, then the first 8 bytes of SHA-256 of the KEK."""
    blob = Sealer(KEK).seal(SECRET, CONTEXT)
    assert blob[0] == 1
    assert blob[1:9] == kek_id(KEK)


def test_open_with_another_context_fails() -> None:
    """A blob moved to another row (another context) does not open."""
    sealer = Sealer(KEK)
    blob = sealer.seal(SECRET, CONTEXT)
    with pytest.raises(SealingError, match="corrupt or was sealed for another record"):
        sealer.open(blob, "signing_key:kid-2")


def test_open_with_another_kek_names_both_kek_ids() -> None:
    """A wrong KEK is reported as such, with both fingerprints, as FailedPrecondition."""
    blob = Sealer(KEK).seal(SECRET, CONTEXT)
    with pytest.raises(FailedPrecondition, match="key-encryption key does not match") as caught:
        Sealer(OTHER_KEK).open(blob, CONTEXT)
    assert kek_id(KEK).hex() in caught.value.message
    assert kek_id(OTHER_KEK).hex() in caught.value.message


# Layout: version 0 | kek id 1-8 | wrap nonce 9-20 | wrapped key 21-52 + tag 53-68
#         | data nonce 69-80 | ciphertext 81.. + tag (last 16)
@pytest.mark.parametrize(
    "position",
    [9, 30, 60, 75, 90, -1],
    ids=["wrap-nonce", "wrapped-key", "wrap-tag", "data-nonce", "ciphertext", "data-tag"],
)
def test_any_flipped_bit_after_the_header_is_detected(position: int) -> None:
    """Every byte of nonces, wrapped key and ciphertext is authenticated."""
    sealer = Sealer(KEK)
    blob = bytearray(sealer.seal(SECRET, CONTEXT))
    blob[position] ^= 0x01
    with pytest.raises(SealingError, match="corrupt"):
        sealer.open(bytes(blob), CONTEXT)


def test_truncated_blob_and_unknown_version_are_refused() -> None:
    """Too-short input and a future format version fail cleanly, not with IndexError."""
    sealer = Sealer(KEK)
    blob = sealer.seal(SECRET, CONTEXT)
    with pytest.raises(SealingError, match="too short"):
        sealer.open(blob[:20], CONTEXT)
    with pytest.raises(SealingError, match="unknown format version 2"):
        sealer.open(b"\x02" + blob[1:], CONTEXT)


def test_no_key_material_in_repr_or_errors() -> None:
    """Neither repr(Sealer) nor any SealingError shows the KEK or the plaintext."""
    sealer = Sealer(KEK)
    blob = sealer.seal(SECRET, CONTEXT)
    texts = [repr(sealer), str(sealer)]
    wrong_kek, wrong_context, truncated = (
        (Sealer(OTHER_KEK), blob, CONTEXT),
        (sealer, blob, "x"),
        (sealer, blob[:-1], CONTEXT),
    )
    for opener, data, context in (wrong_kek, wrong_context, truncated):
        with pytest.raises(SealingError) as caught:
            opener.open(data, context)
        texts += [str(caught.value), repr(caught.value)]
    for text in texts:
        for form in (KEK.hex(), base64.b64encode(KEK).decode(), repr(KEK), repr(SECRET)):
            assert form not in text
    assert repr(sealer) == f"Sealer(kek_id={kek_id(KEK).hex()!r})"


def test_sealer_refuses_a_kek_of_the_wrong_size() -> None:
    """Only 32-byte KEKs (AES-256) are accepted."""
    with pytest.raises(ValueError, match="32 bytes"):
        Sealer(b"short")


# load_or_create_keks -------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [base64.b64encode, base64.urlsafe_b64encode, lambda k: base64.urlsafe_b64encode(k).rstrip(b"=")],
    ids=["base64", "base64url", "base64url-unpadded"],
)
def test_env_kek_is_decoded_and_the_file_is_left_alone(tmp_path: Path, encode: Callable[[bytes], bytes]) -> None:
    """BROKER_KEK in base64 or base64url wins; no key file is created."""
    kek = bytes(range(200, 232))  # has bytes that encode to '+' / '/' or '-' / '_'
    value = encode(kek).decode()
    path = tmp_path / "kek"
    assert load_or_create_keks(f" {value}\n", path) == (kek,)
    assert not path.exists()


@pytest.mark.parametrize(
    ("value", "reason"),
    [("", "empty"), ("not base64!!", "not valid base64"), (base64.b64encode(b"x" * 16).decode(), "decodes to 16")],
)
def test_bad_env_kek_is_refused_without_echoing_it(tmp_path: Path, value: str, reason: str) -> None:
    """A bad BROKER_KEK names the variable and the problem, never the value."""
    with pytest.raises(ValueError, match="BROKER_KEK") as caught:
        load_or_create_keks(value, tmp_path / "kek")
    assert reason in str(caught.value)
    if value:
        assert value not in str(caught.value)


def test_kek_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    """First start writes 32 random bytes, owner-only; the next start reads the same key."""
    path = tmp_path / "state" / "kek"
    old_umask = os.umask(0)
    try:
        (kek,) = load_or_create_keks(None, path)
    finally:
        os.umask(old_umask)
    assert len(kek) == KEK_SIZE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == kek
    assert load_or_create_keks(None, path) == (kek,)


def test_kek_file_is_never_overwritten(tmp_path: Path) -> None:
    """An existing file of the wrong size is an error naming the path, and stays untouched."""
    path = tmp_path / "kek"
    path.write_bytes(b"truncated")
    with pytest.raises(ValueError, match="must hold exactly 32 bytes, it holds 9") as caught:
        load_or_create_keks(None, path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == b"truncated"


# rotation -------------------------------------------------------------------------------


def test_a_keyring_seals_with_its_first_key_opens_with_any_and_rewraps_to_the_first() -> None:
    """Sealed under the old KEK, a blob opens with [new, old], is rewrapped to new, and then
    opens with new alone; a blob already under new needs no rewrap."""
    old, new = os.urandom(KEK_SIZE), os.urandom(KEK_SIZE)
    blob = Sealer(old).seal(b"value", "secret:db:1")
    ring = Sealer(new, [old])
    assert ring.rotating and not Sealer(new).rotating
    assert ring.open(blob, "secret:db:1") == b"value"
    moved = ring.rewrap(blob, "secret:db:1")
    assert moved is not None and moved[1:9] == kek_id(new)
    assert Sealer(new).open(moved, "secret:db:1") == b"value"
    assert ring.rewrap(moved, "secret:db:1") is None
    with pytest.raises(SealingError, match="does not match"):
        Sealer(new).open(blob, "secret:db:1")


def test_a_list_of_keks_in_the_environment_is_the_keyring_in_order(tmp_path: Path) -> None:
    """BROKER_KEK=new,old: both decoded, the sealing one first; an empty entry is refused."""
    new, old = os.urandom(KEK_SIZE), os.urandom(KEK_SIZE)
    value = f"{base64.b64encode(new).decode()},{base64.urlsafe_b64encode(old).decode()}"
    assert load_or_create_keks(value, tmp_path / "kek") == (new, old)
    with pytest.raises(ValueError, match="empty entry"):
        load_or_create_keks(f"{base64.b64encode(new).decode()},", tmp_path / "kek")

"""Second factors of people: TOTP (RFC 6238, with pyotp) and single-use recovery codes.

TOTP as every authenticator app does it: SHA-1, 6 digits, 30-second steps, a 160-bit
seed; a code is accepted one step early or late, and only for a step later than the last
one accepted, so a code seen once (in a replay, or over a shoulder) never works again.
Enrolment is two steps: a seed is stored unconfirmed, and the first valid code confirms it
and yields ten recovery codes, shown once and kept only as SHA-256 hashes (each has 80
random bits: no salt or slow hash needed); each works once instead of a TOTP code.

The seed is secret material: the store seals it under the KEK like a secret's value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp

from .sensitive import Sensitive

DIGITS = 6
STEP_SECONDS = 30
#: Steps a code may be early or late.
SKEW_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_BYTES = 10  # 80 bits, 16 base32 characters


@dataclass(frozen=True, slots=True)
class MfaState:
    """A person's second factor: the seed (None: not enrolled), whether a code confirmed it,
    the last TOTP step accepted, and the hashes of the recovery codes not yet used."""

    seed: Sensitive | None = None
    confirmed: bool = False
    last_step: int = 0
    recovery_hashes: tuple[str, ...] = ()

    @property
    def enrolled(self) -> bool:
        """True once a code has confirmed the seed."""
        return self.confirmed and self.seed is not None


def new_seed() -> Sensitive:
    """A fresh 160-bit TOTP seed, base32 as authenticator apps take it."""
    return Sensitive(pyotp.random_base32(32).encode("ascii"))


def provisioning_uri(seed: Sensitive, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans (holds the seed: show it once)."""
    return pyotp.TOTP(seed.reveal().decode("ascii"), digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def matching_step(seed: Sensitive, code: str, now: datetime) -> int | None:
    """The step of ``now`` (± SKEW_STEPS) whose code is ``code``, compared in constant time; else None."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(seed.reveal().decode("ascii"), digits=DIGITS, interval=STEP_SECONDS)
    step = totp.timecode(now)
    found = None
    for offset in range(-SKEW_STEPS, SKEW_STEPS + 1):
        if hmac.compare_digest(totp.at(now, counter_offset=offset), code):
            found = step + offset  # no early exit: the same work for every code
    return found


def new_recovery_codes() -> list[str]:
    """Ten fresh recovery codes, ``XXXX-XXXX-XXXX-XXXX`` (base32)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(_RECOVERY_BYTES)).decode("ascii")
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


def recovery_hash(code: str) -> str:
    """How a recovery code is stored and matched: SHA-256 of it without dashes, spaces or case."""
    normal = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()


def used_recovery_code(state: MfaState, code: str) -> tuple[str, ...] | None:
    """The recovery hashes left after using ``code``, or None if it is not one of them."""
    wanted = recovery_hash(code)
    matched = [h for h in state.recovery_hashes if hmac.compare_digest(h, wanted)]
    if not matched:
        return None
    return tuple(h for h in state.recovery_hashes if h != matched[0])

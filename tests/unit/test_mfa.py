"""TOTP and recovery codes on the fake clock: RFC 6238's test vectors, the skew window, the codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from broker.core.mfa import (
    MfaState,
    matching_step,
    new_recovery_codes,
    new_seed,
    provisioning_uri,
    recovery_hash,
    used_recovery_code,
)
from broker.core.sensitive import Sensitive

#: RFC 6238 appendix B: the SHA-1 seed "12345678901234567890", base32.
RFC_SEED = Sensitive(base64.b32encode(b"12345678901234567890"))


@pytest.mark.parametrize(
    ("unix", "eight_digits"),
    [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
     (2000000000, "69279037"), (20000000000, "65353130")],
)  # fmt: skip
def test_rfc_6238_vectors_match_at_their_step(unix: int, eight_digits: str) -> None:
    """The six SHA-1 vectors of RFC 6238, read as 6 digits (their last six), match their own step."""
    now = datetime.fromtimestamp(unix, UTC)
    assert matching_step(RFC_SEED, eight_digits[-6:], now) == unix // 30


def test_a_code_counts_one_step_early_or_late_and_no_further() -> None:
    """The code of step n matches at n-1, n and n+1 (returning n), not at n-2 or n+2."""
    seed = new_seed()
    at = datetime(2030, 1, 1, 0, 0, 15, tzinfo=UTC)
    code = pyotp.TOTP(seed.reveal().decode()).at(at)
    step = int(at.timestamp()) // 30
    for shift, expected in ((-60, None), (-30, step), (0, step), (30, step), (60, None)):
        assert matching_step(seed, code, at + timedelta(seconds=shift)) == expected


def test_malformed_codes_never_match() -> None:
    seed = new_seed()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    for code in ("", "12345", "1234567", "abcdef", " 12345"):
        assert matching_step(seed, code, now) is None


def test_the_provisioning_uri_is_what_authenticator_apps_read() -> None:
    """otpauth://totp with the seed, the account and the issuer; 6 digits, 30 s, SHA-1 (defaults)."""
    seed = new_seed()
    uri = provisioning_uri(seed, account="dana", issuer="broker http://127.0.0.1:8080")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP) and parsed.secret == seed.reveal().decode() and parsed.name == "dana"
    assert parsed.digits == 6 and parsed.interval == 30 and len(base64.b32decode(seed.reveal())) == 20


def test_recovery_codes_are_distinct_and_each_is_used_up_once() -> None:
    """Ten codes of 80 bits; a code matches whatever its case and dashes; using it removes only it."""
    codes = new_recovery_codes()
    assert len(set(codes)) == 10 and all(len(c) == 19 and c.count("-") == 3 for c in codes)
    state = MfaState(seed=new_seed(), confirmed=True, recovery_hashes=tuple(recovery_hash(c) for c in codes))
    left = used_recovery_code(state, codes[3].lower().replace("-", " "))
    assert left is not None and len(left) == 9 and recovery_hash(codes[3]) not in left
    assert used_recovery_code(MfaState(recovery_hashes=left), codes[3]) is None
    assert used_recovery_code(state, "AAAA-AAAA-AAAA-AAAA") is None

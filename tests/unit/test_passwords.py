"""The password policy (NIST SP 800-63B) with the bundled list, and the Argon2id profile."""

from __future__ import annotations

import pytest

from broker.assemble import common_passwords
from broker.core.errors import InvalidArgument
from broker.core.people import PasswordHasher, PasswordPolicy


def test_the_bundled_list_ships_with_the_package_and_holds_twenty_thousand() -> None:
    """At least 10,000 common passwords (the issue's floor), read from the installed package."""
    common = common_passwords()
    assert len(common) >= 20_000 and "password" in common and "qwertyuiop" in common


def test_the_policy_normalises_with_nfkc_and_compares_without_case() -> None:
    """Full-width letters are the same password; a common one in capitals is still common."""
    policy = PasswordPolicy(["qwertyuiopasdf"])
    full_width = "".join(chr(ord(c) + 0xFEE0) if c != " " else c for c in "correct horse")
    assert policy.check(full_width, username="bob") == "correct horse"
    with pytest.raises(InvalidArgument, match="common"):
        policy.check("QWERTYUIOPASDF", username="bob")
    with pytest.raises(InvalidArgument, match="user name"):
        policy.check("my name is BOB, ok?", username="bob")


def test_hashes_carry_the_rfc_9106_profile_and_older_ones_need_a_rehash() -> None:
    """m=64 MiB, t=3, p=4 in the PHC string; a hash made with weaker parameters reads as due."""
    strong, weak = PasswordHasher(), PasswordHasher(memory_kib=8192, time_cost=1, parallelism=1)
    hashed = strong.hash("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and strong.verify(hashed, "correct horse battery")
    assert not strong.needs_rehash(hashed) and strong.needs_rehash(weak.hash("correct horse battery"))
    assert not strong.verify("", "anything") and not strong.verify(hashed, "wrong horse battery")

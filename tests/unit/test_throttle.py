"""Login throttling on the fake clock: the backoff schedule, the windows, the lockout, and the
rule that one address cannot lock anybody out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.core.clock import FakeClock
from broker.core.ratelimit import RateLimited
from broker.core.throttle import LoginThrottle, ThrottlePolicy, client_host
from broker.store.sql import SqlStore


@pytest.fixture
def throttle(store: SqlStore, clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(store, clock)


def test_the_backoff_doubles_from_the_fifth_failure_up_to_a_minute() -> None:
    """0 s for the first four failures, then 1, 2, 4, ... 32, then 60 s."""
    policy = ThrottlePolicy()
    assert [policy.backoff(n).total_seconds() for n in range(4, 13)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_a_policy_whose_lockout_one_address_could_reach_is_refused() -> None:
    """2 x address_failures must stay below lock_after, and the backoffs must fit in the window."""
    with pytest.raises(ValueError, match="address_failures"):
        ThrottlePolicy(address_failures=10)
    with pytest.raises(ValueError, match="window"):
        ThrottlePolicy(max_backoff=timedelta(minutes=15))


def test_the_account_waits_after_five_failures_and_says_how_long(throttle: LoginThrottle, clock: FakeClock) -> None:
    """The sixth attempt right after the fifth failure is refused with a retry delay; after it, allowed."""
    for n in range(5):
        assert throttle.check("alice", f"ipv4:10.0.0.{n}:1") is False
        throttle.failed("alice", f"ipv4:10.0.0.{n}:1")
    with pytest.raises(RateLimited, match="this account") as info:
        throttle.check("alice", "ipv4:10.0.0.9:1")
    assert info.value.retry_after == timedelta(seconds=1)
    clock.advance(timedelta(seconds=1))
    assert throttle.check("alice", "ipv4:10.0.0.9:1") is False


def test_a_success_clears_the_account_but_not_the_address(throttle: LoginThrottle, clock: FakeClock) -> None:
    """An attacker who owns an account cannot reset the address limit by logging into it."""
    for _ in range(8):
        throttle.failed("victim", "ipv4:10.0.0.1:1")
        clock.advance(timedelta(seconds=61))
    throttle.succeeded("victim")
    with pytest.raises(RateLimited, match="this address"):
        throttle.check("mine", "ipv4:10.0.0.1:2")
    assert throttle.check("victim", "ipv4:10.0.0.2:1") is False


def test_one_address_never_locks_an_account_across_windows(throttle: LoginThrottle, clock: FakeClock) -> None:
    """Guessing as fast as allowed from one address for six hours: the account never locks."""
    tries = 0
    for _ in range(6 * 60):
        try:
            throttle.check("alice", "ipv4:10.0.0.1:1")
        except RateLimited:
            clock.advance(timedelta(minutes=1))
            continue
        tries += 1
        assert throttle.failed("alice", "ipv4:10.0.0.1:1") is False
        clock.advance(timedelta(seconds=1))
    assert tries >= 6 * 8 and not throttle.locked("alice")


def test_twenty_failures_in_an_hour_lock_until_unlocked(throttle: LoginThrottle, clock: FakeClock) -> None:
    """The twentieth failure locks (reported once); the lock outlives the window; unlock clears it."""
    locked_at = []
    for n in range(20):
        clock.advance(timedelta(seconds=61))
        throttle.check("alice", f"ipv4:10.0.0.{n // 5}:1")
        if throttle.failed("alice", f"ipv4:10.0.0.{n // 5}:1"):
            locked_at.append(n)
    assert locked_at == [19]
    clock.advance(timedelta(days=2))
    assert throttle.check("alice", "ipv4:10.0.0.9:1") is True and throttle.locked("alice")
    assert throttle.unlock("alice") and not throttle.locked("alice")
    assert throttle.check("alice", "ipv4:10.0.0.9:1") is False


def test_failures_older_than_the_window_are_forgotten(throttle: LoginThrottle, clock: FakeClock) -> None:
    """Four failures, an hour of quiet, four more: no backoff, the count started again."""
    for _ in range(4):
        throttle.failed("alice", "ipv4:10.0.0.1:1")
    clock.advance(timedelta(hours=1))
    for _ in range(4):
        throttle.failed("alice", "ipv4:10.0.0.2:1")
    assert throttle.check("alice", "ipv4:10.0.0.3:1") is False


def test_the_client_host_drops_the_port() -> None:
    assert client_host("ipv4:10.0.0.1:5123") == "ipv4:10.0.0.1"
    assert client_host("ipv6:[::1]:5123") == "ipv6:[::1]"

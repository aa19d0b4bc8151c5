"""Token buckets: a burst, then one call per refill interval; keys apart; limits parsed strictly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.core.clock import FakeClock
from broker.core.ratelimit import Limiter, RateLimit, RateLimited


def limiter(text: str, refused: list[str] | None = None) -> tuple[Limiter, FakeClock]:
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    limit = RateLimit.parse(text)
    assert limit is not None
    on_refused = None if refused is None else (lambda: refused.append("x"))
    return Limiter("test", limit, clock, on_refused=on_refused), clock


def test_a_key_spends_its_burst_then_waits_for_the_refill() -> None:
    """3/s: three at once, the fourth refused with the time to the next token; then one more."""
    refused: list[str] = []
    limits, clock = limiter("3/s", refused)
    for _ in range(3):
        limits.take("a", what="identity 'a'")
    with pytest.raises(RateLimited) as caught:
        limits.take("a", what="identity 'a'")
    assert caught.value.retry_after == pytest.approx(timedelta(seconds=1 / 3), abs=timedelta(milliseconds=1))
    assert caught.value.message.startswith("rate limit 3/s for identity 'a' reached; retry in 0.33s")
    assert refused == ["x"]
    limits.take("b", what="identity 'b'")  # another key has its own bucket
    clock.advance(timedelta(seconds=0.34))
    limits.take("a", what="identity 'a'")
    with pytest.raises(RateLimited):
        limits.take("a", what="identity 'a'")


def test_a_per_minute_limit_refills_over_the_minute_and_never_above_its_burst() -> None:
    """600/m: 10 per second back, capped at 600 however long the key was idle."""
    limits, clock = limiter("600/m")
    for _ in range(600):
        limits.take("a", what="a")
    with pytest.raises(RateLimited):
        limits.take("a", what="a")
    clock.advance(timedelta(hours=1))
    for _ in range(600):
        limits.take("a", what="a")
    with pytest.raises(RateLimited):
        limits.take("a", what="a")


@pytest.mark.parametrize("text", ["100", "10/h", "-1/s", "0/s", "1.5/s", "ten/s", ""])
def test_a_malformed_limit_is_refused(text: str) -> None:
    """Only N/s, N/m, off and 0 are limits."""
    with pytest.raises(ValueError, match="is not N/s, N/m or off"):
        RateLimit.parse(text)


def test_off_and_zero_mean_no_limit() -> None:
    """``off`` and ``0`` switch a limit off."""
    assert RateLimit.parse("off") is None
    assert RateLimit.parse("0") is None

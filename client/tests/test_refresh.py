"""The pure refresh state: when a token is fresh, usable, refreshed, retried."""

from __future__ import annotations

import random

import jwt
from google.protobuf import timestamp_pb2

from broker_client import TokenUnavailable
from broker_client._refresh import RefreshState, backoff_delay, lifetime_of
from broker_client.v1 import token_pb2


def _response(iat: int, exp: int) -> token_pb2.ExchangeTokenResponse:
    token = jwt.encode({"iat": iat, "exp": exp}, "k" * 32, algorithm="HS256")
    return token_pb2.ExchangeTokenResponse(access_token=token, expires_at=timestamp_pb2.Timestamp(seconds=exp))


def test_lifetime_comes_from_the_tokens_own_iat_and_exp() -> None:
    """exp - iat (less a second: iat is truncated) is the life, whatever the local clock says."""
    assert lifetime_of(_response(iat=10_000, exp=10_300)) == 299


def test_lifetime_without_iat_falls_back_to_expires_at() -> None:
    """A token with no readable iat uses expires_at - now (here: already past, so not positive)."""
    response = token_pb2.ExchangeTokenResponse(access_token="opaque", expires_at=timestamp_pb2.Timestamp(seconds=5))
    assert lifetime_of(response) < 0


def test_refresh_point_is_about_two_thirds_with_jitter() -> None:
    """Over many tokens the refresh point stays within 2/3 ± 5% of the life and actually varies."""
    state = RefreshState(max_backoff=10, rng=random.Random(7))
    points = set()
    for _ in range(200):
        state.succeeded("t", 300.0, 0.0)
        assert state.cached is not None
        points.add(round(state.cached.refresh_at, 3))
        assert 185.0 <= state.cached.refresh_at <= 215.0
    assert len(points) > 100


def test_usable_until_keeps_a_margin_before_expiry() -> None:
    """A token is not handed out in its last tenth of life, bounded to 0.5-10 seconds."""
    state = RefreshState(max_backoff=10)
    state.succeeded("t", 3600.0, 0.0)
    assert state.usable(3589.9) == "t" and state.usable(3590.0) is None
    state.succeeded("t", 20.0, 0.0)
    assert state.usable(17.9) == "t" and state.usable(18.0) is None
    state.succeeded("t", 3.0, 0.0)
    assert state.usable(2.4) == "t" and state.usable(2.5) is None


def test_fresh_and_usable_differ() -> None:
    """Between the refresh point and the margin, the token is usable but no longer fresh."""
    state = RefreshState(max_backoff=10)
    state.succeeded("t", 300.0, 0.0)
    assert state.fresh(100) == "t"
    assert state.fresh(250) is None and state.usable(250) == "t"


def test_an_already_expired_token_counts_as_a_failure() -> None:
    """A token with no life left is not cached; the attempt is recorded as failed."""
    state = RefreshState(max_backoff=10)
    state.succeeded("t", 0.0, 0.0)
    assert state.cached is None and state.failures == 1


def test_backoff_grows_and_is_capped_with_jitter() -> None:
    """Consecutive failures wait longer each time (0.25-0.5s, 0.5-1s, ...), up to max_backoff."""
    rng = random.Random(1)
    waits = [backoff_delay(n, 4.0, rng) for n in range(1, 9)]
    assert 0.25 <= waits[0] <= 0.5
    assert 0.5 <= waits[1] <= 1.0
    assert all(2.0 <= w <= 4.0 for w in waits[4:])


def test_refusal_only_while_backing_off() -> None:
    """After a failure, refusal() names the last error until the retry time, then lets callers try."""
    state = RefreshState(max_backoff=10)
    assert state.refusal(0.0) is None
    state.failed(TokenUnavailable("exchange failed: UNAVAILABLE: down", code="UNAVAILABLE"), 0.0)
    refusal = state.refusal(0.1)
    assert refusal is not None and refusal.code == "UNAVAILABLE" and "down" in str(refusal)
    assert state.refusal(state.retry_at) is None


def test_success_clears_the_failures() -> None:
    """A successful exchange resets the backoff and the last error."""
    state = RefreshState(max_backoff=10)
    state.failed(TokenUnavailable("x"), 0.0)
    state.succeeded("t", 300.0, 1.0)
    assert state.failures == 0 and state.last_error is None and state.next_attempt(2.0) == state.cached.refresh_at  # type: ignore[union-attr]


def test_failure_drops_a_token_that_is_no_longer_usable() -> None:
    """A failed refresh after the usable window forgets the stale token."""
    state = RefreshState(max_backoff=10)
    state.succeeded("t", 100.0, 0.0)
    state.failed(TokenUnavailable("x"), 50.0)
    assert state.cached is not None
    state.failed(TokenUnavailable("x"), 95.0)
    assert state.cached is None

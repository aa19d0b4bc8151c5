"""When to refresh a token and when to retry: the pure state behind both token sources.

A token is *fresh* until its refresh time (about two thirds of its life, with jitter),
*usable* until shortly before it expires, and never handed out after that. Lifetimes
are measured from when the request was sent, with the token's own ``exp - iat`` less
one second (``iat`` is whole seconds, so the token may be up to a second older than it
says), so a client clock that disagrees with the broker's cannot make an expired token
look valid. Failed exchanges are retried after a capped exponential backoff with jitter.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ._errors import TokenUnavailable
from ._typing import TOKEN_TYPE_JWT
from .v1 import token_pb2

REFRESH_FRACTION = 2 / 3
REFRESH_JITTER = 0.05
#: A token is not handed out in its last tenth of life: at least MIN_, at most MAX_EXPIRY_MARGIN seconds.
MIN_EXPIRY_MARGIN = 0.5
MAX_EXPIRY_MARGIN = 10.0
INITIAL_BACKOFF = 0.5


def exchange_request(
    subject_token: str,
    scopes: Sequence[str],
    audiences: Sequence[str],
    ttl: timedelta | None,
    *,
    subject_token_type: str = TOKEN_TYPE_JWT,
) -> token_pb2.ExchangeTokenRequest:
    """The ExchangeToken request for an attestation."""
    request = token_pb2.ExchangeTokenRequest(
        subject_token=subject_token, subject_token_type=subject_token_type, scopes=scopes, audiences=audiences
    )
    if ttl is not None:
        request.requested_ttl.FromTimedelta(ttl)
    return request


def as_ttl(ttl: float | timedelta | None) -> timedelta | None:
    """A requested lifetime from seconds or a timedelta (None: the broker's default)."""
    if ttl is None:
        return None
    delta = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    if delta <= timedelta(0):
        raise ValueError("ttl must be positive")
    return delta


def lifetime_of(response: token_pb2.ExchangeTokenResponse) -> float:
    """The token's life in seconds: ``exp - iat - 1`` from its claims, else ``expires_at - now``."""
    expires = response.expires_at.seconds + response.expires_at.nanos / 1e9
    try:
        payload = response.access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        iat = claims["iat"]
        if isinstance(iat, int | float) and not isinstance(iat, bool):
            return float(expires - iat - 1)
    except (IndexError, ValueError, KeyError, TypeError):
        pass
    return expires - time.time()


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token and the times (on the source's clock) it is fresh and usable until."""

    value: str = field(repr=False)
    refresh_at: float
    usable_until: float


def backoff_delay(failures: int, max_backoff: float, rng: random.Random) -> float:
    """Seconds to wait after ``failures`` failures in a row: doubling from 0.5s, capped, half jittered."""
    ceiling = min(max(max_backoff, INITIAL_BACKOFF), INITIAL_BACKOFF * 2.0 ** min(max(failures - 1, 0), 30))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class RefreshState:
    """The cached token, the failure count and the retry time of one token source.

    Not thread-safe by itself: the sync source guards it with a lock, the async one
    touches it from its event loop only.
    """

    def __init__(self, *, max_backoff: float, rng: random.Random | None = None) -> None:
        self.cached: CachedToken | None = None
        self.failures = 0
        self.retry_at = float("-inf")
        self.last_error: TokenUnavailable | None = None
        self._max_backoff = max_backoff
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def fresh(self, now: float) -> str | None:
        """The token if it does not need refreshing yet."""
        cached = self.cached
        return cached.value if cached is not None and now < cached.refresh_at else None

    def usable(self, now: float) -> str | None:
        """The token if it may still be handed out."""
        cached = self.cached
        return cached.value if cached is not None and now < cached.usable_until else None

    def next_attempt(self, now: float) -> float:
        """When the background refresher should next exchange."""
        if self.failures:
            return self.retry_at
        return self.cached.refresh_at if self.cached is not None else now

    def refusal(self, now: float) -> TokenUnavailable | None:
        """The error to raise instead of exchanging now (no usable token, still backing off)."""
        if now < self.retry_at and self.last_error is not None:
            wait = self.retry_at - now
            return TokenUnavailable(f"{self.last_error} (next attempt in {wait:.1f}s)", code=self.last_error.code)
        return None

    def succeeded(self, value: str, lifetime: float, sent_at: float) -> None:
        """Cache a token received for a request sent at ``sent_at``."""
        if lifetime <= 0:
            self.failed(TokenUnavailable("the broker returned an expired token", code="EXPIRED"), sent_at)
            return
        fraction = REFRESH_FRACTION + self._rng.uniform(-REFRESH_JITTER, REFRESH_JITTER)
        margin = min(MAX_EXPIRY_MARGIN, max(MIN_EXPIRY_MARGIN, lifetime / 10))
        self.cached = CachedToken(value, sent_at + lifetime * fraction, sent_at + lifetime - margin)
        self.failures = 0
        self.retry_at = float("-inf")
        self.last_error = None

    def failed(self, error: TokenUnavailable, now: float) -> None:
        """Record a failed exchange and schedule the next attempt."""
        self.failures += 1
        self.last_error = error
        self.retry_at = now + backoff_delay(self.failures, self._max_backoff, self._rng)
        if self.cached is not None and now >= self.cached.usable_until:
            self.cached = None

    def error(self) -> TokenUnavailable:
        """Why no token is available (after a failed attempt)."""
        return self.last_error or TokenUnavailable("no valid token from the broker")

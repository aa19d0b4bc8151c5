"""Token-bucket rate limits, one bucket per key (an identity, a client address).

A limit ``N/s`` (or ``N/m``) lets a key spend up to N calls at once and earns them back
at N per second (per minute). A refused call raises ``RateLimited`` with the seconds until
the next call would pass, which the api layer sends as google.rpc.RetryInfo.

The buckets live in this process, or, given a ``RateLimitStore`` (the SQL stores), in the
store, shared by every worker and replica on it (BROKER_RATE_LIMIT_SHARED).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from .clock import Clock
from .errors import ResourceExhausted

_LIMIT = re.compile(r"^(\d+)/(s|m)$")
#: Keys a limiter remembers; the least recently used bucket goes first (a full one at that).
MAX_KEYS = 100_000


@runtime_checkable
class RateLimitStore(Protocol):
    """Token buckets kept where every process of the broker sees them."""

    def take_rate_token(self, key: str, *, burst: int, per_second: float, now: float) -> float:
        """Spend one token of ``key`` (refilled at ``per_second`` up to ``burst`` since its last
        call; ``now`` in epoch seconds); 0.0 when spent, else the seconds until one is back."""
        ...


class RateLimited(ResourceExhausted):
    """Too many calls for one key; ``retry_after`` says when the next would pass."""

    def __init__(self, message: str, *, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``burst`` calls at once, refilled at ``burst`` per ``period``."""

    burst: int
    period: timedelta

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``100/s`` or ``600/m``; ``off`` (or ``0``) is no limit (None). ValueError otherwise."""
        if text in ("off", "0"):
            return None
        found = _LIMIT.match(text)
        if found is None or int(found.group(1)) == 0:
            raise ValueError(f"{text!r} is not N/s, N/m or off")
        return cls(int(found.group(1)), timedelta(seconds=1 if found.group(2) == "s" else 60))

    @property
    def per_second(self) -> float:
        """The refill rate."""
        return self.burst / self.period.total_seconds()

    def __str__(self) -> str:
        return f"{self.burst}/{'s' if self.period == timedelta(seconds=1) else 'm'}"


class Limiter:
    """One limit over many keys; ``take`` spends one call of a key or raises RateLimited."""

    def __init__(
        self,
        name: str,
        limit: RateLimit,
        clock: Clock,
        *,
        on_refused: Callable[[], None] | None = None,
        shared: RateLimitStore | None = None,
    ) -> None:
        self.name = name
        self._limit = limit
        self._clock = clock
        self._on_refused = on_refused
        self._shared = shared
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    @property
    def shared(self) -> bool:
        """True when the buckets are in the store (a call may then block on it)."""
        return self._shared is not None

    def take(self, key: str, *, what: str) -> None:
        """Spend one call of ``key``; ``what`` names the key in the refusal (never a secret)."""
        now = self._clock.now().timestamp()
        if self._shared is not None:
            seconds = self._shared.take_rate_token(
                f"{self.name}:{key}", burst=self._limit.burst, per_second=self._limit.per_second, now=now
            )
        else:
            seconds = self._take_here(key, now)
        if not seconds:
            return
        if self._on_refused is not None:
            self._on_refused()
        wait = timedelta(seconds=seconds)
        raise RateLimited(f"rate limit {self._limit} for {what} reached; retry in {wait.total_seconds():.2f}s",
                          retry_after=wait)  # fmt: skip

    def _take_here(self, key: str, now: float) -> float:
        """The in-process bucket of ``key``: 0.0 when a token was spent, else seconds to wait."""
        rate, burst = self._limit.per_second, float(self._limit.burst)
        with self._lock:
            tokens, at = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - at) * rate)
            self._buckets[key] = (tokens - 1.0, now) if tokens >= 1.0 else (tokens, now)
            if len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate

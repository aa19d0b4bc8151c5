"""A small read-through cache for records the hot paths read often and change rarely.

A value read from the store is reused for ``ttl`` (by the injected clock); ``forget``
drops one at once (a write through this process), and other processes' writes are seen
within ``ttl``. A key the store does not have is never cached: it goes to the store each
time, so a new record is usable everywhere at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from .clock import Clock

V = TypeVar("V")


class ReadCache(Generic[V]):
    """Values by key, each good for ``ttl`` after it was read; at most ``max_entries`` kept."""

    def __init__(self, clock: Clock, ttl: timedelta, *, max_entries: int = 10_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[datetime, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, read: Callable[[str], V]) -> V:
        """The cached value of ``key`` while fresh, else ``read(key)`` (which may raise), kept."""
        now = self._clock.now()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = read(key)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (now + self._ttl, value)
        return value

    def forget(self, key: str) -> None:
        """Drop ``key`` (after a write), so the next ``get`` reads the store."""
        with self._lock:
            self._entries.pop(key, None)

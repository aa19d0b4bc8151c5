"""Login throttling kept in the store, so it holds across replicas and restarts.

Failed logins are counted per attempted user name (known or not, so the answers never
tell which names exist) and per client address, each count in a window that opens at its
first failure:

- an account: after ``backoff_after`` failures every further attempt waits
  ``2^(n - backoff_after)`` seconds (at most ``max_backoff``) after the last one; at
  ``lock_after`` failures inside one window it is locked until an admin unlocks it (the
  backoffs before that fit in the window, so guessing from several addresses does lock
  it); a successful login clears its count;
- an address: after ``address_failures`` failures inside a window it may not try again
  until the window ends. That limit is below ``lock_after`` even counting a refilled
  window, so one address cannot lock anybody out: the address limit trips first.

A refusal to try now raises ``RateLimited`` with the wait (google.rpc.RetryInfo on the
wire). A count is a read, then a compare-and-set write; a lost race reads again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .clock import Clock
from .errors import Conflict
from .ratelimit import RateLimited

_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """The failed logins counted for one key (``user:<name>`` or ``addr:<host>``)."""

    key: str
    count: int
    first_time: datetime
    last_time: datetime
    locked: bool = False
    etag: str = ""


class LoginFailureStore(Protocol):
    """Failure counts, written compare-and-set (tests/store checks every backend)."""

    def get_login_failures(self, key: str) -> LoginFailures | None:
        """The count of ``key``, or None."""
        ...

    def put_login_failures(self, failures: LoginFailures, *, expected_etag: str) -> LoginFailures:
        """Write if the stored etag equals ``expected_etag`` ('' = none stored yet), else Conflict."""
        ...

    def clear_login_failures(self, key: str) -> bool:
        """Remove the count of ``key``; True if there was one."""
        ...

    def purge_login_failures(self, first_before: datetime, *, limit: int) -> int:
        """Remove up to ``limit`` counts that are not locked and whose window opened before
        ``first_before``; how many."""
        ...


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The numbers of the module docstring."""

    backoff_after: int = 5
    lock_after: int = 20
    address_failures: int = 8
    window: timedelta = timedelta(hours=1)
    max_backoff: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if not 0 < self.backoff_after < self.lock_after or not 0 < 2 * self.address_failures < self.lock_after:
            raise ValueError("throttle: need 0 < backoff_after < lock_after and 2 * address_failures < lock_after")
        if sum((self.backoff(n) for n in range(self.lock_after)), timedelta(0)) >= self.window:
            raise ValueError("throttle: the backoffs before a lockout must fit in its window")

    def backoff(self, count: int) -> timedelta:
        """How long after the last of ``count`` failures the next attempt must wait."""
        if count < self.backoff_after:
            return timedelta(0)
        return min(timedelta(seconds=2 ** min(count - self.backoff_after, 20)), self.max_backoff)


def client_host(peer: str) -> str:
    """The host of a gRPC peer (``ipv4:10.0.0.1:5123`` -> ``ipv4:10.0.0.1``)."""
    return peer.rpartition(":")[0] or peer


class LoginThrottle:
    """Decides whether a login may be tried now, and counts the ones that fail."""

    def __init__(self, store: LoginFailureStore, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self._store = store
        self._clock = clock
        self.policy = policy or ThrottlePolicy()

    def check(self, username: str, peer: str) -> bool:
        """RateLimited if the address or the account must wait; True if the account is locked."""
        now = self._clock.now()
        address = self._current(f"addr:{client_host(peer)}", now)
        if address is not None and address.count >= self.policy.address_failures:
            self._refuse("this address", address.first_time + self.policy.window - now)
        account = self._current(f"user:{username}", now)
        if account is None:
            return False
        if account.locked:
            return True
        wait = account.last_time + self.policy.backoff(account.count) - now
        if wait > timedelta(0):
            self._refuse("this account", wait)
        return False

    def failed(self, username: str, peer: str) -> bool:
        """Count one failure for the account and the address; True if it locked the account now."""
        self._count(f"addr:{client_host(peer)}", lock=False)
        return self._count(f"user:{username}", lock=True)

    def succeeded(self, username: str) -> None:
        """A successful login clears the account's count (never the address's)."""
        self._store.clear_login_failures(f"user:{username}")

    def unlock(self, username: str) -> bool:
        """Clear the account's count and lockout; True if there was one."""
        return self._store.clear_login_failures(f"user:{username}")

    def purge(self, now: datetime, *, limit: int) -> int:
        """Remove counts whose window has closed (a lockout stays until unlocked); how many."""
        return self._store.purge_login_failures(now - self.policy.window, limit=limit)

    def locked(self, username: str) -> bool:
        """True while the account is locked."""
        found = self._store.get_login_failures(f"user:{username}")
        return found is not None and found.locked

    def _current(self, key: str, now: datetime) -> LoginFailures | None:
        """The count of ``key`` if its window is still open."""
        return self._open(self._store.get_login_failures(key), now)

    def _open(self, found: LoginFailures | None, now: datetime) -> LoginFailures | None:
        """``found`` if its window is still open (a lockout never closes), else None."""
        if found is None or (not found.locked and now >= found.first_time + self.policy.window):
            return None
        return found

    def _count(self, key: str, *, lock: bool) -> bool:
        for _ in range(_ATTEMPTS):
            now = self._clock.now()
            stored = self._store.get_login_failures(key)
            current = self._open(stored, now)
            if current is None:
                new = LoginFailures(key, 1, now, now)
            else:
                new = dataclasses.replace(current, count=current.count + 1, last_time=now)
            locks = lock and not new.locked and new.count >= self.policy.lock_after
            if locks:
                new = dataclasses.replace(new, locked=True)
            try:
                self._store.put_login_failures(new, expected_etag=stored.etag if stored is not None else "")
            except Conflict:
                continue
            return locks
        raise Conflict(f"too many concurrent failed logins for {key.partition(':')[0]}; retry")

    def _refuse(self, what: str, wait: timedelta) -> None:
        wait = max(wait, timedelta(seconds=1))
        raise RateLimited(
            f"too many failed logins from {what}; retry in {int(wait.total_seconds())}s", retry_after=wait
        )

"""Background jobs (APScheduler) and the leader lease, so exactly one replica rotates.

::

    job                  runs on       does
    lease                every replica take or renew the leader lease
    refresh_keyring      every replica reload signing keys (a NEXT key is known before it signs)
    rotate_secrets       leader        rotate each due secret once
    expire_secrets       leader        end grace periods (GRACE_EXPIRED), destroy material past retention
    rotate_signing_keys  leader        publish the next signing key ahead of time, delete retired ones
    purge_expired        leader        drop replay and revocation records past their expiry, lapsed
                                       logins and closed failed-login windows
    purge_audit          leader        drop audit events older than the retention, in bounded batches
    flush_audit          every replica write the counts of sampled unauthenticated failures
    checkpoint_audit     leader        sign a checkpoint of the audit chain (core/audit_chain.py)
    rewrap_sealed        leader        move sealed data to the first of BROKER_KEK's keys (KEK rotation)

Nothing is decided from in-memory timers: every job reads "now" from the injected clock
and what is due from the store, so a restart, a crash or a long downtime changes
nothing but latency. Store writes are compare-and-set, so even two replicas that both
believe they lead (a lease lost mid-job) cannot rotate one secret twice.

A failing job is logged (job name, error class, the domain message; never a value)
and retried with exponential backoff and jitter; a success restores the normal tick.
``stop`` waits for running jobs, then gives the lease up so another replica takes over
at once.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .core.attestation import ReplayStore
from .core.audit import Auditor
from .core.audit_chain import AuditChain
from .core.clock import Clock
from .core.errors import BrokerError
from .core.keys import Keyring, publish_lead
from .core.principals import Principal
from .core.secrets import ROTATE_SCOPE, SecretManager

_log = structlog.get_logger("broker.scheduler")

LEASE_NAME = "scheduler"
#: Secrets rotated per batch, and batches per run (the next tick takes the rest).
_BATCH = 100
#: Who rotates due secrets: the scheduler, which may rotate every secret and do nothing else.
SCHEDULER = Principal.broker("scheduler", f"{ROTATE_SCOPE}:*")
_MAX_BATCHES = 10
_REWRAP_BATCH = 100
_MAX_BACKOFF = timedelta(minutes=5)

Work = Callable[[datetime], None]


class LeaseStore(Protocol):
    """One named lease with a fencing token: who leads the replicas' periodic work."""

    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> int | None:
        """Take or renew the lease for ``holder`` if free, expired or already its own.

        Returns the fencing token (it grows every time the holder changes), or None when
        another holder's lease is still live.
        """
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it."""
        ...


class SchedulerStore(LeaseStore, ReplayStore, Protocol):
    """The scheduler's view of the store: the lease, the expired records it purges, and the
    sealed data it moves to the current key-encryption key."""

    def rewrap_sealed(self, *, limit: int) -> int:
        """Seal again under the current KEK up to ``limit`` blobs sealed under an older one;
        returns how many (0: none left, or no older KEK configured)."""
        ...


class Scheduler:
    """The broker's periodic jobs; ``start`` and ``stop`` bracket its life."""

    def __init__(
        self,
        store: SchedulerStore,
        secrets_manager: SecretManager,
        keyring: Keyring,
        auditor: Auditor,
        clock: Clock,
        *,
        tick: timedelta,
        lease_ttl: timedelta,
        signing_key_rotation: timedelta,
        jwks_cache_ttl: timedelta,
        audit_retention: timedelta = timedelta(days=90),
        audit_chain: AuditChain | None = None,
        on_failure: Callable[[str], None] | None = None,
        holder: str | None = None,
        purge_logins: Callable[[datetime], int] | None = None,
    ) -> None:
        if lease_ttl < 2 * tick:
            raise ValueError("lease_ttl must be at least twice the tick")
        self._store = store
        self._secrets = secrets_manager
        self._keyring = keyring
        self._auditor = auditor
        self._clock = clock
        self._tick = tick
        self._lease_ttl = lease_ttl
        self._signing_key_rotation = signing_key_rotation
        self._audit_retention = audit_retention
        self._audit_chain = audit_chain
        self._on_failure = on_failure
        self._purge_logins = purge_logins
        self._rewrapping = False
        self.next_rotation: datetime | None = None
        """The soonest scheduled secret rotation, as the leader last saw it (metrics)."""
        self.publish_lead = publish_lead(jwks_cache_ttl, tick)
        self.holder = holder or f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._token: int | None = None
        self._leader_until: datetime | None = None
        self._failures: dict[str, int] = {}
        self._aps: BackgroundScheduler | None = None

    # lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Try for the lease once (so a lone replica leads from its first tick), then start the jobs."""
        self._stopping.clear()
        self._run("lease", self.renew_lease, leader_only=False)
        aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        first = datetime.now(UTC)
        for name, work, leader_only in self._jobs():
            aps.add_job(
                self._run,
                IntervalTrigger(seconds=self._tick.total_seconds(), timezone=UTC),
                args=(name, work),
                kwargs={"leader_only": leader_only},
                id=name,
                name=name,
                next_run_time=first,
            )
        aps.start()
        self._aps = aps
        _log.info("scheduler started", holder=self.holder, tick_s=self._tick.total_seconds())

    def stop(self) -> None:
        """Stop scheduling, wait for running jobs, release the lease if held."""
        self._stopping.set()
        aps, self._aps = self._aps, None
        if aps is not None and aps.running:
            aps.shutdown(wait=True)
        with contextlib.suppress(BrokerError):  # the counts of sampled failures, before they are lost
            self._auditor.flush(datetime.max.replace(tzinfo=UTC))
        with self._lock:
            held, self._token, self._leader_until = self._token is not None, None, None
        if held:
            try:
                self._store.release_lease(LEASE_NAME, self.holder)
            except BrokerError as exc:
                _log.warning("leader lease not released", error=type(exc).__name__, reason=exc.message)
        _log.info("scheduler stopped", holder=self.holder)

    def is_leader(self) -> bool:
        """True while this replica holds a live lease (ending one tick before the store's expiry)."""
        with self._lock:
            until = self._leader_until
        return until is not None and self._clock.now() < until

    def run_now(self, name: str) -> None:
        """Run one job once, as its tick would: leader-only jobs do nothing off the leader."""
        for job, work, leader_only in self._jobs():
            if job == name:
                self._run(job, work, leader_only=leader_only)
                return
        raise KeyError(name)

    # jobs (public so tests can drive them with a fake clock) -----------------------------
    def renew_lease(self, now: datetime) -> None:
        """Take or renew the leader lease."""
        token = self._store.acquire_lease(LEASE_NAME, self.holder, ttl=self._lease_ttl, now=now)
        with self._lock:
            before = self._token
            self._token = token
            self._leader_until = None if token is None else now + self._lease_ttl - self._tick
        if token is not None and before != token:
            _log.info("leader lease acquired", holder=self.holder, fencing_token=token)
            self._auditor.record("lease.acquire", by=SCHEDULER, target=LEASE_NAME, holder=self.holder, token=token)
        elif token is None and before is not None:
            _log.warning("leader lease lost", holder=self.holder)
            self._auditor.record("lease.lose", by=SCHEDULER, target=LEASE_NAME, holder=self.holder, token=before)

    def refresh_keyring(self, now: datetime) -> None:
        """Reload signing keys from the store."""
        self._keyring.refresh()

    def rotate_secrets(self, now: datetime) -> None:
        """Rotate every secret due at ``now`` once."""
        for _ in range(_MAX_BATCHES):
            rotated = self._secrets.rotate_due(now, by=SCHEDULER, limit=_BATCH)
            if len(rotated) < _BATCH:
                break
        self.next_rotation = self._secrets.next_rotation()

    def expire_secrets(self, now: datetime) -> None:
        """End grace periods that are over and destroy material past retention."""
        events, destroyed = self._secrets.expire(now)
        for event in events:
            _log.info("secret grace period ended", secret_id=event.secret_id, version=event.version)
            self._auditor.record("secret.grace_end", by=SCHEDULER, target=event.secret_id, version=event.version)
        if destroyed:
            _log.info("expired secret material destroyed", versions=destroyed)

    def rotate_signing_keys(self, now: datetime) -> None:
        """Publish the next signing key ahead of its activation; delete retired keys."""
        done = self._keyring.rotate(now, interval=self._signing_key_rotation, publish_lead=self.publish_lead)
        if done.added is not None and done.activate_time is not None:
            _log.info("signing key published", kid=done.added, activate_time=done.activate_time.isoformat())
            self._auditor.record(
                "signing_key.publish", by=SCHEDULER, target=done.added, activate_time=done.activate_time.isoformat()
            )
        if done.deleted:
            _log.info("signing keys retired", kids=list(done.deleted))
        for kid in done.deleted:
            self._auditor.record("signing_key.retire", by=SCHEDULER, target=kid)

    def purge_expired(self, now: datetime) -> None:
        """Drop replay and revocation records past their expiry, and what logins left behind."""
        self._store.purge_expired(now)
        if self._purge_logins is not None:
            self._purge_logins(now)

    def purge_audit(self, now: datetime) -> None:
        """Drop audit events older than the retention (bounded batches; the next tick takes the rest)."""
        purged = self._auditor.purge(now - self._audit_retention)
        if purged:
            _log.info("audit events purged", count=purged, retention_days=self._audit_retention.days)

    def flush_audit(self, now: datetime) -> None:
        """Write the counts of sampled failures whose window has closed."""
        self._auditor.flush(now)

    def checkpoint_audit(self, now: datetime) -> None:
        """Sign a checkpoint of the audit chain when one is due and the chain has grown."""
        if self._audit_chain is not None:
            self._audit_chain.checkpoint(now)

    def rewrap_sealed(self, now: datetime) -> None:
        """Move a bounded batch of sealed blobs to the current KEK; log when none is left."""
        moved = self._store.rewrap_sealed(limit=_REWRAP_BATCH)
        if moved:
            _log.info("sealed data moved to the current key-encryption key", count=moved)
            self._rewrapping = True
        elif self._rewrapping:
            _log.info("no sealed data is left under an older key-encryption key; it can leave BROKER_KEK")
            self._rewrapping = False

    def job_names(self) -> list[str]:
        """The names of the jobs, as logs and metrics label them."""
        return [name for name, _, _ in self._jobs()]

    # plumbing -----------------------------------------------------------------------
    def _jobs(self) -> list[tuple[str, Work, bool]]:
        return [
            ("lease", self.renew_lease, False),
            ("refresh_keyring", self.refresh_keyring, False),
            ("rotate_secrets", self.rotate_secrets, True),
            ("expire_secrets", self.expire_secrets, True),
            ("rotate_signing_keys", self.rotate_signing_keys, True),
            ("purge_expired", self.purge_expired, True),
            ("purge_audit", self.purge_audit, True),
            ("flush_audit", self.flush_audit, False),
            ("checkpoint_audit", self.checkpoint_audit, True),
            ("rewrap_sealed", self.rewrap_sealed, True),
        ]

    def _run(self, name: str, work: Work, *, leader_only: bool) -> None:
        if self._stopping.is_set() or (leader_only and not self.is_leader()):
            return
        try:
            work(self._clock.now())
        except Exception as exc:  # noqa: BLE001 - a job survives anything and is retried
            self._retry_later(name, exc)
        else:
            with self._lock:
                self._failures.pop(name, None)

    def _retry_later(self, name: str, exc: Exception) -> None:
        with self._lock:
            attempt = self._failures[name] = self._failures.get(name, 0) + 1
        base = min(timedelta(seconds=1), self._tick)
        delay = min(base * 2 ** min(attempt - 1, 20), max(_MAX_BACKOFF, self._tick))
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
        fields: dict[str, Any] = {"job": name, "attempt": attempt, "retry_in_s": round(delay.total_seconds(), 3)}
        fields["error"] = type(exc).__name__
        if isinstance(exc, BrokerError):  # their messages never hold a value; other exceptions' might
            fields["reason"] = exc.message
        _log.warning("job failed", **fields)
        if self._on_failure is not None:
            self._on_failure(name)
        aps = self._aps
        if aps is None or self._stopping.is_set():
            return
        with contextlib.suppress(JobLookupError):  # removed by a concurrent stop
            aps.modify_job(name, next_run_time=datetime.now(UTC) + delay)

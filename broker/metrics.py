"""The broker's Prometheus metrics beyond the per-RPC ones (api/handler.py's RpcMetrics).

Counters follow what happened: exchanges granted and refused (by the error code), tokens
minted (by the kind of their subject) and secret rotations come from the audit trail as
it is written (``observe_audit``, every event including sampled ones), scheduler job
failures from the scheduler, store latency from a timing wrapper around the store.
Gauges are read at scrape time from state the process already holds (no store reads):
leadership, the signing key's age, the audit chain's length, the next secret rotation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .core.identities import MACHINE_KINDS
from .core.principals import BROKER_KIND, Principal

T = TypeVar("T")

_EXCHANGES = ("token.exchange", "token.delegate")
#: Seconds: the histogram buckets of every latency the broker measures (RPCs, store calls).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
#: The rate limits, as ``broker_rate_limited_total`` labels them.
RATE_LIMITS = ("exchange_per_identity", "per_client_address", "secret_reads_per_caller")


class BrokerMetrics:
    """Counters and histograms on the server's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.exchanges = Counter(
            "broker_exchanges_total",
            "Token exchanges and delegations by result and the refusal's error code",
            ["action", "result", "reason"],
            registry=registry,
        )
        self.minted = Counter(
            "broker_tokens_minted_total", "Tokens minted by the kind of subject", ["kind"], registry=registry
        )
        self.rotations = Counter(
            "broker_secret_rotations_total", "Secret rotations by trigger", ["trigger"], registry=registry
        )
        self.job_failures = Counter(
            "broker_scheduler_job_failures_total", "Scheduler job runs that failed (and are retried)", ["task"],
            registry=registry,
        )  # fmt: skip
        self.store_latency = Histogram(
            "broker_store_operation_seconds",
            "Time of each store operation",
            ["operation"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.rate_limited = Counter(
            "broker_rate_limited_total", "Calls refused by a rate limit", ["limit"], registry=registry
        )
        # Series that exist from the start, at 0, so rates and dashboards see them before the first event.
        for action in _EXCHANGES:
            self.exchanges.labels(action, "granted", "")
        for kind in MACHINE_KINDS:
            self.minted.labels(kind)
        for trigger in ("scheduled", "manual"):
            self.rotations.labels(trigger)
        for limit in RATE_LIMITS:
            self.rate_limited.labels(limit)

    def observe_audit(self, action: str, outcome: str, by: Principal, details: Mapping[str, Any]) -> None:
        """Count what an audit event records (the Auditor's observer)."""
        if action in _EXCHANGES:
            granted = outcome == "success"
            reason = "" if granted else str(details.get("error", ""))
            self.exchanges.labels(action, "granted" if granted else "refused", reason).inc()
            if granted:
                self.minted.labels(str(details.get("kind", ""))).inc()
        elif action == "secret.rotate" and outcome == "success":
            self.rotations.labels("scheduled" if by.kind == BROKER_KIND else "manual").inc()


class StateCollector(Collector):
    """Gauges read at scrape time through the callables it is given."""

    def __init__(
        self,
        *,
        is_leader: Callable[[], bool],
        signing_key_since: Callable[[], datetime | None],
        audit_chain_length: Callable[[], int],
        next_rotation: Callable[[], datetime | None],
        now: Callable[[], datetime],
    ) -> None:
        self._is_leader = is_leader
        self._signing_key_since = signing_key_since
        self._audit_chain_length = audit_chain_length
        self._next_rotation = next_rotation
        self._now = now

    def collect(self) -> Iterator[Metric]:
        now = self._now()
        since, due = self._signing_key_since(), self._next_rotation()
        yield _gauge("broker_leader", "1 while this process holds the leader lease", int(self._is_leader()))
        yield _gauge(
            "broker_signing_key_age_seconds", "Seconds the CURRENT signing key has signed",
            None if since is None else (now - since).total_seconds(),
        )  # fmt: skip
        yield _gauge(
            "broker_audit_chain_length", "The audit chain's head seq as this process last wrote or read it",
            self._audit_chain_length(),
        )  # fmt: skip
        yield _gauge(
            "broker_secret_next_rotation_seconds", "Seconds until the soonest scheduled secret rotation (the leader)",
            None if due is None else (due - now).total_seconds(),
        )  # fmt: skip


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    """A gauge family; without a value it has no sample (the family is still listed)."""
    family = GaugeMetricFamily(name, documentation)
    if value is not None:
        family.add_metric([], value)
    return family


class _TimedStore:
    """Every public method of the wrapped object, timed into a histogram by its name."""

    def __init__(self, inner: object, histogram: Histogram) -> None:
        self._inner = inner
        self._histogram = histogram

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        observe = self._histogram.labels(name).observe

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                observe(time.perf_counter() - started)

        setattr(self, name, timed)  # the next call skips __getattr__
        return timed

    def __repr__(self) -> str:
        return repr(self._inner)


def timed_store(store: T, histogram: Histogram) -> T:
    """``store`` with each operation's duration observed in ``histogram`` (label: the method)."""
    return cast(T, _TimedStore(store, histogram))

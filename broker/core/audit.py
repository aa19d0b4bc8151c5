"""Audit events: who did what to which resource, and how it ended. Never a secret.

Failures of callers who proved nothing (a bad subject token or attestation in a
delegation, from anyone on the network) cannot be allowed to write a row each: they are
sampled. Per (action, error, kind of reason) and per ``sample_window`` (a minute), the
first is written at once and the others are counted; when the window closes (the
scheduler's ``flush`` every tick, or the next such failure) one more event says how
many there were. So a flood costs a handful of rows a minute, and none goes unnoticed.
The trail keeps events for ``BROKER_AUDIT_RETENTION`` (the scheduler purges older ones).

The events form one hash chain per store: each carries a sequence number and the
SHA-256 of the event before it (``chain_hash``). The store numbers and links a batch
onto its head as one step (a lock on SQL, compare-and-set on Vault), so replicas
appending at once keep one chain. core/audit_chain.py signs checkpoints of it and verifies it. A write that fails
raises: the call it records fails too, and hands nothing out (fail closed).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from . import pages
from .clock import Clock
from .errors import InvalidArgument
from .principals import ANONYMOUS, Principal

_log = structlog.get_logger("broker.audit")

#: An event id: 14 hex digits of microseconds, then 12 random hex digits.
EVENT_ID = re.compile(r"^[0-9a-f]{26}$")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded action. ``details`` holds names, ids and reasons, never values."""

    id: str
    event_time: datetime
    action: str
    actor: str
    target: str
    outcome: str
    request_id: str = ""
    subject: str = ""
    """On whose behalf the actor acted (a delegation's person or service); often the actor."""
    details: Mapping[str, Any] = field(default_factory=dict)
    client_address: str = ""
    replica: str = ""
    seq: int = 0
    """Its place in the chain, from 1."""
    prev_hash: str = ""
    """``hash`` of the event at ``seq - 1`` ('' for the first)."""
    hash: str = ""
    """``chain_hash`` of this event."""


def chain_content(event: AuditEvent) -> dict[str, Any]:
    """Everything the event records but its own hash (what ``chain_hash`` covers), as JSON values."""
    return {
        "seq": event.seq,
        "prev_hash": event.prev_hash,
        "id": event.id,
        "event_time": event.event_time.isoformat(timespec="microseconds"),
        "action": event.action,
        "actor": event.actor,
        "subject": event.subject,
        "target": event.target,
        "outcome": event.outcome,
        "request_id": event.request_id,
        "client_address": event.client_address,
        "replica": event.replica,
        "details": dict(event.details),
    }


def chain_hash(event: AuditEvent) -> str:
    """SHA-256 (hex) of ``chain_content``: everything the event records, seq and prev_hash included."""
    canonical = json.dumps(chain_content(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The newest event's place in the chain; ``ChainHead(0, "")`` for an empty trail."""

    seq: int
    hash: str


def chain_onto(drafts: Sequence[AuditEvent], head: ChainHead) -> list[AuditEvent]:
    """``drafts`` numbered and linked after ``head``, each with its hash."""
    chained = []
    for draft in drafts:
        event = replace(draft, seq=head.seq + 1, prev_hash=head.hash)
        event = replace(event, hash=chain_hash(event))
        head = ChainHead(event.seq, event.hash)
        chained.append(event)
    return chained


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Equality filters for ListAuditEvents."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    outcome: str | None = None
    subject: str | None = None


def event_id(when: datetime) -> str:
    """A sortable id: microseconds since the epoch (hex, fixed width) then 48 random bits."""
    return f"{event_id_floor(when)}{secrets.token_hex(6)}"


def event_id_floor(when: datetime) -> str:
    """The id prefix of ``when``: every event id of an earlier instant sorts below it."""
    return f"{int(when.timestamp() * 1_000_000):014x}"


class AuditLog(Protocol):
    """Where audit events go: an append-only hash chain, newest first when listed."""

    def append_audit_events(self, drafts: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Chain ``drafts`` onto the head (``chain_onto``) and store them, in order, as one step
        no other writer interleaves with; returns them as stored."""
        ...

    def audit_chain_head(self) -> ChainHead:
        """The seq and hash of the newest event."""
        ...

    def read_audit_chain(self, *, after: int, limit: int) -> list[AuditEvent]:
        """Up to ``limit`` events with seq > ``after``, in seq order."""
        ...

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest), newest first."""
        ...

    def replace_audit_event(self, event: AuditEvent) -> None:
        """Rewrite the stored event at ``event.seq`` with ``event``'s actor, subject, target and
        details (a person's erasure: core/privacy.py); its seq, id and hashes stay."""
        ...

    def purge_audit_events(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events older than ``before``, never the newest
        (it is the chain's head); returns how many."""
        ...


@dataclass(slots=True)
class _Window:
    """One sampled kind of event in the current window: when it opened, how many since, and
    what its closing summary says."""

    start: datetime
    last: datetime
    count: int
    action: str
    actor: str
    subject: str
    target: str
    outcome: str
    summary: dict[str, Any]

    @classmethod
    def opening(cls, now: datetime, action: str, actor: str, subject: str, target: str, outcome: str,
                summary: dict[str, Any]) -> _Window:  # fmt: skip
        """A window opened at ``now`` by its first event."""
        return cls(now, now, 1, action, actor, subject, target, outcome, summary)


def reason_kind(reason: str) -> str:
    """A failure reason without the caller-chosen parts (quoted text, numbers), for sampling."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|[0-9]+", "_", reason)[:80]


#: Told of every recorded event (action, outcome, caller, details), sampled ones included: metrics.
Observer = Callable[[str, str, Principal, Mapping[str, Any]], None]


class Announcer:
    """What follows every stored event: its log line and the sink (BROKER_AUDIT_LOG)."""

    def __init__(self, sink: Callable[[AuditEvent], None] | None = None) -> None:
        self._sink = sink
        self.last_seq = 0
        """The highest seq this process has stored (0 before its first event)."""

    def __call__(self, event: AuditEvent) -> None:
        self.last_seq = max(self.last_seq, event.seq)
        _log.info(
            "audit", action=event.action, actor=event.actor, subject=event.subject, target=event.target,
            outcome=event.outcome,
            request_id=event.request_id, seq=event.seq, **event.details,
        )  # fmt: skip
        if self._sink is not None:
            self._sink(event)


class Auditor:
    """Appends audit events to the chain in the store (and one log line each); samples
    unauthenticated failures.

    ``append`` stores one event and returns it chained; by default the Auditor does it
    itself, one transaction per event (runtime/audit_writer.py batches them instead and
    then calls the same ``announce``). ``observer`` hears of every recorded event,
    sampled ones included (metrics).
    """

    def __init__(
        self,
        store: AuditLog,
        clock: Clock,
        *,
        sample_window: timedelta = timedelta(minutes=1),
        max_kinds: int = 256,
        replica: str = "",
        announce: Announcer | None = None,
        observer: Observer | None = None,
        append: Callable[[AuditEvent], AuditEvent] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._window = sample_window
        self._max_kinds = max_kinds
        self._replica = replica
        self._announce = announce or Announcer()
        self._observer = observer
        self._append = append or self._append_alone
        self._lock = threading.Lock()
        self._sampled: dict[tuple[str, ...], _Window] = {}

    def record(
        self,
        action: str,
        *,
        by: Principal,
        target: str,
        outcome: str = "success",
        actor: str = "",
        subject: str = "",
        **details: Any,
    ) -> AuditEvent:
        """Append one event of ``by``'s request; ``details`` must not contain secret material.

        ``actor`` and ``subject`` name who acted and for whom when that is not the caller
        itself (an agent that proved itself by an attestation in a delegation, the subject
        of an exchanged token); by default they are ``by.actor`` and ``by.subject``.
        """
        event = self._write(
            action, by, actor=actor or by.actor, subject=subject or by.subject, target=target, outcome=outcome,
            details=details,
        )  # fmt: skip
        if self._observer is not None:
            self._observer(action, outcome, by, event.details)
        return event

    def _write(
        self,
        action: str,
        by: Principal | None,
        *,
        actor: str,
        subject: str,
        target: str,
        outcome: str,
        details: Mapping[str, Any],
    ) -> AuditEvent:
        """One event of ``by``'s request (None: a window's summary, of no one request)."""
        now = self._clock.now()
        draft = AuditEvent(
            id=event_id(now),
            event_time=now,
            action=action,
            actor=actor,
            subject=subject,
            target=target,
            outcome=outcome,
            request_id=by.request_id if by is not None else "",
            # As the store will give it back: JSON values only, so the hash survives the trip.
            details=json.loads(json.dumps(dict(details), default=str)),
            client_address=by.peer if by is not None else "",
            replica=self._replica,
        )
        return self._append(draft)

    def _append_alone(self, draft: AuditEvent) -> AuditEvent:
        """One event, one store call."""
        (event,) = self._store.append_audit_events([draft])
        self._announce(event)
        return event

    def head(self) -> ChainHead:
        """The chain's head as the store has it now."""
        return self._store.audit_chain_head()

    @property
    def last_seq(self) -> int:
        """The highest seq this process has stored (0 before its first event)."""
        return self._announce.last_seq

    def record_unauthenticated(self, action: str, *, by: Principal, error: str, reason: str) -> None:
        """A failure of a caller who proved nothing: sampled (see the module docstring)."""
        if self._observer is not None:  # every one counts, written or not
            self._observer(action, "failure", by, {"error": error})
        summary = {"error": error, "reason": reason}
        opened = _Window.opening(self._clock.now(), action, ANONYMOUS, ANONYMOUS, "", "failure", summary)
        if self._count((action, error, reason_kind(reason)), opened):
            self._write(
                action, by, actor=ANONYMOUS, subject=ANONYMOUS, target="", outcome="failure",
                details={**summary, "sampled": True},
            )  # fmt: skip

    def record_sampled(
        self, action: str, *, by: Principal, target: str, outcome: str = "success", **details: Any
    ) -> None:
        """A high-volume read (BROKER_AUDIT_SECRET_READS=per-minute): the first per caller,
        action, target and outcome in each window is written, the others counted."""
        if self._observer is not None:
            self._observer(action, outcome, by, details)
        key = (action, by.actor, target, outcome)
        if self._count(key, _Window.opening(self._clock.now(), action, by.actor, by.subject, target, outcome, {})):
            self._write(
                action, by, actor=by.actor, subject=by.subject, target=target, outcome=outcome,
                details={**details, "sampled": True},
            )  # fmt: skip

    def _count(self, key: tuple[str, ...], opened: _Window) -> bool:
        """Count one event of ``key``; True when it opens a window (write it at once). A window
        that has closed gets its summary written first."""
        now = opened.start
        with self._lock:
            window = self._sampled.get(key)
            closed = window if window is not None and now >= window.start + self._window else None
            if window is not None and closed is None:
                window.count += 1
                window.last = now
                return False
            if closed is None and len(self._sampled) >= self._max_kinds:
                key = (opened.action, "(other kinds)")
                window = self._sampled.get(key)
                if window is not None:
                    window.count += 1
                    window.last = now
                    return False
            self._sampled[key] = opened
        if closed is not None:
            self._write_summary(closed)
        return True

    def flush(self, now: datetime | None = None) -> int:
        """Write the count of every sampled window that has closed by ``now``; returns how many."""
        now = now or self._clock.now()
        with self._lock:
            closed = [key for key, w in self._sampled.items() if now >= w.start + self._window]
            windows = [self._sampled.pop(key) for key in closed]
        for window in windows:
            self._write_summary(window)
        return len(windows)

    def _write_summary(self, window: _Window) -> None:
        """The closing event of a window: how many came after the one written at once."""
        if window.count <= 1:
            return
        details = {
            **window.summary, "sampled": True, "count": window.count - 1,
            "first": window.start.isoformat(), "last": window.last.isoformat(),
        }  # fmt: skip
        self._write(
            window.action, None, actor=window.actor, subject=window.subject, target=window.target,
            outcome=window.outcome, details=details,
        )  # fmt: skip

    def purge(self, before: datetime, *, batch: int = 1000, batches: int = 10) -> int:
        """Delete events older than ``before`` in bounded batches; returns how many."""
        purged = 0
        for _ in range(batches):
            count = self._store.purge_audit_events(before, limit=batch)
            purged += count
            if count < batch:
                break
        return purged

    def list(self, *, page_size: int, page_token: str, flt: AuditFilter) -> tuple[list[AuditEvent], str]:
        """One page, newest first, and the next page token ('' at the end)."""
        if page_token and not EVENT_ID.match(page_token):
            raise InvalidArgument("page_token: not a token this server issued")
        size = pages.page_size(page_size)
        items = self._store.list_audit_events(before=page_token, limit=size + 1, flt=flt)
        return pages.page(items, size, lambda event: event.id)

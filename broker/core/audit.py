"""Audit events: who did what to which resource, and how it ended. Never a secret.

Failures of callers who proved nothing (a bad subject token or attestation in a
delegation, from anyone on the network) cannot be allowed to write a row each: they are
sampled. Per (action, error, kind of reason) and per ``sample_window`` (a minute), the
first is written at once and the others are counted; when the window closes (the
scheduler's ``flush`` every tick, or the next such failure) one more event says how
many there were. So a flood costs a handful of rows a minute, and none goes unnoticed.
The trail keeps events for ``BROKER_AUDIT_RETENTION`` (the scheduler purges older ones).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Equality filters for ListAuditEvents."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    outcome: str | None = None


def event_id(when: datetime) -> str:
    """A sortable id: microseconds since the epoch (hex, fixed width) then 48 random bits."""
    return f"{event_id_floor(when)}{secrets.token_hex(6)}"


def event_id_floor(when: datetime) -> str:
    """The id prefix of ``when``: every event id of an earlier instant sorts below it."""
    return f"{int(when.timestamp() * 1_000_000):014x}"


class AuditLog(Protocol):
    """Where audit events go: an append-only log, newest first when read."""

    def append_audit_event(self, event: AuditEvent) -> None:
        """Append one event."""
        ...

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest), newest first."""
        ...

    def purge_audit_events(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events older than ``before``; returns how many."""
        ...


@dataclass(slots=True)
class _Window:
    """One sampled kind of failure in the current window: when it opened, how many since, an example."""

    start: datetime
    last: datetime
    count: int
    action: str
    error: str
    reason: str


def reason_kind(reason: str) -> str:
    """A failure reason without the caller-chosen parts (quoted text, numbers), for sampling."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|[0-9]+", "_", reason)[:80]


class Auditor:
    """Writes audit events to the store (and one log line each); samples unauthenticated failures."""

    def __init__(
        self, store: AuditLog, clock: Clock, *, sample_window: timedelta = timedelta(minutes=1), max_kinds: int = 256
    ) -> None:
        self._store = store
        self._clock = clock
        self._window = sample_window
        self._max_kinds = max_kinds
        self._lock = threading.Lock()
        self._sampled: dict[tuple[str, str, str], _Window] = {}

    def record(
        self, action: str, *, by: Principal, target: str, outcome: str = "success", actor: str = "", **details: Any
    ) -> AuditEvent:
        """Append one event of ``by``'s request; ``details`` must not contain secret material.

        ``actor`` names who acted when it is not the caller itself (an agent that proved
        itself by an attestation in a delegation); by default it is ``by.actor``.
        """
        return self._write(action, actor or by.actor, target, outcome, by.request_id, details)

    def _write(
        self, action: str, actor: str, target: str, outcome: str, request_id: str, details: Mapping[str, Any]
    ) -> AuditEvent:
        now = self._clock.now()
        event = AuditEvent(
            id=event_id(now),
            event_time=now,
            action=action,
            actor=actor,
            target=target,
            outcome=outcome,
            request_id=request_id,
            details=details,
        )
        self._store.append_audit_event(event)
        _log.info("audit", action=action, actor=actor, target=target, outcome=outcome, request_id=request_id, **details)
        return event

    def record_unauthenticated(self, action: str, *, by: Principal, error: str, reason: str) -> None:
        """A failure of a caller who proved nothing: sampled (see the module docstring)."""
        now = self._clock.now()
        key = (action, error, reason_kind(reason))
        with self._lock:
            window = self._sampled.get(key)
            closed = window if window is not None and now >= window.start + self._window else None
            if window is not None and closed is None:
                window.count += 1
                window.last = now
                return
            if closed is None and len(self._sampled) >= self._max_kinds:
                key = (action, error, "(other reasons)")
                window = self._sampled.get(key)
                if window is not None:
                    window.count += 1
                    window.last = now
                    return
            self._sampled[key] = _Window(now, now, 1, action, error, reason)
        if closed is not None:
            self._write_summary(closed)
        details = {"error": error, "reason": reason, "sampled": True}
        self._write(action, ANONYMOUS, "", "failure", by.request_id, details)

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
        """The closing event of a window: how many failures came after the one written at once."""
        if window.count <= 1:
            return
        details = {
            "error": window.error, "reason": window.reason, "sampled": True, "count": window.count - 1,
            "first": window.start.isoformat(), "last": window.last.isoformat(),
        }  # fmt: skip
        self._write(window.action, ANONYMOUS, "", "failure", "", details)

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

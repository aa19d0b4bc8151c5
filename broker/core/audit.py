"""Audit events: who did what to which resource, and how it ended. Never a secret."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from .clock import Clock

if TYPE_CHECKING:
    from ..store.base import Store

_log = structlog.get_logger("broker.audit")


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
    return f"{int(when.timestamp() * 1_000_000):014x}{secrets.token_hex(6)}"


class Auditor:
    """Writes audit events to the store (and one log line each)."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def record(
        self,
        action: str,
        *,
        actor: str,
        target: str,
        outcome: str = "success",
        request_id: str = "",
        **details: Any,
    ) -> AuditEvent:
        """Append one event; ``details`` must not contain secret material.

        The request id defaults to the one bound for the current RPC.
        """
        now = self._clock.now()
        request_id = request_id or str(structlog.contextvars.get_contextvars().get("request_id", ""))
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
        _log.info("audit", action=action, actor=actor, target=target, outcome=outcome, **details)
        return event

    def list(self, *, page_size: int, page_token: str, flt: AuditFilter) -> tuple[list[AuditEvent], str]:
        """One page, newest first, and the next page token ('' at the end)."""
        size = min(page_size or 100, 1000)
        items = self._store.list_audit_events(before=page_token, limit=size + 1, flt=flt)
        if len(items) > size:
            return items[:size], items[size - 1].id
        return items, ""

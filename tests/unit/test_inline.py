"""The inline fast path: I/O is refused inside inline(), single-use records are deferred, nothing leaks out."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from broker.core.audit import AuditEvent, Auditor
from broker.core.clock import FakeClock
from broker.core.errors import NotFound
from broker.core.identities import Identity, IdentityKind, IdentityRegistry
from broker.runtime import inline
from broker.runtime.blocking import blocking
from broker.store.sql import SqlStore
from tests.unit.conftest import OPERATOR

NOW = datetime(2030, 1, 1)


def test_before_io_raises_only_inline() -> None:
    """before_io is a no-op outside inline() and WouldBlock inside."""
    inline.before_io()
    with inline.inline(), pytest.raises(inline.WouldBlock):
        inline.before_io()
    inline.before_io()


def test_single_use_records_are_deferred_inline_and_written_outside() -> None:
    """Inline, consume is not called and the key is collected; outside, it is called."""
    seen: list[str] = []

    def consume(key: str, expires_at: datetime, now: datetime) -> bool:
        seen.append(key)
        return False

    check = inline.deferring(consume)
    with inline.inline() as deferred:
        assert check("a", NOW, NOW) is True
    assert deferred.replay == [("a", NOW, NOW)]
    assert seen == []
    assert check("b", NOW, NOW) is False
    assert seen == ["b"]


def test_audit_events_are_deferred_inline_and_appended_outside() -> None:
    """Inline, the draft is kept unchained for the servicer; outside, append stores it."""
    stored: list[AuditEvent] = []

    def append(draft: AuditEvent) -> AuditEvent:
        stored.append(draft)
        return dataclasses.replace(draft, seq=1)

    record = inline.deferring_audit(append)
    draft = AuditEvent(id="e", event_time=NOW, action="token.exchange", actor="a", target="a", outcome="success")
    with inline.inline() as deferred:
        assert record(draft) is draft
    assert deferred.audit == [draft]
    assert stored == []
    assert record(draft).seq == 1
    assert stored == [draft]


def test_identity_cache_miss_would_block_inline(store: SqlStore, clock: FakeClock) -> None:
    """A cached identity is served inline; a miss (even of an unknown id) asks for the thread path
    (the registry reads its store through ``blocking``, as assemble.py wires it)."""
    registry = IdentityRegistry(blocking(store), clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1))
    registry.create(Identity(id="svc", kind=IdentityKind.SERVICE_ACCOUNT), by=OPERATOR)
    with inline.inline(), pytest.raises(inline.WouldBlock):
        registry.lookup("svc")
    registry.lookup("svc")
    with inline.inline():
        assert registry.lookup("svc").id == "svc"
    with inline.inline(), pytest.raises(inline.WouldBlock):
        registry.lookup("nobody")
    with pytest.raises(NotFound):
        registry.lookup("nobody")

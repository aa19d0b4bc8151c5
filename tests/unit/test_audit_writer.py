"""The group-commit audit writer: events from many threads and the event loop form one
gapless chain, each announced once stored; a closed writer refuses at once."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from broker.core.audit import AuditEvent, chain_hash, event_id
from broker.core.clock import FakeClock
from broker.core.errors import Unavailable
from broker.runtime.audit_writer import AuditWriter
from broker.store.sql import SqlStore


def draft(clock: FakeClock, n: int) -> AuditEvent:
    now = clock.now()
    return AuditEvent(id=event_id(now), event_time=now, action="t", actor="a", target=str(n), outcome="success")


def test_events_from_threads_and_the_loop_form_one_chain(store: SqlStore, clock: FakeClock) -> None:
    """8 threads x 25 events and 5 from the loop: seqs 1..205, each linked to the one before."""
    announced: list[AuditEvent] = []
    writer = AuditWriter(store, announce=announced.append)
    try:
        threads = [
            threading.Thread(target=lambda t=t: [writer.append(draft(clock, t * 100 + i)) for i in range(25)])
            for t in range(8)
        ]
        for thread in threads:
            thread.start()
        from_loop = asyncio.run(writer.append_async([draft(clock, 1000 + i) for i in range(5)]))
        for thread in threads:
            thread.join(30)
    finally:
        writer.close()
    assert [e.seq for e in from_loop] == list(range(from_loop[0].seq, from_loop[0].seq + 5))
    chain = store.read_audit_chain(after=0, limit=1000)
    assert [e.seq for e in chain] == list(range(1, 206))
    assert all(e.hash == chain_hash(e) for e in chain)
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
    assert sorted(e.seq for e in announced) == list(range(1, 206))


def test_a_closed_writer_refuses_instead_of_waiting(store: SqlStore, clock: FakeClock) -> None:
    """After close, append is UNAVAILABLE at once (nothing would ever store it)."""
    writer = AuditWriter(store, announce=lambda _: None)
    writer.close()
    with pytest.raises(Unavailable, match="shutting down"):
        writer.append(draft(clock, 1))

"""Audit events with group commit: the audit trail of the exchange hot path.

One writer thread owns this process's end of the chain: it takes every event that queued
up while it was busy and hands them to the store in ONE call, which numbers and links them
after its head (core/audit.py ``chain_onto``) as one step. No event is acknowledged before it
is durably written, so a caller hands out nothing until its event is (fail closed). As
with the replay guard (replay.py), worker threads block on ``append`` and the event loop
awaits ``append_async``; ``announce`` (the log line, BROKER_AUDIT_LOG) runs for each
event once stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import structlog

from ..core.audit import AuditEvent, AuditLog
from ..core.errors import Unavailable
from .batching import next_batches

_log = structlog.get_logger("broker.audit")

#: Called on the writer thread with a batch's stored events, or the store's error.
Reply = Callable[[list[AuditEvent] | BaseException], None]


@dataclass(slots=True)
class _Batch:
    drafts: list[AuditEvent]
    reply: Reply


class AuditWriter:
    """``append(draft)``: the event chained and durably stored, in a group commit."""

    def __init__(self, log: AuditLog, *, announce: Callable[[AuditEvent], None], max_batch: int = 256) -> None:
        self._log = log
        self._announce = announce
        self._max_batch = max_batch
        self._closed = False
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def append(self, draft: AuditEvent) -> AuditEvent:
        """Store one event; blocks until its batch is committed (store errors propagate)."""
        self._check_open()
        done: Future[list[AuditEvent]] = Future()

        def reply(outcome: list[AuditEvent] | BaseException) -> None:
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

        self._queue.put(_Batch([draft], reply))
        return done.result()[0]

    async def append_async(self, drafts: Sequence[AuditEvent]) -> list[AuditEvent]:
        """``append`` of several events for the event loop: awaits the commit without blocking it."""
        if not drafts:
            return []
        self._check_open()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[AuditEvent]] = loop.create_future()

        def settle(outcome: list[AuditEvent] | BaseException) -> None:
            if done.cancelled():
                return
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

        def reply(outcome: list[AuditEvent] | BaseException) -> None:  # on the writer thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, outcome)

        self._queue.put(_Batch(list(drafts), reply))
        return await done

    def close(self) -> None:
        """Store what is queued, then stop the writer thread; later appends fail."""
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the broker is shutting down")

    def _run(self) -> None:
        stop = False
        while not stop:
            batches, stop = next_batches(self._queue, max_items=self._max_batch, size=lambda b: len(b.drafts))
            if batches:
                self._commit(batches)

    def _commit(self, batches: list[_Batch]) -> None:
        drafts = [draft for batch in batches for draft in batch.drafts]
        try:
            events = self._log.append_audit_events(drafts)
        except Exception as exc:  # noqa: BLE001 - every waiter gets the store's error
            _log.warning("audit batch failed", size=len(drafts), error=type(exc).__name__)
            for batch in batches:
                batch.reply(exc)
            return
        start = 0
        for batch in batches:
            batch.reply(events[start : start + len(batch.drafts)])
            start += len(batch.drafts)
        for event in events:
            self._announce(event)

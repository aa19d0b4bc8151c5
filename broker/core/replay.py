"""Single-use records with group commit: the replay guard of the exchange hot path.

Callers (request threads) hand their jti to one writer thread and block on their own
answer; the writer records everything that queued up meanwhile in ONE store
transaction (``Store.consume_jtis``). Under load that turns a commit per request into a
commit per batch, and no record is acknowledged before it is durably written.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

import structlog

_log = structlog.get_logger("broker.replay")

ConsumeMany = Callable[[Sequence[tuple[str, datetime]], datetime], list[bool]]


@dataclass(slots=True)
class _Pending:
    key: str
    expires_at: datetime
    now: datetime
    answer: Future[bool] = field(default_factory=Future)


class ReplayGuard:
    """``consume(key, expires_at, now)``: True the first time a key is seen before it expires."""

    def __init__(self, consume_many: ConsumeMany, *, max_batch: int = 256) -> None:
        self._consume_many = consume_many
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="replay-writer", daemon=True)
        self._thread.start()

    def consume(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Record ``key``; blocks until its batch is committed (store errors propagate)."""
        pending = _Pending(key, expires_at, now)
        self._queue.put(pending)
        return pending.answer.result()

    async def consume_async(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """``consume`` for the event loop: awaits the batch commit without blocking the loop."""
        pending = _Pending(key, expires_at, now)
        self._queue.put(pending)
        return await asyncio.wrap_future(pending.answer)

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        now = max(p.now for p in batch)
        try:
            answers = self._consume_many([(p.key, p.expires_at) for p in batch], now)
        except Exception as exc:  # noqa: BLE001 - every waiter gets the store's error
            _log.warning("replay batch failed", size=len(batch), error=type(exc).__name__)
            for p in batch:
                p.answer.set_exception(exc)
            return
        for p, answer in zip(batch, answers, strict=True):
            p.answer.set_result(answer)

"""Single-use records with group commit: the replay guard of the exchange hot path.

One writer thread records everything that queued up while it was busy in ONE store
transaction (``Store.consume_jtis``): under load a commit per batch, not per request,
and no record is acknowledged before it is durably written.

Two ways in:

- ``consume`` (worker threads) queues one record and blocks on its answer;
- ``consume_async`` (the event loop) adds the record to the loop's open batch; the batch
  is handed to the writer once per loop iteration and answered with one callback on the
  loop. Under grpc.aio an iteration usually holds one RPC (measured), so the batching
  that counts is the writer's: one commit for every hand-over queued while it was busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

import structlog

from .batching import next_batches

_log = structlog.get_logger("broker.replay")

ConsumeMany = Callable[[Sequence[tuple[str, datetime]], datetime], list[bool]]
#: Called on the writer thread with a batch's answers, or the store's error.
Reply = Callable[[list[bool] | BaseException], None]


@dataclass(slots=True)
class _Batch:
    items: list[tuple[str, datetime, datetime]]  # (key, expires_at, now)
    reply: Reply


class ReplayGuard:
    """``consume(key, expires_at, now)``: True the first time a key is seen before it expires."""

    def __init__(self, consume_many: ConsumeMany, *, max_batch: int = 256) -> None:
        self._consume_many = consume_many
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        # The event loop's open batch: (key, expires_at, now) and the future of each.
        self._loop_items: list[tuple[str, datetime, datetime]] = []
        self._loop_answers: list[asyncio.Future[bool]] = []
        self._thread = threading.Thread(target=self._run, name="replay-writer", daemon=True)
        self._thread.start()

    def consume(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Record ``key``; blocks until its batch is committed (store errors propagate)."""
        answers: Future[list[bool]] = Future()

        def reply(outcome: list[bool] | BaseException) -> None:
            if isinstance(outcome, BaseException):
                answers.set_exception(outcome)
            else:
                answers.set_result(outcome)

        self._queue.put(_Batch([(key, expires_at, now)], reply))
        return answers.result()[0]

    async def consume_async(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """``consume`` for the event loop: awaits the batch commit without blocking the loop."""
        loop = asyncio.get_running_loop()
        if not self._loop_items:
            loop.call_soon(self._hand_over, loop)
        answer: asyncio.Future[bool] = loop.create_future()
        self._loop_items.append((key, expires_at, now))
        self._loop_answers.append(answer)
        return await answer

    def close(self) -> None:
        """Finish what is queued, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """Send the loop's open batch to the writer; its answers come back in one callback."""
        items, answers = self._loop_items, self._loop_answers
        self._loop_items, self._loop_answers = [], []

        def settle(outcome: list[bool] | BaseException) -> None:
            for n, future in enumerate(answers):
                if future.cancelled():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome[n])

        def reply(outcome: list[bool] | BaseException) -> None:  # on the writer thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, outcome)

        self._queue.put(_Batch(items, reply))

    def _run(self) -> None:
        stop = False
        while not stop:
            batches, stop = next_batches(self._queue, max_items=self._max_batch, size=lambda b: len(b.items))
            if batches:
                self._commit(batches)

    def _commit(self, batches: list[_Batch]) -> None:
        items = [item for batch in batches for item in batch.items]
        try:
            answers = self._consume_many([(key, expires_at) for key, expires_at, _ in items], max(n for *_, n in items))
        except Exception as exc:  # noqa: BLE001 - every waiter gets the store's error
            _log.warning("replay batch failed", size=len(items), error=type(exc).__name__)
            for batch in batches:
                batch.reply(exc)
            return
        start = 0
        for batch in batches:
            batch.reply(answers[start : start + len(batch.items)])
            start += len(batch.items)

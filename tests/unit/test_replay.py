"""The replay guard: group commit with one answer per caller, errors passed to every waiter."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from broker.core.clock import FakeClock
from broker.core.errors import Unavailable
from broker.runtime.replay import ConsumeMany, ReplayGuard
from broker.store.sql import SqlStore


def test_each_key_is_accepted_once_across_threads(store: SqlStore, clock: FakeClock) -> None:
    """64 threads race on 16 keys (4 each): exactly 16 acceptances, one per key."""
    guard = ReplayGuard(store.consume_jtis)
    now = clock.now()
    exp = now + timedelta(minutes=5)
    try:
        with ThreadPoolExecutor(64) as pool:
            answers = list(pool.map(lambda n: (n % 16, guard.consume(f"k{n % 16}", exp, now)), range(64)))
    finally:
        guard.close()
    won = sorted(k for k, ok in answers if ok)
    assert won == list(range(16))


def test_concurrent_callers_share_a_commit() -> None:
    """While one batch is being written, the callers that queue up go into the next one together."""
    batches: list[int] = []
    writing = threading.Event()
    gate = threading.Event()
    entered = 0
    entered_lock = threading.Condition()

    def consume_many(items: Sequence[tuple[str, datetime]], now: datetime) -> list[bool]:
        batches.append(len(items))
        if len(batches) == 1:
            writing.set()
            gate.wait(5)
        return [True] * len(items)

    guard = ReplayGuard(consume_many)
    now = datetime(2030, 1, 1)

    def caller(key: str) -> bool:
        nonlocal entered
        with entered_lock:
            entered += 1
            entered_lock.notify_all()
        return guard.consume(key, now, now)  # queues its record first thing, then waits for the commit

    try:
        with ThreadPoolExecutor(20) as pool:
            first = pool.submit(caller, "k0")
            assert writing.wait(10), "the first batch never reached the store"
            queued = [pool.submit(caller, f"k{n}") for n in range(1, 20)]
            with entered_lock:  # every other caller arrives while the first batch is being written
                assert entered_lock.wait_for(lambda: entered == 20, timeout=10)
            gate.set()
            assert first.result(5) and all(f.result(5) for f in queued)
    finally:
        gate.set()
        guard.close()
    assert batches == [1, 19]


def _failing_once() -> ConsumeMany:
    """A consume_many whose first batch fails with Unavailable and whose later ones succeed."""
    calls = 0

    def consume_many(items: Sequence[tuple[str, datetime]], now: datetime) -> list[bool]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Unavailable("store unavailable: test")
        return [True] * len(items)

    return consume_many


def test_store_errors_reach_every_waiter() -> None:
    """A failed batch raises the store's error in each caller; the guard keeps working."""
    guard = ReplayGuard(_failing_once())
    now = datetime(2030, 1, 1)
    with pytest.raises(Unavailable):
        guard.consume("a", now, now)
    assert guard.consume("b", now, now)
    guard.close()


def test_event_loop_callers_share_one_hand_over() -> None:
    """Records added in one loop iteration reach the store as one batch; a repeat in it loses."""
    batches: list[list[str]] = []

    def consume_many(items: Sequence[tuple[str, datetime]], now: datetime) -> list[bool]:
        batches.append([key for key, _ in items])
        seen: set[str] = set()
        answers = []
        for key, _ in items:
            answers.append(key not in seen)
            seen.add(key)
        return answers

    guard = ReplayGuard(consume_many)
    now = datetime(2030, 1, 1)

    async def main() -> list[bool]:
        return await asyncio.gather(*(guard.consume_async(key, now, now) for key in ["a", "b", "a", "c"]))

    try:
        assert asyncio.run(main()) == [True, True, False, True]
    finally:
        guard.close()
    assert batches == [["a", "b", "a", "c"]]


def test_event_loop_callers_get_the_store_error() -> None:
    """A failed batch raises in every awaiting task; the next batch is written."""
    guard = ReplayGuard(_failing_once())
    now = datetime(2030, 1, 1)

    async def main() -> tuple[list[bool | BaseException], bool]:
        failed = await asyncio.gather(*(guard.consume_async(k, now, now) for k in "xy"), return_exceptions=True)
        return failed, await guard.consume_async("z", now, now)

    try:
        failed, later = asyncio.run(main())
    finally:
        guard.close()
    assert [type(e) for e in failed] == [Unavailable, Unavailable]
    assert later is True

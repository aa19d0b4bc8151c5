"""What the group-commit writers (replay.py, audit_writer.py) share: taking one batch off a queue."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def next_batches(
    pending: queue.SimpleQueue[T | None], *, max_items: int, size: Callable[[T], int]
) -> tuple[list[T], bool]:
    """Block for the first entry, then take what else is queued, up to ``max_items`` items;
    returns the entries and whether a stop (None) was met. No entries: stop at once."""
    first = pending.get()
    if first is None:
        return [], True
    taken, count = [first], size(first)
    while count < max_items:
        try:
            more = pending.get_nowait()
        except queue.Empty:
            return taken, False
        if more is None:
            return taken, True
        taken.append(more)
        count += size(more)
    return taken, False

"""The exchange's optimistic fast path: run on the event loop when no I/O is needed.

Most exchanges need no I/O but their single-use record: the identity is cached and
every key is parsed in memory. Handing such a call to a worker thread costs more (GIL
hand-offs: about 0.7 ms a call on the 2-core bench machine) than the work itself
(about 0.4 ms of parsing, signature checks and signing), so TokenService first runs an
exchange inline, inside ``inline()``:

- code about to do blocking I/O (a store read on a cache miss, a JWKS fetch, a reload
  of the issuer list) calls ``before_io()``, which raises ``WouldBlock`` inline; the
  servicer then runs the whole exchange again on a worker thread, as if never tried.
  core/ never calls it: assemble.py gives the services that may read during an exchange
  their store through ``blocking()`` (runtime/blocking.py), which calls it for them;
- single-use records are not written inline: ``deferring(consume)`` collects them and
  answers "first use"; the servicer then writes them through the group-commit writer,
  off the loop, and returns the token only if every one was really a first use;
- audit events are not written inline either: ``deferring_audit(append)`` collects them,
  and the servicer stores them (audit_writer.py) before it answers, granted or refused.

Outside ``inline()`` both are no-ops, so the same code serves both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from ..core.audit import AuditEvent

ReplayCheck = Callable[[str, datetime, datetime], bool]
Append = Callable[[AuditEvent], AuditEvent]


@dataclass(slots=True)
class Deferred:
    """What an inline call left for the servicer to write."""

    replay: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    """(key, expires_at, now) of each single-use record."""
    audit: list[AuditEvent] = field(default_factory=list)
    """Audit events, not yet chained."""


_DEFERRED: ContextVar[Deferred | None] = ContextVar("broker_inline_deferred", default=None)


class WouldBlock(Exception):
    """The inline attempt needs I/O: run the call off the event loop instead."""


@contextmanager
def inline() -> Iterator[Deferred]:
    """Run the body in inline mode; yields the single-use records it deferred."""
    deferred = Deferred()
    token = _DEFERRED.set(deferred)
    try:
        yield deferred
    finally:
        _DEFERRED.reset(token)


def before_io() -> None:
    """Call before blocking I/O on a path that may run inline."""
    if _DEFERRED.get() is not None:
        raise WouldBlock


def deferring(consume: ReplayCheck) -> ReplayCheck:
    """``consume``, except that inline it records the key for later and answers True."""

    def check(key: str, expires_at: datetime, now: datetime) -> bool:
        deferred = _DEFERRED.get()
        if deferred is None:
            return consume(key, expires_at, now)
        deferred.replay.append((key, expires_at, now))
        return True

    return check


def deferring_audit(append: Append) -> Append:
    """``append``, except that inline it keeps the draft for the servicer and returns it unchained."""

    def record(draft: AuditEvent) -> AuditEvent:
        deferred = _DEFERRED.get()
        if deferred is None:
            return append(draft)
        deferred.audit.append(draft)
        return draft

    return record

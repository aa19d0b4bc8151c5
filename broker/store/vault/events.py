"""The Vault store's secret event log: each secret document's outbox, published without gaps.

Vault has no multi-key transaction, so the secret document is the commit point. A writer
records its events in the document's ``outbox`` in the same write (``change_secret``),
then publishes them: it appends each to the lowest free slot (``cas=0`` create, so slots
fill 1, 2, 3 ... without gaps), claims the event's mark (``cas=0``) naming that slot, and
clears the outbox. Whoever finds an outbox not yet cleared (the next writer of that
secret, the expiry sweep) publishes it again; marks make that idempotent, and readers
skip a slot that is not the one its event's mark names. A crash between the secret
write and the publication therefore delays an event, never loses it, and a reader
polling ``seq > n`` never misses one. Each event also gets its secret's own number
(``event_count`` in the document, taken in the same write) and a copy under
``events/of/<id>/<n>`` (``cas=0``), written before the outbox is cleared, so the
events of one secret read 1, 2, 3 ... without gaps too.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ...core.errors import Conflict, NotFound
from ...core.secrets import EventType, SecretEvent
from .. import records
from ..records import ISO_8601
from .documents import MAX_ATTEMPTS, Doc, Documents, contention, encode_name
from .transport import CasMismatch

__all__ = ["Change", "EventLog", "event_from_entry", "outbox_entry"]

#: How many taken event slots a writer steps over before giving up.
_MAX_SLOT_PROBES = 10_000

#: A change to one secret document: the new data, and the outbox entries to record with it.
Change = Callable[[dict[str, Any]], tuple[dict[str, Any], list[dict[str, Any]]]]


class EventLog:
    """Secret documents written with their events, and the published events read back."""

    def __init__(self, docs: Documents) -> None:
        self._docs = docs

    def secret_path(self, secret_id: str) -> str:
        """Where a secret's document is: its metadata, every version, its outbox."""
        return self._docs.path("secrets", encode_name(secret_id))

    def change_secret(
        self,
        secret_id: str,
        expected_etag: str | None,
        change: Change,
    ) -> tuple[dict[str, Any], list[SecretEvent]]:
        """Read-modify-write one live secret document with check-and-set, then publish its events.

        ``change`` returns the new document and the events to record with it; it may raise
        (Conflict) after looking at the current data. Events a previous writer left in the
        outbox are published before they are dropped from the document.
        """
        path = self.secret_path(secret_id)
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is None or not doc.live:
                raise NotFound(f"secret {secret_id!r} not found")
            if expected_etag is not None and str(doc.data["revision"]) != expected_etag:
                raise Conflict(f"secret {secret_id!r} was changed by someone else (etag mismatch); read it again")
            data, outbox = change(doc.data)
            count = doc.data.get("event_count", 0)
            outbox = [{**entry, "n": count + i} for i, entry in enumerate(outbox, start=1)]
            data = {**data, "event_count": count + len(outbox)}
            self.publish(secret_id, doc.data.get("outbox", []))
            try:
                version = self._docs.write(path, {**data, "outbox": outbox}, cas=doc.version)
            except CasMismatch:
                continue
            events = self.publish_and_settle(secret_id, path, Doc({**data, "outbox": outbox}, version))
            return data, events
        raise contention(self._docs.shown(path))

    def publish_and_settle(self, secret_id: str, path: str, doc: Doc) -> list[SecretEvent]:
        """Publish the document's outbox, then clear it (a lost race is fine: the winner published it)."""
        outbox = doc.data.get("outbox", [])
        events = self.publish(secret_id, outbox)
        if outbox:
            with contextlib.suppress(CasMismatch):
                self._docs.write(path, {**doc.data, "outbox": []}, cas=doc.version)
        return events

    def publish(self, secret_id: str, outbox: list[dict[str, Any]]) -> list[SecretEvent]:
        """Give every outbox entry its slot (once: the mark decides); returns the events with their seqs."""
        events = []
        for entry in outbox:
            seq = self._mark(entry["id"])
            if seq is None:
                seq = self._claim_mark(entry["id"], self._append_slot(secret_id, entry))
            if "n" in entry:  # documents written before per-secret numbers have none
                with contextlib.suppress(CasMismatch):  # published before: the copy is there
                    self._docs.write(self._event_of_path(secret_id, entry["n"]), {**entry, "seq": seq}, cas=0)
            events.append(event_from_entry(seq, secret_id, entry))
        return events

    def events(self, *, after_seq: int, limit: int) -> list[SecretEvent]:
        """Events with seq > ``after_seq`` in seq order: consecutive slots up to the first free one."""
        events: list[SecretEvent] = []
        seq = after_seq
        while len(events) < limit:
            seq += 1
            slot = self._docs.read(self._docs.path("events", "slots", str(seq)))
            if slot is None:
                break
            entry = slot.data
            mark = self._mark(entry["id"])
            if mark is None:
                mark = self._claim_mark(entry["id"], seq)
            if mark == seq:
                events.append(event_from_entry(seq, entry["secret_id"], entry))
        return events

    def last_seq(self) -> int:
        """The highest event slot taken so far (0 when none)."""
        seq = self._head()[0]
        while self._docs.read(self._docs.path("events", "slots", str(seq + 1))) is not None:
            seq += 1
        return seq

    def events_of(self, secret_id: str, *, after: int, limit: int) -> list[SecretEvent]:
        """Events of ``secret_id`` with secret_seq > ``after``: its copies up to the first missing one."""
        events: list[SecretEvent] = []
        n = after
        while len(events) < limit:
            n += 1
            doc = self._docs.read(self._event_of_path(secret_id, n))
            if doc is None or not doc.live:
                break
            events.append(event_from_entry(doc.data["seq"], secret_id, doc.data))
        return events

    def last_of(self, secret_id: str) -> int:
        """The secret_seq of the newest published event of ``secret_id`` (0 when none)."""
        doc = self._docs.read(self.secret_path(secret_id))
        n = doc.data.get("event_count", 0) if doc is not None else 0
        while n > 0 and self._docs.read(self._event_of_path(secret_id, n)) is None:
            n -= 1  # counted in the document, not published yet
        return int(n)

    def _event_of_path(self, secret_id: str, n: int) -> str:
        return self._docs.path("events", "of", encode_name(secret_id), str(n))

    def _append_slot(self, secret_id: str, entry: dict[str, Any]) -> int:
        """Create the event in the lowest free slot above the head hint (cas=0, so never a gap)."""
        seq, head_version = self._head()
        for _ in range(_MAX_SLOT_PROBES):
            seq += 1
            try:
                self._docs.write(self._docs.path("events", "slots", str(seq)), {**entry, "secret_id": secret_id}, cas=0)
            except CasMismatch:
                continue
            # A lost race leaves the hint to someone else: it only has to stay at or below a taken slot.
            with contextlib.suppress(CasMismatch):
                self._docs.write(self._docs.path("events", "head"), {"seq": seq}, cas=head_version)
            return seq
        raise contention(self._docs.shown(self._docs.path("events", "slots")))

    def _head(self) -> tuple[int, int]:
        """The head hint (a taken seq, 0 when none) and its document version."""
        doc = self._docs.read(self._docs.path("events", "head"))
        return (int(doc.data["seq"]), doc.version) if doc is not None and doc.live else (0, 0)

    def _mark(self, event_id: str) -> int | None:
        doc = self._docs.read(self._docs.path("events", "marks", encode_name(event_id)))
        return int(doc.data["seq"]) if doc is not None and doc.live else None

    def _claim_mark(self, event_id: str, seq: int) -> int:
        """Name ``seq`` as the event's slot unless another slot was named first; returns the named one."""
        try:
            self._docs.write(self._docs.path("events", "marks", encode_name(event_id)), {"seq": seq}, cas=0)
            return seq
        except CasMismatch:
            mark = self._mark(event_id)
            if mark is None:
                raise contention(self._docs.shown(self._docs.path("events", "marks"))) from None
            return mark


def outbox_entry(kind: EventType, version: int, current: int, when: datetime) -> dict[str, Any]:
    """An event waiting in a secret's outbox, with a unique id for its mark."""
    return {"id": secrets.token_hex(16), **records.event_fields(kind, version, current, when, ISO_8601)}


def event_from_entry(seq: int, secret_id: str, entry: Mapping[str, Any]) -> SecretEvent:
    """An outbox entry, slot or per-secret copy as the event (``n``: its secret's number; 0 in old documents)."""
    return records.event_from_record(entry, ISO_8601, seq=seq, secret_id=secret_id, secret_seq=entry.get("n", 0))

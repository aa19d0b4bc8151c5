"""The Vault store's audit chain: events by seq, an index by id, and a hint of the head.

- ``audit-chain/<seq // 1000>/<seq>`` holds the event itself, created with ``cas=0``: the
  chain's compare-and-set (of two replicas appending at once, one gets the seq, the other
  chains what is left onto the new head);
- ``audit/<id prefix>/<id>`` names the event's seq, for listing newest first by id;
- ``audit-head`` says where the head was last seen; the head is found by probing
  forward from it (a writer that died before moving it delays nothing).

The event document is the one record; an index entry whose event says another id is
skipped, so it cannot make a listing show an event that is not in the chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime

from ...core.audit import AuditEvent, AuditFilter, ChainHead, chain_hash, chain_onto, event_id_floor
from ...core.errors import Conflict, NotFound
from .. import records
from ..records import ISO_8601
from .documents import MAX_ATTEMPTS, Documents, contention, decode_name, encode_name
from .transport import CasMismatch

__all__ = ["AuditChainDocs"]

_ID_BUCKET = 6
_SEQ_BUCKET = 1000
_SEQ_WIDTH = 16
#: The chain fields of an event written before the chain (schema 1).
_UNCHAINED = {"client_address": "", "replica": "", "seq": 0, "prev_hash": "", "hash": ""}


class AuditChainDocs:
    """The AuditLog port on KV documents."""

    def __init__(self, docs: Documents) -> None:
        self._docs = docs

    def _chain_path(self, seq: int) -> str:
        return self._docs.path("audit-chain", f"{seq // _SEQ_BUCKET:0{_SEQ_WIDTH}d}", f"{seq:0{_SEQ_WIDTH}d}")

    def _index_path(self, event_id: str) -> str:
        return self._docs.path("audit", encode_name(event_id[:_ID_BUCKET]), encode_name(event_id))

    def append_chained(self, drafts: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Chain ``drafts`` onto the head and create them in order; when another writer takes a
        seq first, chain the rest onto the new head (bounded); then move the head hint once.
        Returns them as stored."""
        stored: list[AuditEvent] = []
        for _ in range(MAX_ATTEMPTS):
            for event in chain_onto(drafts[len(stored) :], self.head()):
                try:
                    self._create(event)
                except Conflict:
                    break
                stored.append(event)
            if len(stored) == len(drafts):
                if stored:
                    self._move_hint(stored[-1].seq, stored[-1].hash)
                return stored
        raise contention(self._docs.shown(self._docs.path("audit-chain")))

    def _create(self, event: AuditEvent) -> None:
        """Create the event at its seq (Conflict if taken), then its index entry."""
        if self._docs.insert(self._chain_path(event.seq), records.audit_fields(event, ISO_8601)) is None:
            raise Conflict(f"audit seq {event.seq} is taken")
        self._docs.insert(self._index_path(event.id), {"seq": event.seq})

    def replace(self, event: AuditEvent) -> None:
        """Rewrite the event document at ``event.seq`` (check-and-set; NotFound if gone)."""
        path = self._chain_path(event.seq)
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is None or not doc.live:
                raise NotFound(f"audit event {event.seq} not found")
            try:
                self._docs.write(path, records.audit_fields(event, ISO_8601), cas=doc.version)
                return
            except CasMismatch:
                continue
        raise contention(self._docs.shown(path))

    def _move_hint(self, seq: int, hash_: str) -> None:
        path = self._docs.path("audit-head")
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is not None and int(doc.data.get("seq", 0)) >= seq:
                return
            try:
                self._docs.write(path, {"seq": seq, "hash": hash_}, cas=doc.version if doc is not None else 0)
                return
            except CasMismatch:
                continue

    def head(self) -> ChainHead:
        """The hinted head, then forward while the next seq is taken."""
        doc = self._docs.read(self._docs.path("audit-head"))
        head = ChainHead(int(doc.data["seq"]), str(doc.data["hash"])) if doc is not None and doc.live else None
        seq = head.seq if head is not None else 0
        while (found := self._event(seq + 1)) is not None:
            head = ChainHead(found.seq, found.hash)
            seq += 1
        return head or ChainHead(0, "")

    def _event(self, seq: int) -> AuditEvent | None:
        doc = self._docs.read(self._chain_path(seq))
        return records.audit_from_record(doc.data, ISO_8601) if doc is not None and doc.live else None

    def read_chain(self, *, after: int, limit: int) -> list[AuditEvent]:
        """Up to ``limit`` events with seq > ``after``, in seq order."""
        found: list[AuditEvent] = []
        for bucket in sorted(int(b.rstrip("/")) for b in self._docs.names("audit-chain")):
            if (bucket + 1) * _SEQ_BUCKET <= after + 1:
                continue
            for seq in sorted(int(n) for n in self._docs.names("audit-chain", f"{bucket:0{_SEQ_WIDTH}d}")):
                if seq <= after:
                    continue
                event = self._event(seq)
                if event is not None:
                    found.append(event)
                    if len(found) >= limit:
                        return found
        return found

    def _ids(self, *, newest_first: bool) -> Iterator[tuple[str, str]]:
        """(bucket, id) of every index entry, in id order."""
        buckets = sorted((decode_name(b.rstrip("/")) for b in self._docs.names("audit")), reverse=newest_first)
        for bucket in buckets:
            names = sorted(
                (decode_name(n) for n in self._docs.names("audit", encode_name(bucket))), reverse=newest_first
            )
            for event_id in names:
                yield bucket, event_id

    def _by_id(self, event_id: str) -> AuditEvent | None:
        doc = self._docs.read(self._index_path(event_id))
        if doc is None or not doc.live:
            return None
        event = self._event(int(doc.data["seq"]))
        return event if event is not None and event.id == event_id else None

    def list(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest) matching ``flt``, newest first."""
        wanted = records.filter_fields(flt)
        found: list[AuditEvent] = []
        for bucket, event_id in self._ids(newest_first=True):
            if before and (bucket > before[:_ID_BUCKET] or event_id >= before):
                continue
            event = self._by_id(event_id)
            if event is None or not all(getattr(event, k) == v for k, v in wanted.items()):
                continue
            found.append(event)
            if len(found) >= limit:
                break
        return found

    def chain_unchained(self) -> int:
        """Schema 1 -> 2: chain the events a broker before the chain wrote (whole events at
        their index path), in id order, and turn their documents into index entries."""
        chained = 0
        for _, event_id in self._ids(newest_first=False):
            path = self._index_path(event_id)
            doc = self._docs.read(path)
            if doc is None or not doc.live or "seq" in doc.data:
                continue
            head = self.head()
            last = self._event(head.seq) if head.seq else None
            if last is None or last.id != event_id:  # else: chained before a crash, not yet re-indexed
                # Before the chain an actor acted for itself: its subject is the actor.
                old = records.audit_from_record({**_UNCHAINED, "subject": doc.data["actor"], **doc.data}, ISO_8601)
                draft = dataclasses.replace(old, seq=head.seq + 1, prev_hash=head.hash)
                last = dataclasses.replace(draft, hash=chain_hash(draft))
                self._docs.insert(self._chain_path(last.seq), records.audit_fields(last, ISO_8601))
            self._docs.write(path, {"seq": last.seq}, cas=doc.version)
            self._move_hint(last.seq, last.hash)
            chained += 1
        return chained

    def purge(self, before: datetime, *, limit: int) -> int:
        """Remove up to ``limit`` of the oldest events older than ``before``, never the head."""
        cut = event_id_floor(before)
        head = self.head().seq
        purged = 0
        for bucket, event_id in self._ids(newest_first=False):
            if bucket > cut[:_ID_BUCKET] or event_id >= cut or purged >= limit:
                break
            index = self._docs.read(self._index_path(event_id))
            seq = int(index.data["seq"]) if index is not None and index.live else 0
            if seq == head:
                continue
            if seq:
                self._docs.purge(self._chain_path(seq))
            self._docs.purge(self._index_path(event_id))
            purged += 1
        return purged

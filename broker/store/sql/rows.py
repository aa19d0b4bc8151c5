"""Rows of the SQL store: the adapters and conventions ``SqlStore`` applies to them.

- domain objects from rows: the codecs of store/records.py (``DATETIME`` times), with the
  SQL store's etag, the row's ``revision`` column;
- filters as equality conditions (field names are column names), etags as revisions;
- after a compare-and-set matched no row, which error it was (``NotFound`` or ``Conflict``);
- the identity_bindings rows of an identity (the exchange's (issuer, subject) index);
- the secret event log: ``record_events`` takes gapless seqs from the counters row.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from ...core.audit import AuditFilter
from ...core.errors import BrokerError, Conflict, NotFound
from ...core.identities import Identity, IdentityFilter
from ...core.issuers import TrustedIssuer
from ...core.people import PersonFilter
from ...core.secrets import EventType, Secret, SecretEvent, SecretVersion
from ...core.sensitive import Sensitive
from .. import records
from ..records import DATETIME, Record
from .schema import counters, identity_bindings, secret_events, secrets

__all__ = [
    "EVENT_COUNTER",
    "equal_to",
    "etag_revision",
    "event_from_record",
    "identity_from_row",
    "index_bindings",
    "issuer_from_row",
    "missing_or_changed",
    "missing_or_rotated",
    "record_events",
    "secret_from_row",
    "version_from_row",
]

#: The counters row that hands out secret event seqs (created by migration 0002).
EVENT_COUNTER = "secret_events"


def equal_to(table: Table, flt: IdentityFilter | AuditFilter | PersonFilter) -> list[ColumnElement[bool]]:
    """One equality condition per filter field that is set (field names are column names)."""
    return [table.c[name] == value for name, value in records.filter_fields(flt).items()]


def etag_revision(etag: str) -> int:
    """The revision an etag names; -1 (matches nothing) for an etag this store never issued."""
    return int(etag) if re.fullmatch(r"[0-9]{1,9}", etag) else -1


def missing_or_changed(conn: Connection, key: Column[Any], value: str, what: str) -> BrokerError:
    """After a compare-and-set matched no row: NotFound if the row is gone, else Conflict."""
    if conn.execute(select(key).where(key == value)).first() is None:
        return NotFound(f"{what} {value!r} not found")
    return Conflict(f"{what} {value!r} was changed by someone else (etag mismatch); read it again")


def missing_or_rotated(conn: Connection, secret_id: str, expected_version: int) -> BrokerError:
    if conn.execute(select(secrets.c.id).where(secrets.c.id == secret_id)).first() is None:
        return NotFound(f"secret {secret_id!r} not found")
    return Conflict(
        f"secret {secret_id!r} was rotated by someone else (version {expected_version} is no longer current); "
        "read it again"
    )


def record_events(conn: Connection, items: list[tuple[str, EventType, int, int, datetime]]) -> list[SecretEvent]:
    """Append secret events (secret id, type, version, current version, time) with the next seqs.

    Taking the seqs updates the counter row, which stays locked until this transaction
    commits: event writers queue there, so seqs become visible in order, without gaps.
    """
    take = (
        update(counters)
        .where(counters.c.name == EVENT_COUNTER)
        .values(value=counters.c.value + len(items))
        .returning(counters.c.value)
    )
    first = int(conn.execute(take).scalar_one()) - len(items) + 1
    numbers: dict[str, int] = {}
    for sid in dict.fromkeys(sid for sid, *_ in items):  # under the counter row's lock: no race
        last = select(func.max(secret_events.c.secret_seq)).where(secret_events.c.secret_id == sid)
        numbers[sid] = int(conn.execute(last).scalar_one_or_none() or 0)
    rows = []
    for i, (sid, kind, version, current, when) in enumerate(items):
        numbers[sid] += 1
        fields = records.event_fields(kind, version, current, when, DATETIME)
        rows.append({"seq": first + i, "secret_id": sid, **fields, "secret_seq": numbers[sid]})
    conn.execute(insert(secret_events), rows)
    return [event_from_record(row) for row in rows]


def index_bindings(conn: Connection, identity: Identity) -> None:
    """One identity_bindings row per distinct (issuer, subject) of the identity's bindings."""
    pairs = dict.fromkeys((b.issuer, b.subject) for b in identity.bindings)
    if pairs:
        conn.execute(
            insert(identity_bindings),
            [{"issuer": i, "subject": s, "identity_id": identity.id} for i, s in pairs],
        )


def identity_from_row(row: Row[Any]) -> Identity:
    return records.identity_from_record(row._mapping, DATETIME, etag=str(row.revision))


def issuer_from_row(row: Row[Any]) -> TrustedIssuer:
    return records.issuer_from_record(row._mapping, DATETIME, etag=str(row.revision))


def secret_from_row(row: Row[Any]) -> Secret:
    return records.secret_from_record(row._mapping, DATETIME)


def version_from_row(row: Row[*tuple[Any, ...]], *, value: Sensitive | None) -> SecretVersion:
    return records.version_from_record(row.secret_id, row._mapping, DATETIME, value=value)


def event_from_record(d: Record) -> SecretEvent:
    return records.event_from_record(d, DATETIME, seq=d["seq"], secret_id=d["secret_id"], secret_seq=d["secret_seq"])

"""People, their logins and failed-login counts on Vault: the ``VaultPeople`` part of VaultStore.

Documents (see __init__.py for the whole layout)::

    PREFIX/people/<username>              one person (etag: its KV version)
    PREFIX/families/<id>                  one login (refresh family), with its tokens' hashes
    PREFIX/families-of/<username>/<id>    {} : which families a person has
    PREFIX/families-ending/<hour>/<id>    {} : families by the hour of their absolute end (purge)
    PREFIX/refresh/<sha256 of the token>  {family_id, used}
    PREFIX/login-failures/<sha256(key)>   one failed-login count (etag: its KV version)

A refresh token is used once because marking it used is a check-and-set write of its
document: of two racing refreshes exactly one wins. Vault has no transaction across
documents, so the successor token is written after that mark: a crash in between leaves
the family without a usable token (the person logs in again), never with two.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from ...core.audit import AuditEvent
from ...core.errors import AlreadyExists, Conflict, NotFound
from ...core.people import Person, PersonFilter
from ...core.sensitive import Sensitive
from ...core.sessions import RefreshFamily
from ...core.throttle import LoginFailures
from .. import records
from ..people_records import (
    failures_fields,
    failures_from_record,
    family_fields,
    family_from_record,
    person_fields,
    person_from_record,
)
from ..records import ISO_8601, b64, unb64
from ..sealing import Sealer, totp_context
from .audit import AuditChainDocs
from .documents import MAX_ATTEMPTS, TOMBSTONE, Doc, Documents, contention, decode_name, digest, encode_name
from .transport import CasMismatch

__all__ = ["VaultPeople"]


class _Host(Protocol):
    """What VaultPeople uses of the VaultStore it is part of."""

    @property
    def _docs(self) -> Documents: ...

    @property
    def _sealer(self) -> Sealer: ...


class VaultPeople:
    """PersonStore, SessionStore and LoginFailureStore on KV v2 documents."""

    # people ----------------------------------------------------------------------------
    def create_person(self: _Host, person: Person) -> Person:
        """Create only (check-and-set); AlreadyExists if a live person has the name."""
        version = self._docs.insert(_person_path(self._docs, person.username), _person_doc(self._sealer, person))
        if version is None:
            raise AlreadyExists(f"user {person.username!r} already exists")
        return dataclasses.replace(person, etag=str(version))

    def get_person(self: _Host, username: str) -> Person:
        """The person, or NotFound."""
        doc = self._docs.read(_person_path(self._docs, username))
        if doc is None or not doc.live:
            raise NotFound(f"user {username!r} not found")
        return _person_from_doc(self._sealer, doc)

    def list_people(self: _Host, *, after: str, limit: int, flt: PersonFilter) -> list[Person]:
        """Up to ``limit`` people with username > ``after`` matching ``flt``, by username."""
        wanted = records.filter_fields(flt)
        found: list[Person] = []
        for doc in self._docs.scan("people", after=after):
            if all(doc.data.get(k) == v for k, v in wanted.items()):
                found.append(_person_from_doc(self._sealer, doc))
                if len(found) >= limit:
                    break
        return found

    def update_person(self: _Host, person: Person, *, expected_etag: str) -> Person:
        """Replace at ``expected_etag``; the new etag is the next version."""
        path = _person_path(self._docs, person.username)
        version = self._docs.replace(
            path, f"user {person.username!r}", expected_etag, _person_doc(self._sealer, person)
        )
        return dataclasses.replace(person, etag=str(version))

    def delete_person(self: _Host, username: str, *, expected_etag: str | None) -> None:
        """Write a tombstone (at ``expected_etag``, when given)."""
        self._docs.replace(_person_path(self._docs, username), f"user {username!r}", expected_etag, {TOMBSTONE: True})

    # refresh families ------------------------------------------------------------------
    def create_family(self: _Host, family: RefreshFamily, token_hash: str) -> None:
        """The index entries, the family, then its first token (each create-only)."""
        self._docs.write(self._docs.path("families-of", encode_name(family.username), family.id), {"at": 1}, cas=0)
        self._docs.write(self._docs.path("families-ending", _hour(family.expire_time), family.id), {"at": 1}, cas=0)
        self._docs.write(_family_path(self._docs, family.id), {**_family_doc(family), "tokens": [token_hash]}, cas=0)
        self._docs.write(_token_path(self._docs, token_hash), {"family_id": family.id, "used": False}, cas=0)

    def find_refresh_token(self: _Host, token_hash: str) -> tuple[RefreshFamily, bool] | None:
        """The family of the token with this hash, and whether the token was used."""
        token = self._docs.read(_token_path(self._docs, token_hash))
        if token is None or not token.live:
            return None
        family = _family(self._docs, str(token.data["family_id"]))
        return None if family is None else (family, bool(token.data["used"]))

    def rotate_refresh_token(self: _Host, token_hash: str, new_hash: str, now: datetime) -> bool:
        """Mark the token used (check-and-set), then add its successor; False if it was used."""
        path = _token_path(self._docs, token_hash)
        token = self._docs.read(path)
        if token is None or not token.live or token.data["used"]:
            return False
        family_id = str(token.data["family_id"])
        try:
            self._docs.write(path, {**token.data, "used": True}, cas=token.version)
        except CasMismatch:
            return False
        self._docs.write(_token_path(self._docs, new_hash), {"family_id": family_id, "used": False}, cas=0)
        _change_family(self._docs, family_id, {"last_used_time": records.to_iso(now)}, new_token=new_hash)
        return True

    def get_family(self: _Host, family_id: str) -> RefreshFamily | None:
        """The family, or None."""
        return _family(self._docs, family_id)

    def end_family(self: _Host, family_id: str, now: datetime, reason: str) -> bool:
        """End a live family (check-and-set); False if ended already or unknown."""
        return _change_family(self._docs, family_id, {"end_time": records.to_iso(now), "end_reason": reason},
                              only_live=True)  # fmt: skip

    def end_families_of(self: _Host, username: str, now: datetime, reason: str) -> int:
        """End every live family of ``username`` (listed from its index folder)."""
        ended = 0
        for family_id in _family_ids(self._docs, username):
            if _change_family(self._docs, family_id, {"end_time": records.to_iso(now), "end_reason": reason},
                              only_live=True):  # fmt: skip
                ended += 1
        return ended

    def rewrap_seeds(self: _Host, *, limit: int) -> int:
        """Seal again under the current KEK up to ``limit`` TOTP seeds sealed under an older one
        (check-and-set: a person changed meanwhile waits for the next run)."""
        moved = 0
        for doc in self._docs.scan("people", after=""):
            sealed = doc.data.get("sealed_totp_seed")
            if moved >= limit:
                break
            new = self._sealer.rewrap(unb64(sealed), totp_context(doc.data["username"])) if sealed else None
            if new is not None:
                try:
                    self._docs.write(
                        _person_path(self._docs, doc.data["username"]), {**doc.data, "sealed_totp_seed": b64(new)},
                        cas=doc.version,
                    )  # fmt: skip
                except CasMismatch:
                    continue
                moved += 1
        return moved

    def list_families_of(self: _Host, username: str) -> list[RefreshFamily]:
        """Every family of ``username`` (from its index folder), oldest first."""
        found = [f for f in (_family(self._docs, i) for i in _family_ids(self._docs, username)) if f is not None]
        return sorted(found, key=lambda family: (family.create_time, family.id))

    def delete_families_of(self: _Host, username: str) -> int:
        """Erase every family of ``username`` and its index entry (their refresh token documents,
        which hold only a family id, then find no family)."""
        return sum(_erase_family(self._docs, family_id) for family_id in list(_family_ids(self._docs, username)))

    def purge_families(self: _Host, before: datetime, *, limit: int) -> int:
        """Erase up to ``limit`` families whose absolute end is at or before ``before``, found
        through the hour buckets of their ends (no scan of the live ones)."""
        purged = 0
        for hour in sorted(n.rstrip("/") for n in self._docs.names("families-ending") if n.endswith("/")):
            if hour > _hour(before) or purged >= limit:
                break
            for family_id in self._docs.names("families-ending", hour):
                family = _family(self._docs, family_id)
                if family is not None and family.expire_time > before:
                    continue
                purged += _erase_family(self._docs, family_id)
                self._docs.purge(self._docs.path("families-ending", hour, family_id))
                if purged >= limit:
                    break
        return purged

    def replace_audit_event(self: _Host, event: AuditEvent) -> None:
        """Rewrite the names and details of the event at its seq (a person's erasure)."""
        AuditChainDocs(self._docs).replace(event)

    # failed-login counts ---------------------------------------------------------------
    def get_login_failures(self: _Host, key: str) -> LoginFailures | None:
        """The count of ``key``, or None."""
        doc = self._docs.read(_failures_path(self._docs, key))
        if doc is None or not doc.live:
            return None
        return failures_from_record(doc.data, ISO_8601, etag=str(doc.version))

    def put_login_failures(self: _Host, failures: LoginFailures, *, expected_etag: str) -> LoginFailures:
        """Write at ``expected_etag`` ('' = create); Conflict if someone else wrote first."""
        data = {"key": failures.key, **failures_fields(failures, ISO_8601)}
        path = _failures_path(self._docs, failures.key)
        if not expected_etag:
            version = self._docs.insert(path, data)
            if version is None:
                raise Conflict("failed-login count changed concurrently")
        else:
            try:
                version = self._docs.write(path, data, cas=int(expected_etag))
            except (CasMismatch, ValueError):
                raise Conflict("failed-login count changed concurrently") from None
        return dataclasses.replace(failures, etag=str(version))

    def purge_login_failures(self: _Host, first_before: datetime, *, limit: int) -> int:
        """Remove unlocked counts whose window opened before ``first_before``, reading at most
        ``limit`` of them per call, from a random place in the folder (every count is reached
        over a few calls; a call's work stays bounded)."""
        names = self._docs.names("login-failures")
        start = secrets.randbelow(len(names)) if names else 0
        purged = 0
        for name in (names[start:] + names[:start])[:limit]:
            path = self._docs.path("login-failures", name)
            doc = self._docs.read(path)
            if doc is None or not doc.live:
                continue
            failures = failures_from_record(doc.data, ISO_8601, etag=str(doc.version))
            if not failures.locked and failures.first_time < first_before:
                self._docs.purge(path)
                purged += 1
        return purged

    def clear_login_failures(self: _Host, key: str) -> bool:
        """Remove the count of ``key`` with its history; True if there was one."""
        path = _failures_path(self._docs, key)
        doc = self._docs.read(path)
        self._docs.purge(path)
        return doc is not None and doc.live


def _person_path(docs: Documents, username: str) -> str:
    return docs.path("people", encode_name(username))


def _family_path(docs: Documents, family_id: str) -> str:
    return docs.path("families", encode_name(family_id))


def _token_path(docs: Documents, token_hash: str) -> str:
    return docs.path("refresh", token_hash)


def _failures_path(docs: Documents, key: str) -> str:
    return docs.path("login-failures", digest(key))


def _person_doc(sealer: Sealer, person: Person) -> dict[str, Any]:
    """A person's document: the TOTP seed sealed to the person, base64."""
    seed = person.mfa.seed
    sealed = b64(sealer.seal(seed.reveal(), totp_context(person.username))) if seed is not None else None
    return {"username": person.username, **person_fields(person, ISO_8601), "sealed_totp_seed": sealed}


def _person_from_doc(sealer: Sealer, doc: Doc) -> Person:
    sealed = doc.data.get("sealed_totp_seed")
    seed = Sensitive(sealer.open(unb64(sealed), totp_context(doc.data["username"]))) if sealed else None
    return person_from_record(doc.data, ISO_8601, etag=str(doc.version), seed=seed)


def _family_doc(family: RefreshFamily) -> dict[str, Any]:
    return {"id": family.id, **family_fields(family, ISO_8601)}


def _family(docs: Documents, family_id: str) -> RefreshFamily | None:
    doc = docs.read(_family_path(docs, family_id))
    return None if doc is None or not doc.live else family_from_record(doc.data, ISO_8601)


def _family_ids(docs: Documents, username: str) -> Iterator[str]:
    for name in docs.names("families-of", encode_name(username)):
        if not name.endswith("/"):
            yield decode_name(name)


def _hour(when: datetime) -> str:
    """The name of the hour bucket of ``when`` (UTC), in time order as text."""
    return when.astimezone(UTC).strftime("%Y%m%d%H")


def _erase_family(docs: Documents, family_id: str) -> int:
    """Remove a family, its tokens and its person's index entry; 1 if it was there."""
    doc = docs.read(_family_path(docs, family_id))
    if doc is None or not doc.live:
        return 0
    for token_hash in doc.data.get("tokens", []):
        docs.purge(_token_path(docs, token_hash))
    docs.purge(docs.path("families-of", encode_name(doc.data["username"]), family_id))
    docs.purge(_family_path(docs, family_id))
    return 1


def _change_family(
    docs: Documents, family_id: str, changes: dict[str, Any], *, only_live: bool = False, new_token: str = ""
) -> bool:
    """Apply ``changes`` (and add ``new_token`` to its token hashes) to the family document with
    check-and-set; False if it is unknown (or, with ``only_live``, already ended)."""
    path = _family_path(docs, family_id)
    for _ in range(MAX_ATTEMPTS):
        doc = docs.read(path)
        if doc is None or not doc.live or (only_live and doc.data.get("end_time") is not None):
            return False
        tokens = [*doc.data.get("tokens", []), new_token] if new_token else doc.data.get("tokens", [])
        try:
            docs.write(path, {**doc.data, **changes, "tokens": tokens}, cas=doc.version)
        except CasMismatch:
            continue
        return True
    raise contention(docs.shown(path))

"""``VaultStore``: the Store on a Vault/OpenBao KV v2 mount; what it keeps where is in __init__.py.

Each method reads and writes documents (documents.py) with check-and-set; identities
keep the binding index (bindings.py) beside them; a secret document changes with its
events (events.py), its versions as versions.py rewrites them; requests, login and
error translation are transport.py's. Records go through the codecs the SQL store
shares (store/records.py), times as ISO 8601 text, sealed bytes as base64.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from ...core.audit import AuditEvent, AuditFilter, ChainHead
from ...core.errors import AlreadyExists, FailedPrecondition, NotFound
from ...core.identities import Identity, IdentityFilter
from ...core.issuers import TrustedIssuer
from ...core.keys import SigningKeyRecord
from ...core.secrets import EventType, Secret, SecretEvent, SecretVersion, VersionState
from ...core.sensitive import Sensitive
from .. import records
from ..records import ISO_8601, RELEASED, b64, from_iso, to_iso, unb64
from ..sealing import Sealer, signing_key_context
from . import bindings
from .audit import AuditChainDocs
from .bindings import BindingIndex
from .documents import MAX_ATTEMPTS, TOMBSTONE, Doc, Documents, contention, decode_name, digest, encode_name
from .events import EventLog, outbox_entry
from .people import VaultPeople
from .transport import TIMEOUT_SECONDS, CasMismatch, Transport, VaultAuth, VaultLocation
from .versions import (
    Destroy,
    Expire,
    Rotate,
    due_for_destruction,
    graces_ended,
    rewrapped_versions,
    version_entry,
    version_from_entry,
)

__all__ = ["SCHEMA_VERSION", "VaultStore"]

#: The layout version migrate() writes; a store marked newer is refused.
SCHEMA_VERSION = 2
_BATCH_WORKERS = 8


class VaultStore(VaultPeople):
    """The Store protocol on a Vault/OpenBao KV v2 mount (``vault://HOST:PORT/MOUNT/PREFIX``)."""

    def __init__(
        self,
        url: str,
        sealer: Sealer,
        auth: VaultAuth,
        *,
        ca_file: str = "",
        timeout: int = TIMEOUT_SECONDS,
    ) -> None:
        self._where = VaultLocation.parse(url)
        self._auth = auth
        self._transport = Transport(self._where, auth, ca_file=ca_file, timeout=timeout)
        self._docs = Documents(self._transport, self._where)
        self._events = EventLog(self._docs)
        self._bindings = BindingIndex(self._docs, self._identity_path)
        self._audit = AuditChainDocs(self._docs)
        self._sealer = sealer
        self._batch_pool = ThreadPoolExecutor(max_workers=_BATCH_WORKERS, thread_name_prefix="vault-batch")

    def __repr__(self) -> str:
        return f"VaultStore({str(self._where)!r}, auth={self._auth.method.value!r})"

    # lifecycle --------------------------------------------------------------
    def migrate(self) -> None:
        """Check (or create) the KV v2 mount, then write the schema marker (upgrading an older
        layout first); refuse a newer one."""
        self._docs.ensure_mount()
        path = self._docs.path("schema")
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is None:
                try:
                    self._docs.write(path, {"version": SCHEMA_VERSION}, cas=0)
                    return
                except CasMismatch:
                    continue
            found = doc.data.get("version")
            if not isinstance(found, int):
                raise FailedPrecondition(
                    f"the schema marker at {self._docs.shown(path)} is unreadable; is the prefix ours?"
                )
            if found > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"the Vault store at {self._where} has schema version {found}, newer than this broker "
                    f"knows ({SCHEMA_VERSION}); run a newer broker"
                )
            if found < SCHEMA_VERSION:
                self._audit.chain_unchained()  # 1 -> 2; idempotent, so a lost race repeats nothing
                try:
                    self._docs.write(path, {"version": SCHEMA_VERSION}, cas=doc.version)
                except CasMismatch:
                    continue
            return
        raise contention(self._docs.shown(path))

    def ping(self) -> None:
        """Raise Unavailable (or FailedPrecondition) unless Vault answers a read under the prefix."""
        self._docs.read(self._docs.path("schema"))

    def close(self) -> None:
        """Stop the batch workers and close the idle HTTP sessions."""
        self._batch_pool.shutdown(wait=True)
        self._transport.close()

    # identities -------------------------------------------------------------
    def create_identity(self, identity: Identity) -> Identity:
        """Create only (check-and-set); AlreadyExists if a live identity has the id."""
        pairs = bindings.pairs(identity)
        self._bindings.add(identity.id, pairs)
        version = self._docs.insert(self._identity_path(identity.id), _identity_doc(identity))
        if version is None:
            raise AlreadyExists(f"identity {identity.id!r} already exists")
        self._bindings.add(identity.id, pairs)  # again: a removal racing with this create may have taken them
        return dataclasses.replace(identity, etag=str(version))

    def get_identity(self, identity_id: str) -> Identity:
        """The identity, or NotFound."""
        doc = self._docs.read(self._identity_path(identity_id))
        if doc is None or not doc.live:
            raise NotFound(f"identity {identity_id!r} not found")
        return _identity_from_doc(doc)

    def list_identities(self, *, after: str, limit: int, flt: IdentityFilter) -> list[Identity]:
        """Up to ``limit`` identities with id > ``after`` matching ``flt``, ordered by id."""
        wanted = records.filter_fields(flt)
        found: list[Identity] = []
        for doc in self._docs.scan("identities", after=after):
            if all(doc.data.get(k) == v for k, v in wanted.items()):
                found.append(_identity_from_doc(doc))
                if len(found) >= limit:
                    break
        return found

    def update_identity(self, identity: Identity, *, expected_etag: str) -> Identity:
        """Replace if the stored version is ``expected_etag``; the new etag is the next version."""
        path = self._identity_path(identity.id)
        before = self._docs.read(path)
        pairs = bindings.pairs(identity)
        self._bindings.add(identity.id, pairs)
        version = self._docs.replace(path, f"identity {identity.id!r}", expected_etag, _identity_doc(identity))
        self._bindings.add(identity.id, pairs)
        if before is not None and before.live:
            self._bindings.remove(identity.id, bindings.doc_pairs(before) - pairs)
        return dataclasses.replace(identity, etag=str(version))

    def delete_identity(self, identity_id: str, *, expected_etag: str | None) -> None:
        """Write a tombstone (if the version is ``expected_etag``, when given)."""
        path = self._identity_path(identity_id)
        before = self._docs.read(path)
        self._docs.replace(path, f"identity {identity_id!r}", expected_etag, {TOMBSTONE: True})
        if before is not None and before.live:
            self._bindings.remove(identity_id, bindings.doc_pairs(before))

    def bound_identity_ids(self, issuer: str, subject: str) -> list[str]:
        """Ids of identities that may be bound to ``subject`` of ``issuer`` (one read; re-check each)."""
        return self._bindings.ids(issuer, subject)

    # signing keys -----------------------------------------------------------
    def list_signing_keys(self) -> list[SigningKeyRecord]:
        """Every signing key, unsealed, oldest activation first."""
        keys = [
            records.signing_key_from_record(
                doc.data,
                ISO_8601,
                private_pem=Sensitive(
                    self._sealer.open(unb64(doc.data["sealed"]), signing_key_context(doc.data["kid"]))
                ),
            )
            for doc in self._docs.scan("signing-keys", after="")
        ]
        return sorted(keys, key=lambda r: (r.activate_time, r.kid))

    def add_signing_key(self, record: SigningKeyRecord) -> None:
        """Create only; the private key sealed; AlreadyExists if the kid is taken."""
        sealed = self._sealer.seal(record.private_pem.reveal(), signing_key_context(record.kid))
        data = {**records.signing_key_fields(record, ISO_8601), "sealed": b64(sealed)}
        if self._docs.insert(self._docs.path("signing-keys", encode_name(record.kid)), data) is None:
            raise AlreadyExists(f"signing key {record.kid!r} already exists")

    def delete_signing_key(self, kid: str) -> None:
        """Remove the key with every stored version of it; absent is fine."""
        self._docs.purge(self._docs.path("signing-keys", encode_name(kid)))

    # replay protection and revocation ---------------------------------------
    def consume_jti(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Create the record with cas=0 (or replace an expired one at its version): one racer wins."""
        path = self._docs.path("replay", digest(key))
        data = {"expires_at": to_iso(expires_at)}
        cas = 0
        for _ in range(MAX_ATTEMPTS):
            try:
                self._docs.write(path, data, cas=cas)
                return True
            except CasMismatch:
                pass
            doc = self._docs.read(path)
            if doc is not None and doc.live and from_iso(doc.data["expires_at"]) > now:
                return False
            cas = doc.version if doc is not None else 0
        raise contention(self._docs.shown(path))

    def consume_jtis(self, items: Sequence[tuple[str, datetime]], now: datetime) -> list[bool]:
        """``consume_jti`` for each item (Vault has no transactions; each record is its own
        atomic write, done in parallel); a key repeated in the batch counts once."""
        first: dict[str, datetime] = {}
        for key, expires_at in items:
            first.setdefault(key, expires_at)
        if len(first) == 1:
            answers = {key: self.consume_jti(key, when, now) for key, when in first.items()}
        else:
            futures = {key: self._batch_pool.submit(self.consume_jti, key, when, now) for key, when in first.items()}
            answers = {key: future.result() for key, future in futures.items()}
        seen: set[str] = set()
        out = []
        for key, _ in items:
            out.append(answers[key] and key not in seen)
            seen.add(key)
        return out

    def revoke_token(self, jti: str, expires_at: datetime) -> None:
        """Revoke until ``expires_at``; repeating keeps the later expiry."""
        path = self._docs.path("revocations", digest(jti))
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is not None and doc.live and from_iso(doc.data["expires_at"]) >= expires_at:
                return
            try:
                self._docs.write(path, {"expires_at": to_iso(expires_at)}, cas=doc.version if doc else 0)
                return
            except CasMismatch:
                continue
        raise contention(self._docs.shown(path))

    def is_token_revoked(self, jti: str, now: datetime) -> bool:
        """True while a revocation of ``jti`` has not expired."""
        doc = self._docs.read(self._docs.path("revocations", digest(jti)))
        return doc is not None and doc.live and from_iso(doc.data["expires_at"]) > now

    def purge_expired(self, now: datetime) -> int:
        """Remove replay and revocation records expired at ``now``; returns how many.

        A record is read, found expired, then removed: a key re-recorded between the two
        (possible only after its own expiry, i.e. for a token that is itself expired)
        would be removed with it.
        """
        purged = 0
        for folder in ("replay", "revocations"):
            for name in self._docs.names(folder):
                path = self._docs.path(folder, name)
                doc = self._docs.read(path)
                if doc is not None and (not doc.live or from_iso(doc.data["expires_at"]) <= now):
                    self._docs.purge(path)
                    purged += 1
        return purged

    # trusted external issuers -----------------------------------------------
    def create_issuer(self, issuer: TrustedIssuer) -> TrustedIssuer:
        """Create only; AlreadyExists if the issuer URL is taken."""
        version = self._docs.insert(self._docs.path("issuers", encode_name(issuer.issuer)), _issuer_doc(issuer))
        if version is None:
            raise AlreadyExists(f"issuer {issuer.issuer!r} already exists")
        return dataclasses.replace(issuer, etag=str(version))

    def get_issuer(self, issuer: str) -> TrustedIssuer:
        """The issuer, or NotFound."""
        doc = self._docs.read(self._docs.path("issuers", encode_name(issuer)))
        if doc is None or not doc.live:
            raise NotFound(f"issuer {issuer!r} not found")
        return _issuer_from_doc(doc)

    def list_issuers(self, *, after: str, limit: int) -> list[TrustedIssuer]:
        """Up to ``limit`` issuers with URL > ``after``, ordered by URL."""
        found = []
        for doc in self._docs.scan("issuers", after=after):
            found.append(_issuer_from_doc(doc))
            if len(found) >= limit:
                break
        return found

    def delete_issuer(self, issuer: str) -> None:
        """Write a tombstone; NotFound if absent."""
        self._docs.replace(
            self._docs.path("issuers", encode_name(issuer)), f"issuer {issuer!r}", None, {TOMBSTONE: True}
        )

    # rotating secrets -------------------------------------------------------
    def create_secret(self, secret: Secret, first: SecretVersion) -> Secret:
        """Create the secret document with its first version CURRENT (value sealed), in one write."""
        created = dataclasses.replace(secret, current_version=first.version, etag="1")
        path = self._events.secret_path(secret.id)
        data = {
            **_secret_fields(created),
            "revision": 1,
            "versions": [version_entry(self._sealer, first, VersionState.CURRENT)],
            "outbox": [],
        }
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is not None and doc.live:
                raise AlreadyExists(f"secret {secret.id!r} already exists")
            if doc is None:
                self._docs.keep_one_version(path)
            else:
                self._events.publish(secret.id, doc.data.get("outbox", []))
            # A tombstone keeps the event count: the id's events go on numbering from there.
            data["event_count"] = doc.data.get("event_count", 0) if doc is not None else 0
            try:
                self._docs.write(path, data, cas=doc.version if doc else 0)
                return created
            except CasMismatch:
                continue
        raise contention(self._docs.shown(path))

    def get_secret(self, secret_id: str) -> Secret:
        """The secret's metadata, or NotFound."""
        doc = self._docs.read(self._events.secret_path(secret_id))
        if doc is None or not doc.live:
            raise NotFound(f"secret {secret_id!r} not found")
        return _secret_from_doc(doc)

    def list_secrets(self, *, after: str, limit: int) -> list[Secret]:
        """Up to ``limit`` secrets with id > ``after``, ordered by id."""
        found = []
        for doc in self._docs.scan("secrets", after=after):
            found.append(_secret_from_doc(doc))
            if len(found) >= limit:
                break
        return found

    def update_secret(self, secret: Secret, *, expected_etag: str) -> Secret:
        """Replace the metadata if the revision is ``expected_etag``; versions are rotate_secret's."""

        def change(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            fields = _secret_fields(secret)
            del fields["current_version"]
            return {**data, **fields, "revision": data["revision"] + 1}, []

        data, _ = self._events.change_secret(secret.id, expected_etag, change)
        return _secret_from_data(data)

    def delete_secret(self, secret_id: str, *, expected_etag: str | None, now: datetime) -> None:
        """Replace the document (every version, all material) by a tombstone; records DELETED."""

        def change(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            tombstone = {TOMBSTONE: True, "event_count": data.get("event_count", 0)}
            return tombstone, [outbox_entry(EventType.DELETED, data["current_version"], 0, now)]

        self._events.change_secret(secret_id, expected_etag, change)

    def rotate_secret(
        self,
        secret_id: str,
        *,
        expected_version: int,
        new: SecretVersion,
        grace_expire_time: datetime,
        next_rotation_time: datetime | None,
    ) -> Secret:
        """One write: if ``expected_version`` is still CURRENT it becomes PREVIOUS, ``new`` CURRENT, event ROTATED."""
        rotate = Rotate(
            secret_id,
            expected_version=expected_version,
            new=new,
            entry=version_entry(self._sealer, new, VersionState.CURRENT),
            grace_expire_time=grace_expire_time,
            next_rotation_time=next_rotation_time,
        )
        data, _ = self._events.change_secret(secret_id, None, rotate)
        return _secret_from_data(data)

    def list_secret_versions(self, secret_id: str, *, before: int, limit: int) -> list[SecretVersion]:
        """Versions below ``before`` (0: all), newest first, without values; NotFound for no secret."""
        doc = self._docs.read(self._events.secret_path(secret_id))
        if doc is None or not doc.live:
            raise NotFound(f"secret {secret_id!r} not found")
        versions = sorted(doc.data["versions"], key=lambda v: v["version"], reverse=True)
        if before > 0:
            versions = [v for v in versions if v["version"] < before]
        return [version_from_entry(secret_id, v, value=None) for v in versions[:limit]]

    def get_secret_version(self, secret_id: str, version: int) -> SecretVersion:
        """One version with its value unsealed (None once destroyed), or NotFound."""
        doc = self._docs.read(self._events.secret_path(secret_id))
        found = [v for v in doc.data["versions"] if v["version"] == version] if doc is not None and doc.live else []
        if not found:
            raise NotFound(f"secret {secret_id!r} has no version {version}")
        sealed = found[0]["sealed"]
        value = records.open_version(self._sealer, secret_id, version, None if sealed is None else unb64(sealed))
        return version_from_entry(secret_id, found[0], value=value)

    def expire_secret_versions(self, now: datetime) -> list[SecretEvent]:
        """PREVIOUS versions whose grace ended by ``now`` become EXPIRED, one GRACE_EXPIRED event each.

        The sweep also publishes events a crashed writer left in a secret's outbox.
        """
        events: list[SecretEvent] = []
        for secret_id, doc in self._secret_docs():
            if doc.data.get("outbox"):
                self._events.publish_and_settle(secret_id, self._events.secret_path(secret_id), doc)
            if not doc.live or not graces_ended(doc.data, now):
                continue
            try:
                events += self._events.change_secret(secret_id, None, Expire(now))[1]
            except NotFound:  # deleted meanwhile
                continue
        return events

    def destroy_expired_material(self, now: datetime) -> int:
        """Erase the sealed value of EXPIRED versions whose retention has passed.

        Secret documents keep a single KV version (max_versions=1), so the value is
        gone from Vault's history too.
        """
        destroyed = 0
        for secret_id, doc in self._secret_docs():
            if not doc.live or not due_for_destruction(doc.data, now):
                continue
            change = Destroy(now)
            try:
                self._events.change_secret(secret_id, None, change)
            except NotFound:  # deleted meanwhile
                continue
            destroyed += change.count
        return destroyed

    def due_secrets(self, now: datetime, limit: int) -> list[Secret]:
        """Secrets whose next rotation time is at or before ``now``, most overdue first."""
        due = [
            _secret_from_doc(doc)
            for _, doc in self._secret_docs()
            if doc.live
            and doc.data["next_rotation_time"] is not None
            and from_iso(doc.data["next_rotation_time"]) <= now
        ]
        due.sort(key=lambda s: (s.next_rotation_time, s.id))
        return due[:limit]

    def list_secret_events(self, *, after_seq: int, limit: int) -> list[SecretEvent]:
        """Events with seq > ``after_seq`` in seq order: consecutive slots up to the first free one."""
        return self._events.events(after_seq=after_seq, limit=limit)

    def last_secret_event_seq(self) -> int:
        """The highest event slot taken so far (0 when none)."""
        return self._events.last_seq()

    def list_secret_events_of(self, secret_id: str, *, after: int, limit: int) -> list[SecretEvent]:
        """Events of ``secret_id`` with secret_seq > ``after``: its copies up to the first missing one."""
        return self._events.events_of(secret_id, after=after, limit=limit)

    def last_secret_event_of(self, secret_id: str) -> int:
        """The secret_seq of the newest published event of ``secret_id`` (0 when none)."""
        return self._events.last_of(secret_id)

    # leader lease -----------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> int | None:
        """Take (free or expired: token + 1) or renew (same holder: same token) with check-and-set."""
        path = self._docs.path("leases", encode_name(name))
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is None or not doc.live:
                token = 1
            elif doc.data["holder"] == holder:
                token = doc.data["token"]
            elif from_iso(doc.data["expires_at"]) <= now:
                token = doc.data["token"] + 1
            else:
                return None
            data = {"holder": holder, "expires_at": to_iso(now + ttl), "token": token}
            try:
                self._docs.write(path, data, cas=doc.version if doc else 0)
                return int(token)
            except CasMismatch:
                continue
        raise contention(self._docs.shown(path))

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it (the document stays, so the next token is higher)."""
        path = self._docs.path("leases", encode_name(name))
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            if doc is None or not doc.live or doc.data["holder"] != holder:
                return
            try:
                self._docs.write(path, {**doc.data, "holder": "", "expires_at": to_iso(RELEASED)}, cas=doc.version)
                return
            except CasMismatch:
                continue
        raise contention(self._docs.shown(path))

    # audit ------------------------------------------------------------------
    def append_audit_events(self, drafts: Sequence[AuditEvent]) -> list[AuditEvent]:
        """Chain ``drafts`` onto the head and create them at their seqs (audit.py)."""
        return self._audit.append_chained(drafts)

    def audit_chain_head(self) -> ChainHead:
        """The seq and hash of the newest event."""
        return self._audit.head()

    def read_audit_chain(self, *, after: int, limit: int) -> list[AuditEvent]:
        """Up to ``limit`` events with seq > ``after``, in seq order."""
        return self._audit.read_chain(after=after, limit=limit)

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest) matching ``flt``, newest first."""
        return self._audit.list(before=before, limit=limit, flt=flt)

    def purge_audit_events(self, before: datetime, *, limit: int) -> int:
        """Remove up to ``limit`` of the oldest events older than ``before``, never the head."""
        return self._audit.purge(before, limit=limit)

    # KEK rotation -------------------------------------------------------------
    def rewrap_sealed(self, *, limit: int) -> int:
        """Seal again under the current KEK up to ``limit`` documents' blobs sealed under an
        older one (check-and-set: a document changed meanwhile waits for the next run)."""
        if not self._sealer.rotating:
            return 0
        moved = 0
        for doc in self._docs.scan("signing-keys", after=""):
            new = self._sealer.rewrap(unb64(doc.data["sealed"]), signing_key_context(doc.data["kid"]))
            if new is not None and moved < limit:
                moved += self._rewrite(
                    self._docs.path("signing-keys", encode_name(doc.data["kid"])), doc, {"sealed": b64(new)}
                )
        for secret_id, doc in self._secret_docs():
            if moved >= limit:
                break
            if doc.live and (versions := rewrapped_versions(self._sealer, secret_id, doc.data["versions"])) is not None:
                moved += self._rewrite(self._events.secret_path(secret_id), doc, {"versions": versions})
        return moved + self.rewrap_seeds(limit=limit - moved)

    def _rewrite(self, path: str, doc: Doc, changes: dict[str, Any]) -> int:
        """1 if ``doc`` was still the latest at ``path`` and now holds ``changes``, else 0."""
        try:
            self._docs.write(path, {**doc.data, **changes}, cas=doc.version)
        except CasMismatch:
            return 0
        return 1

    # plumbing ---------------------------------------------------------------
    def _identity_path(self, identity_id: str) -> str:
        return self._docs.path("identities", encode_name(identity_id))

    def _secret_docs(self) -> Iterator[tuple[str, Doc]]:
        """Every secret document (tombstones too), in id order."""
        for name in sorted(self._docs.names("secrets"), key=decode_name):
            doc = self._docs.read(self._docs.path("secrets", name))
            if doc is not None:
                yield decode_name(name), doc


# documents <-> domain objects ---------------------------------------------------


def _identity_doc(identity: Identity) -> dict[str, Any]:
    return {"id": identity.id, **records.identity_fields(identity, ISO_8601)}


def _identity_from_doc(doc: Doc) -> Identity:
    return records.identity_from_record(doc.data, ISO_8601, etag=str(doc.version))


def _issuer_doc(issuer: TrustedIssuer) -> dict[str, Any]:
    return {"issuer": issuer.issuer, **records.issuer_fields(issuer, ISO_8601)}


def _issuer_from_doc(doc: Doc) -> TrustedIssuer:
    return records.issuer_from_record(doc.data, ISO_8601, etag=str(doc.version))


def _secret_fields(secret: Secret) -> dict[str, Any]:
    """A secret document's metadata fields (everything but revision, versions and outbox)."""
    return {"id": secret.id, **records.secret_fields(secret, ISO_8601)}


def _secret_from_doc(doc: Doc) -> Secret:
    return _secret_from_data(doc.data)


def _secret_from_data(d: Mapping[str, Any]) -> Secret:
    return records.secret_from_record(d, ISO_8601)

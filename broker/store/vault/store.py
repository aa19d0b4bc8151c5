"""The Store on Vault or OpenBao: hvac, KV version 2, every write check-and-set.

``vault://HOST:PORT/MOUNT/PREFIX`` (``vaults://`` for TLS) names a KV v2 mount and a
prefix inside it. Documents live at (an id is its own name when it is letters, digits,
'_' and '-', else '~' + its base64url; hashes are hex)::

    PREFIX/schema                       {"version": 1}, written by migrate()
    PREFIX/identities/<id>              one identity
    PREFIX/bindings/<sha256(iss, sub)>  ids of identities bound to (issuer, subject): candidates
    PREFIX/signing-keys/<kid>           one signing key, the private key sealed
    PREFIX/replay/<sha256(key)>         a single-use record {expires_at}
    PREFIX/revocations/<sha256(jti)>    a revocation {expires_at}
    PREFIX/issuers/<url>                one trusted issuer
    PREFIX/secrets/<id>                 a secret's metadata, EVERY version (values sealed)
                                        and its unpublished events: a rotation is one write
    PREFIX/events/slots/<seq>           secret event number ``seq``
    PREFIX/events/of/<id>/<n>           the same event as its secret's event number ``n``
    PREFIX/events/marks/<event id>      which slot holds an event (the first claim wins)
    PREFIX/events/head                  a hint: a seq known to be taken
    PREFIX/leases/<name>                {holder, expires_at, token}
    PREFIX/audit/<id[:6]>/<id>          one audit event, bucketed by time (~70 minutes)

Concurrency rests on KV v2 check-and-set alone: every data write names the version it
replaces (``cas=0``: create only), so of two racing writers exactly one wins and the
other re-reads. An etag is the document's KV version (secrets: a revision inside the
document, so that bookkeeping writes leave callers' etags valid). A deletion writes a
tombstone with check-and-set, so a writer holding an old version cannot resurrect what
was deleted; only records nobody compares against (signing keys, expired replay and
revocation records) are removed with their metadata.

Secret events: Vault has no multi-key transaction, so the secret document is the commit
point. A writer records its events in the document's ``outbox`` in the same write, then
publishes them: it appends each to the lowest free slot (``cas=0`` create, so slots fill
1, 2, 3 ... without gaps), claims the event's mark (``cas=0``) naming that slot, and
clears the outbox. Whoever finds an outbox not yet cleared (the next writer of that
secret, the expiry sweep) publishes it again; marks make that idempotent, and readers
skip a slot that is not the one its event's mark names. A crash between the secret
write and the publication therefore delays an event, never loses it, and a reader
polling ``seq > n`` never misses one. Each event also gets its secret's own number
(``event_count`` in the document, taken in the same write) and a copy under
``events/of/<id>/<n>`` (``cas=0``), written before the outbox is cleared, so the
events of one secret read 1, 2, 3 ... without gaps too.

The binding index has no transaction to lean on either, so it only ever holds
candidates that the verifier re-checks against the identity: a writer adds an
identity's pairs before writing the identity and checks them again after; a removal
re-reads the identity and puts back a pair it still has. An entry may be stale for a
while; a binding the identity has is never missing.

Every hvac and transport failure is translated in one place (``_translate``): sealed or
unreachable is ``Unavailable``, permission denied is ``FailedPrecondition``; messages
name paths, never tokens or values. Private keys and secret values are sealed
(store/sealing.py) before they are written, so Vault holds only their ciphertext.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import hvac
import hvac.exceptions
import requests

from ...core.audit import AuditEvent, AuditFilter, event_id_floor
from ...core.errors import (
    AlreadyExists,
    BrokerError,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    StoreUnavailable,
)
from ...core.identities import Identity, IdentityFilter
from ...core.issuers import TrustedIssuer
from ...core.keys import SigningKeyRecord
from ...core.secrets import EventType, Secret, SecretEvent, SecretVersion, VersionState, grace_ended, material_due
from ...core.sensitive import Sensitive
from .. import records
from ..records import ISO_8601, RELEASED, b64, from_iso, to_iso, to_iso_or_none, unb64
from ..sealing import Sealer, signing_key_context

__all__ = [
    "DEFAULT_K8S_TOKEN_FILE",
    "SCHEMA_VERSION",
    "VAULT_SCHEMES",
    "VaultAuth",
    "VaultAuthMethod",
    "VaultLocation",
    "VaultStore",
]

#: The layout version migrate() writes; a store marked newer is refused.
SCHEMA_VERSION = 1
#: URL schemes of this backend: plain HTTP, or TLS (``vaults``, ``vault+https``).
VAULT_SCHEMES = {"vault": "http", "vault+http": "http", "vaults": "https", "vault+https": "https"}
DEFAULT_K8S_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
_DEFAULT_PORT = 8200
_DEFAULT_PREFIX = "broker"
#: One Vault request's timeout: shorter than any RPC deadline (the CLI's is 10 s), so a hung
#: Vault reads as UNAVAILABLE, not as the caller's DEADLINE_EXCEEDED.
_TIMEOUT_SECONDS = 4
#: How often a write that lost a compare-and-set re-reads and tries again.
_MAX_ATTEMPTS = 32
#: How many taken event slots a writer steps over before giving up.
_MAX_SLOT_PROBES = 10_000
#: Renew a login token once this share of its lifetime has passed.
_RENEW_AT = 0.75
_AUDIT_BUCKET = 6
_BATCH_WORKERS = 8
_CAS_MISMATCH = "check-and-set parameter did not match"
_TOMBSTONE = "deleted"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
T = TypeVar("T")


class VaultAuthMethod(StrEnum):
    """How the broker logs in to Vault."""

    TOKEN = "token"
    APPROLE = "approle"
    KUBERNETES = "kubernetes"


@dataclass(frozen=True, slots=True)
class VaultAuth:
    """Credentials for one auth method; secrets wrapped so no repr shows them."""

    method: VaultAuthMethod = VaultAuthMethod.TOKEN
    token: Sensitive | None = None
    role_id: str = ""
    secret_id: Sensitive | None = None
    k8s_role: str = ""
    k8s_token_file: str = DEFAULT_K8S_TOKEN_FILE
    #: Where the auth method is mounted ('' = its default path, the method's name).
    mount: str = ""


@dataclass(frozen=True, slots=True)
class VaultLocation:
    """Where the store lives: Vault's address, a KV v2 mount and a prefix inside it."""

    address: str
    mount: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> VaultLocation:
        """Parse ``vault://HOST[:PORT]/MOUNT[/PREFIX...]``; ValueError naming BROKER_STORE_URL."""
        parts = urlsplit(url)
        scheme = VAULT_SCHEMES.get(parts.scheme.lower())
        if scheme is None:
            raise ValueError(f"BROKER_STORE_URL: scheme {parts.scheme!r} is not one of {', '.join(VAULT_SCHEMES)}")
        if "@" in parts.netloc:
            raise ValueError(
                "BROKER_STORE_URL: a vault:// URL must not carry credentials; set BROKER_VAULT_TOKEN "
                "(or BROKER_VAULT_AUTH=approle|kubernetes)"
            )
        try:
            host, port = parts.hostname, parts.port or _DEFAULT_PORT
        except ValueError:
            raise ValueError("BROKER_STORE_URL: the port of the vault:// URL is not a number") from None
        segments = [s for s in parts.path.split("/") if s]
        if not host or not segments:
            raise ValueError(
                "BROKER_STORE_URL: expected vault://HOST:PORT/MOUNT/PREFIX (e.g. vault://127.0.0.1:8200/secret/broker)"
            )
        if parts.query or parts.fragment or any(s in (".", "..") for s in segments):
            raise ValueError("BROKER_STORE_URL: a vault:// URL takes no query, fragment, '.' or '..'")
        netloc = f"[{host}]" if ":" in host else host
        prefix = "/".join(segments[1:]) or _DEFAULT_PREFIX
        return cls(address=f"{scheme}://{netloc}:{port}", mount=segments[0], prefix=prefix)

    def __str__(self) -> str:
        return f"{self.address}/{self.mount}/{self.prefix}"


@dataclass(frozen=True, slots=True)
class _Doc:
    """One KV document as read: its data ({} when unreadable) and its version."""

    data: dict[str, Any]
    version: int

    @property
    def live(self) -> bool:
        """False for a tombstone, or a latest version deleted outside the broker."""
        return bool(self.data) and not self.data.get(_TOMBSTONE, False)


class _CasMismatch(Exception):
    """A check-and-set write lost: the document is not at the version we named."""


class VaultStore:
    """The Store protocol on a Vault/OpenBao KV v2 mount (``vault://HOST:PORT/MOUNT/PREFIX``)."""

    def __init__(
        self,
        url: str,
        sealer: Sealer,
        auth: VaultAuth,
        *,
        ca_file: str = "",
        timeout: int = _TIMEOUT_SECONDS,
    ) -> None:
        self._where = VaultLocation.parse(url)
        if ca_file and not Path(ca_file).is_file():
            raise ValueError(f"BROKER_VAULT_CACERT: {ca_file} is not a readable file")
        self._verify: bool | str = ca_file or True
        self._timeout = timeout
        self._sealer = sealer
        self._auth = auth
        self._idle: queue.SimpleQueue[hvac.Client] = queue.SimpleQueue()
        self._batch_pool = ThreadPoolExecutor(max_workers=_BATCH_WORKERS, thread_name_prefix="vault-batch")
        self._auth_lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: float | None = None
        if auth.method is VaultAuthMethod.TOKEN:
            if auth.token is None or not auth.token.reveal():
                raise ValueError("BROKER_VAULT_TOKEN: required with BROKER_VAULT_AUTH=token (VAULT_TOKEN works too)")
            self._token = auth.token.reveal().decode()

    def __repr__(self) -> str:
        return f"VaultStore({str(self._where)!r}, auth={self._auth.method.value!r})"

    # lifecycle --------------------------------------------------------------
    def migrate(self) -> None:
        """Check (or create) the KV v2 mount, then write the schema marker; refuse a newer one."""
        self._ensure_mount()
        path = self._path("schema")
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
            if doc is None:
                try:
                    self._write(path, {"version": SCHEMA_VERSION}, cas=0)
                    return
                except _CasMismatch:
                    continue
            found = doc.data.get("version")
            if not isinstance(found, int):
                raise FailedPrecondition(f"the schema marker at {self._shown(path)} is unreadable; is the prefix ours?")
            if found > SCHEMA_VERSION:
                raise FailedPrecondition(
                    f"the Vault store at {self._where} has schema version {found}, newer than this broker "
                    f"knows ({SCHEMA_VERSION}); run a newer broker"
                )
            return
        raise _contention(self._shown(path))

    def ping(self) -> None:
        """Raise Unavailable (or FailedPrecondition) unless Vault answers a read under the prefix."""
        self._read(self._path("schema"))

    def close(self) -> None:
        """Stop the batch workers and close the idle HTTP sessions."""
        self._batch_pool.shutdown(wait=True)
        while True:
            try:
                self._idle.get_nowait().adapter.close()
            except queue.Empty:
                return

    # identities -------------------------------------------------------------
    def create_identity(self, identity: Identity) -> Identity:
        """Create only (check-and-set); AlreadyExists if a live identity has the id."""
        pairs = _binding_pairs(identity)
        self._index_add(identity.id, pairs)
        version = self._insert(self._path("identities", _name(identity.id)), _identity_doc(identity))
        if version is None:
            raise AlreadyExists(f"identity {identity.id!r} already exists")
        self._index_add(identity.id, pairs)  # again: a removal racing with this create may have taken them
        return dataclasses.replace(identity, etag=str(version))

    def get_identity(self, identity_id: str) -> Identity:
        """The identity, or NotFound."""
        doc = self._read(self._path("identities", _name(identity_id)))
        if doc is None or not doc.live:
            raise NotFound(f"identity {identity_id!r} not found")
        return _identity_from_doc(doc)

    def list_identities(self, *, after: str, limit: int, flt: IdentityFilter) -> list[Identity]:
        """Up to ``limit`` identities with id > ``after`` matching ``flt``, ordered by id."""
        wanted = records.filter_fields(flt)
        found: list[Identity] = []
        for doc in self._scan("identities", after=after):
            if all(doc.data.get(k) == v for k, v in wanted.items()):
                found.append(_identity_from_doc(doc))
                if len(found) >= limit:
                    break
        return found

    def update_identity(self, identity: Identity, *, expected_etag: str) -> Identity:
        """Replace if the stored version is ``expected_etag``; the new etag is the next version."""
        path = self._path("identities", _name(identity.id))
        before = self._read(path)
        pairs = _binding_pairs(identity)
        self._index_add(identity.id, pairs)
        version = self._replace(path, f"identity {identity.id!r}", expected_etag, _identity_doc(identity))
        self._index_add(identity.id, pairs)
        if before is not None and before.live:
            self._index_remove(identity.id, _doc_binding_pairs(before) - pairs)
        return dataclasses.replace(identity, etag=str(version))

    def delete_identity(self, identity_id: str, *, expected_etag: str | None) -> None:
        """Write a tombstone (if the version is ``expected_etag``, when given)."""
        path = self._path("identities", _name(identity_id))
        before = self._read(path)
        self._replace(path, f"identity {identity_id!r}", expected_etag, {_TOMBSTONE: True})
        if before is not None and before.live:
            self._index_remove(identity_id, _doc_binding_pairs(before))

    def bound_identity_ids(self, issuer: str, subject: str) -> list[str]:
        """Ids of identities that may be bound to ``subject`` of ``issuer`` (one read; re-check each)."""
        doc = self._read(self._path("bindings", _binding_digest((issuer, subject))))
        return sorted(doc.data.get("ids", [])) if doc is not None and doc.live else []

    def _index_add(self, identity_id: str, pairs: set[tuple[str, str]]) -> None:
        """Make sure each pair's index document lists the identity."""
        for pair in pairs:
            self._change_index(pair, lambda ids: ids | {identity_id})

    def _index_remove(self, identity_id: str, pairs: set[tuple[str, str]]) -> None:
        """Take the identity off each pair's index, then put back the pairs it (again) has."""
        if not pairs:
            return
        for pair in pairs:
            self._change_index(pair, lambda ids: ids - {identity_id})
        doc = self._read(self._path("identities", _name(identity_id)))
        if doc is not None and doc.live:
            self._index_add(identity_id, _doc_binding_pairs(doc) & pairs)

    def _change_index(self, pair: tuple[str, str], change: Callable[[set[str]], set[str]]) -> None:
        path = self._path("bindings", _binding_digest(pair))
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
            ids = set(doc.data.get("ids", [])) if doc is not None and doc.live else set()
            changed = change(ids)
            if changed == ids:
                return
            try:
                data = {"issuer": pair[0], "subject": pair[1], "ids": sorted(changed)}
                self._write(path, data, cas=doc.version if doc else 0)
                return
            except _CasMismatch:
                continue
        raise _contention(self._shown(path))

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
            for doc in self._scan("signing-keys", after="")
        ]
        return sorted(keys, key=lambda r: (r.activate_time, r.kid))

    def add_signing_key(self, record: SigningKeyRecord) -> None:
        """Create only; the private key sealed; AlreadyExists if the kid is taken."""
        sealed = self._sealer.seal(record.private_pem.reveal(), signing_key_context(record.kid))
        data = {**records.signing_key_fields(record, ISO_8601), "sealed": b64(sealed)}
        if self._insert(self._path("signing-keys", _name(record.kid)), data) is None:
            raise AlreadyExists(f"signing key {record.kid!r} already exists")

    def delete_signing_key(self, kid: str) -> None:
        """Remove the key with every stored version of it; absent is fine."""
        self._purge(self._path("signing-keys", _name(kid)))

    # replay protection and revocation ---------------------------------------
    def consume_jti(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Create the record with cas=0 (or replace an expired one at its version): one racer wins."""
        path = self._path("replay", _digest(key))
        data = {"expires_at": to_iso(expires_at)}
        cas = 0
        for _ in range(_MAX_ATTEMPTS):
            try:
                self._write(path, data, cas=cas)
                return True
            except _CasMismatch:
                pass
            doc = self._read(path)
            if doc is not None and doc.live and from_iso(doc.data["expires_at"]) > now:
                return False
            cas = doc.version if doc is not None else 0
        raise _contention(self._shown(path))

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
        path = self._path("revocations", _digest(jti))
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
            if doc is not None and doc.live and from_iso(doc.data["expires_at"]) >= expires_at:
                return
            try:
                self._write(path, {"expires_at": to_iso(expires_at)}, cas=doc.version if doc else 0)
                return
            except _CasMismatch:
                continue
        raise _contention(self._shown(path))

    def is_token_revoked(self, jti: str, now: datetime) -> bool:
        """True while a revocation of ``jti`` has not expired."""
        doc = self._read(self._path("revocations", _digest(jti)))
        return doc is not None and doc.live and from_iso(doc.data["expires_at"]) > now

    def purge_expired(self, now: datetime) -> int:
        """Remove replay and revocation records expired at ``now``; returns how many.

        A record is read, found expired, then removed: a key re-recorded between the two
        (possible only after its own expiry, i.e. for a token that is itself expired)
        would be removed with it.
        """
        purged = 0
        for folder in ("replay", "revocations"):
            for name in self._names(folder):
                path = self._path(folder, name)
                doc = self._read(path)
                if doc is not None and (not doc.live or from_iso(doc.data["expires_at"]) <= now):
                    self._purge(path)
                    purged += 1
        return purged

    # trusted external issuers -----------------------------------------------
    def create_issuer(self, issuer: TrustedIssuer) -> TrustedIssuer:
        """Create only; AlreadyExists if the issuer URL is taken."""
        version = self._insert(self._path("issuers", _name(issuer.issuer)), _issuer_doc(issuer))
        if version is None:
            raise AlreadyExists(f"issuer {issuer.issuer!r} already exists")
        return dataclasses.replace(issuer, etag=str(version))

    def get_issuer(self, issuer: str) -> TrustedIssuer:
        """The issuer, or NotFound."""
        doc = self._read(self._path("issuers", _name(issuer)))
        if doc is None or not doc.live:
            raise NotFound(f"issuer {issuer!r} not found")
        return _issuer_from_doc(doc)

    def list_issuers(self, *, after: str, limit: int) -> list[TrustedIssuer]:
        """Up to ``limit`` issuers with URL > ``after``, ordered by URL."""
        found = []
        for doc in self._scan("issuers", after=after):
            found.append(_issuer_from_doc(doc))
            if len(found) >= limit:
                break
        return found

    def delete_issuer(self, issuer: str) -> None:
        """Write a tombstone; NotFound if absent."""
        self._replace(self._path("issuers", _name(issuer)), f"issuer {issuer!r}", None, {_TOMBSTONE: True})

    # rotating secrets -------------------------------------------------------
    def create_secret(self, secret: Secret, first: SecretVersion) -> Secret:
        """Create the secret document with its first version CURRENT (value sealed), in one write."""
        created = dataclasses.replace(secret, current_version=first.version, etag="1")
        path = self._secret_path(secret.id)
        data = {
            **_secret_fields(created),
            "revision": 1,
            "versions": [self._version_doc(first, VersionState.CURRENT)],
            "outbox": [],
        }
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
            if doc is not None and doc.live:
                raise AlreadyExists(f"secret {secret.id!r} already exists")
            if doc is None:
                self._keep_one_version(path)
            else:
                self._publish(secret.id, doc.data.get("outbox", []))
            # A tombstone keeps the event count: the id's events go on numbering from there.
            data["event_count"] = doc.data.get("event_count", 0) if doc is not None else 0
            try:
                self._write(path, data, cas=doc.version if doc else 0)
                return created
            except _CasMismatch:
                continue
        raise _contention(self._shown(path))

    def get_secret(self, secret_id: str) -> Secret:
        """The secret's metadata, or NotFound."""
        doc = self._read(self._secret_path(secret_id))
        if doc is None or not doc.live:
            raise NotFound(f"secret {secret_id!r} not found")
        return _secret_from_doc(doc)

    def list_secrets(self, *, after: str, limit: int) -> list[Secret]:
        """Up to ``limit`` secrets with id > ``after``, ordered by id."""
        found = []
        for doc in self._scan("secrets", after=after):
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

        data, _ = self._change_secret(secret.id, expected_etag, change)
        return _secret_from_data(data)

    def delete_secret(self, secret_id: str, *, expected_etag: str | None, now: datetime) -> None:
        """Replace the document (every version, all material) by a tombstone; records DELETED."""

        def change(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            tombstone = {_TOMBSTONE: True, "event_count": data.get("event_count", 0)}
            return tombstone, [_outbox_entry(EventType.DELETED, data["current_version"], 0, now)]

        self._change_secret(secret_id, expected_etag, change)

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
        sealed_new = self._version_doc(new, VersionState.CURRENT)

        def change(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            if data["current_version"] != expected_version:
                raise Conflict(
                    f"secret {secret_id!r} was rotated by someone else (version {expected_version} is no longer "
                    "current); read it again"
                )
            if any(v["version"] == new.version for v in data["versions"]):
                raise AlreadyExists(f"secret {secret_id!r} already has a version {new.version}")
            versions = [
                {**v, "state": VersionState.PREVIOUS.value, "grace_expire_time": to_iso(grace_expire_time)}
                if v["version"] == expected_version
                else v
                for v in data["versions"]
            ]
            changed = {
                **data,
                "versions": [*versions, sealed_new],
                "current_version": new.version,
                "next_rotation_time": to_iso_or_none(next_rotation_time),
                "update_time": to_iso(new.create_time),
                "revision": data["revision"] + 1,
            }
            return changed, [_outbox_entry(EventType.ROTATED, new.version, new.version, new.create_time)]

        data, _ = self._change_secret(secret_id, None, change)
        return _secret_from_data(data)

    def list_secret_versions(self, secret_id: str, *, before: int, limit: int) -> list[SecretVersion]:
        """Versions below ``before`` (0: all), newest first, without values; NotFound for no secret."""
        doc = self._read(self._secret_path(secret_id))
        if doc is None or not doc.live:
            raise NotFound(f"secret {secret_id!r} not found")
        versions = sorted(doc.data["versions"], key=lambda v: v["version"], reverse=True)
        if before > 0:
            versions = [v for v in versions if v["version"] < before]
        return [_version_from_doc(secret_id, v, value=None) for v in versions[:limit]]

    def get_secret_version(self, secret_id: str, version: int) -> SecretVersion:
        """One version with its value unsealed (None once destroyed), or NotFound."""
        doc = self._read(self._secret_path(secret_id))
        found = [v for v in doc.data["versions"] if v["version"] == version] if doc is not None and doc.live else []
        if not found:
            raise NotFound(f"secret {secret_id!r} has no version {version}")
        sealed = found[0]["sealed"]
        value = records.open_version(self._sealer, secret_id, version, None if sealed is None else unb64(sealed))
        return _version_from_doc(secret_id, found[0], value=value)

    def expire_secret_versions(self, now: datetime) -> list[SecretEvent]:
        """PREVIOUS versions whose grace ended by ``now`` become EXPIRED, one GRACE_EXPIRED event each.

        The sweep also publishes events a crashed writer left in a secret's outbox.
        """
        events: list[SecretEvent] = []
        for secret_id, doc in self._secret_docs():
            if doc.data.get("outbox"):
                self._publish_and_settle(secret_id, self._secret_path(secret_id), doc)
            if not doc.live or not _graces_ended(doc.data, now):
                continue
            try:
                events += self._change_secret(secret_id, None, _Expire(now))[1]
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
            if not doc.live or not _due_for_destruction(doc.data, now):
                continue
            change = _Destroy(now)
            try:
                self._change_secret(secret_id, None, change)
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
        events: list[SecretEvent] = []
        seq = after_seq
        while len(events) < limit:
            seq += 1
            slot = self._read(self._path("events", "slots", str(seq)))
            if slot is None:
                break
            entry = slot.data
            mark = self._mark(entry["id"])
            if mark is None:
                mark = self._claim_mark(entry["id"], seq)
            if mark == seq:
                events.append(_event(seq, entry["secret_id"], entry))
        return events

    def last_secret_event_seq(self) -> int:
        """The highest event slot taken so far (0 when none)."""
        seq = self._head()[0]
        while self._read(self._path("events", "slots", str(seq + 1))) is not None:
            seq += 1
        return seq

    def list_secret_events_of(self, secret_id: str, *, after: int, limit: int) -> list[SecretEvent]:
        """Events of ``secret_id`` with secret_seq > ``after``: its copies up to the first missing one."""
        events: list[SecretEvent] = []
        n = after
        while len(events) < limit:
            n += 1
            doc = self._read(self._event_of_path(secret_id, n))
            if doc is None or not doc.live:
                break
            events.append(_event(doc.data["seq"], secret_id, doc.data))
        return events

    def last_secret_event_of(self, secret_id: str) -> int:
        """The secret_seq of the newest published event of ``secret_id`` (0 when none)."""
        doc = self._read(self._secret_path(secret_id))
        n = doc.data.get("event_count", 0) if doc is not None else 0
        while n > 0 and self._read(self._event_of_path(secret_id, n)) is None:
            n -= 1  # counted in the document, not published yet
        return int(n)

    # leader lease -----------------------------------------------------------
    def acquire_lease(self, name: str, holder: str, *, ttl: timedelta, now: datetime) -> int | None:
        """Take (free or expired: token + 1) or renew (same holder: same token) with check-and-set."""
        path = self._path("leases", _name(name))
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
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
                self._write(path, data, cas=doc.version if doc else 0)
                return int(token)
            except _CasMismatch:
                continue
        raise _contention(self._shown(path))

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` holds it (the document stays, so the next token is higher)."""
        path = self._path("leases", _name(name))
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
            if doc is None or not doc.live or doc.data["holder"] != holder:
                return
            try:
                self._write(path, {**doc.data, "holder": "", "expires_at": to_iso(RELEASED)}, cas=doc.version)
                return
            except _CasMismatch:
                continue
        raise _contention(self._shown(path))

    # audit ------------------------------------------------------------------
    def append_audit_event(self, event: AuditEvent) -> None:
        """Create only; AlreadyExists if the id is taken."""
        data = records.audit_fields(event, ISO_8601)
        if self._insert(self._path("audit", _name(event.id[:_AUDIT_BUCKET]), _name(event.id)), data) is None:
            raise AlreadyExists(f"audit event {event.id!r} already exists")

    def list_audit_events(self, *, before: str, limit: int, flt: AuditFilter) -> list[AuditEvent]:
        """Up to ``limit`` events with id < ``before`` ('' = newest) matching ``flt``, newest first."""
        wanted = records.filter_fields(flt)
        found: list[AuditEvent] = []
        buckets = sorted((_unname(b.rstrip("/")) for b in self._names("audit")), reverse=True)
        for bucket in buckets:
            if before and bucket > before[:_AUDIT_BUCKET]:
                continue
            ids = sorted((_unname(n) for n in self._names("audit", _name(bucket))), reverse=True)
            for event_id in ids:
                if before and event_id >= before:
                    continue
                doc = self._read(self._path("audit", _name(bucket), _name(event_id)))
                if doc is None or not all(doc.data.get(k) == v for k, v in wanted.items()):
                    continue
                found.append(_audit_from_doc(doc))
                if len(found) >= limit:
                    return found
        return found

    def purge_audit_events(self, before: datetime, *, limit: int) -> int:
        """Remove up to ``limit`` of the oldest events older than ``before``, bucket by bucket."""
        cut = event_id_floor(before)
        purged = 0
        for bucket in sorted(_unname(b.rstrip("/")) for b in self._names("audit")):
            if bucket > cut[:_AUDIT_BUCKET]:
                break
            for event_id in sorted(_unname(n) for n in self._names("audit", _name(bucket))):
                if event_id >= cut or purged >= limit:
                    return purged
                self._purge(self._path("audit", _name(bucket), _name(event_id)))
                purged += 1
        return purged

    # secrets plumbing -------------------------------------------------------
    def _secret_path(self, secret_id: str) -> str:
        return self._path("secrets", _name(secret_id))

    def _secret_docs(self) -> Iterator[tuple[str, _Doc]]:
        """Every secret document (tombstones too), in id order."""
        for name in sorted(self._names("secrets"), key=_unname):
            doc = self._read(self._path("secrets", name))
            if doc is not None:
                yield _unname(name), doc

    def _change_secret(
        self,
        secret_id: str,
        expected_etag: str | None,
        change: _Change,
    ) -> tuple[dict[str, Any], list[SecretEvent]]:
        """Read-modify-write one live secret document with check-and-set, then publish its events.

        ``change`` returns the new document and the events to record with it; it may raise
        (Conflict) after looking at the current data. Events a previous writer left in the
        outbox are published before they are dropped from the document.
        """
        path = self._secret_path(secret_id)
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
            if doc is None or not doc.live:
                raise NotFound(f"secret {secret_id!r} not found")
            if expected_etag is not None and str(doc.data["revision"]) != expected_etag:
                raise Conflict(f"secret {secret_id!r} was changed by someone else (etag mismatch); read it again")
            data, outbox = change(doc.data)
            count = doc.data.get("event_count", 0)
            outbox = [{**entry, "n": count + i} for i, entry in enumerate(outbox, start=1)]
            data = {**data, "event_count": count + len(outbox)}
            self._publish(secret_id, doc.data.get("outbox", []))
            try:
                version = self._write(path, {**data, "outbox": outbox}, cas=doc.version)
            except _CasMismatch:
                continue
            events = self._publish_and_settle(secret_id, path, _Doc({**data, "outbox": outbox}, version))
            return data, events
        raise _contention(self._shown(path))

    def _publish_and_settle(self, secret_id: str, path: str, doc: _Doc) -> list[SecretEvent]:
        """Publish the document's outbox, then clear it (a lost race is fine: the winner published it)."""
        outbox = doc.data.get("outbox", [])
        events = self._publish(secret_id, outbox)
        if outbox:
            with contextlib.suppress(_CasMismatch):
                self._write(path, {**doc.data, "outbox": []}, cas=doc.version)
        return events

    def _publish(self, secret_id: str, outbox: list[dict[str, Any]]) -> list[SecretEvent]:
        """Give every outbox entry its slot (once: the mark decides); returns the events with their seqs."""
        events = []
        for entry in outbox:
            seq = self._mark(entry["id"])
            if seq is None:
                seq = self._claim_mark(entry["id"], self._append_slot(secret_id, entry))
            if "n" in entry:  # documents written before per-secret numbers have none
                with contextlib.suppress(_CasMismatch):  # published before: the copy is there
                    self._write(self._event_of_path(secret_id, entry["n"]), {**entry, "seq": seq}, cas=0)
            events.append(_event(seq, secret_id, entry))
        return events

    def _event_of_path(self, secret_id: str, n: int) -> str:
        return self._path("events", "of", _name(secret_id), str(n))

    def _append_slot(self, secret_id: str, entry: dict[str, Any]) -> int:
        """Create the event in the lowest free slot above the head hint (cas=0, so never a gap)."""
        seq, head_version = self._head()
        for _ in range(_MAX_SLOT_PROBES):
            seq += 1
            try:
                self._write(self._path("events", "slots", str(seq)), {**entry, "secret_id": secret_id}, cas=0)
            except _CasMismatch:
                continue
            # A lost race leaves the hint to someone else: it only has to stay at or below a taken slot.
            with contextlib.suppress(_CasMismatch):
                self._write(self._path("events", "head"), {"seq": seq}, cas=head_version)
            return seq
        raise _contention(self._shown(self._path("events", "slots")))

    def _head(self) -> tuple[int, int]:
        """The head hint (a taken seq, 0 when none) and its document version."""
        doc = self._read(self._path("events", "head"))
        return (int(doc.data["seq"]), doc.version) if doc is not None and doc.live else (0, 0)

    def _mark(self, event_id: str) -> int | None:
        doc = self._read(self._path("events", "marks", _name(event_id)))
        return int(doc.data["seq"]) if doc is not None and doc.live else None

    def _claim_mark(self, event_id: str, seq: int) -> int:
        """Name ``seq`` as the event's slot unless another slot was named first; returns the named one."""
        try:
            self._write(self._path("events", "marks", _name(event_id)), {"seq": seq}, cas=0)
            return seq
        except _CasMismatch:
            mark = self._mark(event_id)
            if mark is None:
                raise _contention(self._shown(self._path("events", "marks"))) from None
            return mark

    def _version_doc(self, version: SecretVersion, state: VersionState) -> dict[str, Any]:
        """A version entry in ``state``, the value sealed to (secret id, version)."""
        sealed = records.seal_version(self._sealer, version)
        return {**records.version_fields(version, state, ISO_8601), "sealed": b64(sealed)}

    # documents --------------------------------------------------------------
    def _insert(self, path: str, data: dict[str, Any]) -> int | None:
        """Create the document unless a live one is there (cas=0, or over a tombstone at its
        version); returns the new version, or None if a live document holds the path."""
        cas = 0
        for _ in range(_MAX_ATTEMPTS):
            try:
                return self._write(path, data, cas=cas)
            except _CasMismatch:
                pass
            doc = self._read(path)
            if doc is not None and doc.live:
                return None
            cas = doc.version if doc is not None else 0
        raise _contention(self._shown(path))

    def _replace(self, path: str, what: str, expected_etag: str | None, data: dict[str, Any]) -> int:
        """Overwrite a live document with check-and-set (at the etag's version, when given);
        NotFound if there is none, Conflict on a stale etag. Returns the new version."""
        for _ in range(_MAX_ATTEMPTS):
            doc = self._read(path)
            if doc is None or not doc.live:
                raise NotFound(f"{what} not found")
            if expected_etag is not None and str(doc.version) != expected_etag:
                raise Conflict(f"{what} was changed by someone else (etag mismatch); read it again")
            try:
                return self._write(path, data, cas=doc.version)
            except _CasMismatch:
                continue
        raise _contention(self._shown(path))

    def _scan(self, folder: str, *, after: str) -> Iterator[_Doc]:
        """Live documents of a folder whose decoded name is > ``after``, in name order."""
        names = sorted((_unname(n), n) for n in self._names(folder) if not n.endswith("/"))
        for name, raw in names:
            if name > after:
                doc = self._read(self._path(folder, raw))
                if doc is not None and doc.live:
                    yield doc

    # KV v2 requests -----------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return "/".join((self._where.prefix, *parts))

    def _shown(self, path: str) -> str:
        return f"{self._where.mount}/{path}"

    def _read(self, path: str) -> _Doc | None:
        """The latest version, or None if the path was never written (or was purged)."""

        def op(client: hvac.Client) -> _Doc | None:
            try:
                response = client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self._where.mount, raise_on_deleted_version=True
                )
            except hvac.exceptions.InvalidPath as exc:
                # A deleted latest version answers 404 with its metadata: keep its number.
                body = exc.json if isinstance(exc.json, dict) else {}
                meta = (body.get("data") or {}).get("metadata") or {}
                return _Doc({}, int(meta["version"])) if meta.get("version") else None
            return _Doc(dict(response["data"]["data"] or {}), int(response["data"]["metadata"]["version"]))

        return self._call(f"read {self._shown(path)}", op)

    def _write(self, path: str, data: Mapping[str, Any], *, cas: int) -> int:
        """Write a new version if the current one is ``cas`` (0: none); _CasMismatch if not."""

        def op(client: hvac.Client) -> int:
            response = client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=dict(data), cas=cas, mount_point=self._where.mount
            )
            return int(response["data"]["version"])

        return self._call(f"write {self._shown(path)}", op)

    def _names(self, *folder: str) -> list[str]:
        """The names directly under a folder (sub-folders end with '/'); [] if there are none."""

        def op(client: hvac.Client) -> list[str]:
            try:
                response = client.secrets.kv.v2.list_secrets(path=self._path(*folder), mount_point=self._where.mount)
            except hvac.exceptions.InvalidPath:
                return []
            return list(response["data"]["keys"])

        return self._call(f"list {self._shown(self._path(*folder))}", op)

    def _purge(self, path: str) -> None:
        """Delete a document's metadata and every version; absent is fine."""
        self._call(
            f"delete {self._shown(path)}",
            lambda client: client.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self._where.mount
            ),
        )

    def _keep_one_version(self, path: str) -> None:
        """Make Vault keep only the latest version of this document (no old sealed values in history)."""
        self._call(
            f"configure {self._shown(path)}",
            lambda client: client.secrets.kv.v2.update_metadata(
                path=path, max_versions=1, mount_point=self._where.mount
            ),
        )

    def _ensure_mount(self) -> None:
        """The mount must be KV v2; create it when missing and the token may (else FailedPrecondition)."""
        mount = self._where.mount
        hint = (
            f"enable it with `bao secrets enable -path={mount} kv-v2` (or `vault secrets enable ...`) and grant "
            f"the token access to {mount}/data/{self._where.prefix}/* and {mount}/metadata/{self._where.prefix}/*"
        )

        def inspect(client: hvac.Client) -> dict[str, Any] | None:
            try:
                response = client.adapter.get(f"/v1/sys/internal/ui/mounts/{mount}/{self._where.prefix}")
            except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
                return None  # no such mount, or this token sees nothing under it
            return dict(response["data"])

        info = self._call(f"inspect mount {mount}", inspect)
        if info is None:

            def enable(client: hvac.Client) -> bool:
                try:
                    client.sys.enable_secrets_engine(backend_type="kv", path=mount, options={"version": "2"})
                except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest):
                    return False
                return True

            if not self._call(f"enable mount {mount}", enable):
                raise FailedPrecondition(f"vault has no KV v2 mount {mount!r} this token can use: {hint}")
            return
        if info.get("type") != "kv" or str((info.get("options") or {}).get("version")) != "2":
            kind = f"{info.get('type')} version {(info.get('options') or {}).get('version', '1')}"
            raise FailedPrecondition(f"vault mount {mount!r} is {kind}, not KV version 2: {hint}")

    # transport and authentication ---------------------------------------------
    def _call(self, what: str, op: Callable[[hvac.Client], T]) -> T:
        """Run one request on a pooled client, hvac and transport errors translated; a refused
        login token is replaced once (AppRole, Kubernetes) before the refusal is reported."""
        retried = False
        while True:
            client = self._borrow()
            try:
                return op(client)
            except hvac.exceptions.Forbidden as exc:
                if not retried and self._auth.method is not VaultAuthMethod.TOKEN:
                    retried = True
                    self._forget_token(client.token)
                    continue
                raise _translate(exc, what, self._where) from None
            except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
                raise _translate(exc, what, self._where) from None
            finally:
                self._idle.put(client)

    def _borrow(self) -> hvac.Client:
        """An idle client (one HTTP session per concurrent request), carrying the current token."""
        token = self._current_token()
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._new_client()
        client.token = token
        return client

    def _new_client(self) -> hvac.Client:
        return hvac.Client(url=self._where.address, verify=self._verify, timeout=self._timeout)

    def _current_token(self) -> str:
        with self._auth_lock:
            if self._token is None or (self._renew_at is not None and time.monotonic() >= self._renew_at):
                self._token, lifetime = self._login()
                self._renew_at = None if lifetime <= 0 else time.monotonic() + lifetime * _RENEW_AT
            return self._token

    def _forget_token(self, token: str | None) -> None:
        """Drop a login token Vault refused, so the next request logs in again."""
        with self._auth_lock:
            if self._token == token:
                self._token = None

    def _login(self) -> tuple[str, float]:
        """Log in with AppRole or Kubernetes; returns the token and its lifetime in seconds (0: none)."""
        auth = self._auth
        mount = auth.mount or auth.method.value
        if auth.method is VaultAuthMethod.APPROLE:
            which, settings = "AppRole", "BROKER_VAULT_ROLE_ID and BROKER_VAULT_SECRET_ID"
        else:
            which, settings = "Kubernetes", "BROKER_VAULT_K8S_ROLE and the service-account token"
        client = self._new_client()
        try:
            if auth.method is VaultAuthMethod.APPROLE:
                secret_id = auth.secret_id.reveal().decode() if auth.secret_id is not None else None
                response = client.auth.approle.login(
                    role_id=auth.role_id, secret_id=secret_id, use_token=False, mount_point=mount
                )
            else:
                jwt = _read_token_file(auth.k8s_token_file)
                response = client.auth.kubernetes.login(role=auth.k8s_role, jwt=jwt, use_token=False, mount_point=mount)
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
            reason = _first_error(exc)
            raise FailedPrecondition(
                f"vault {which} login at auth/{mount} failed ({reason}): check {settings}"
            ) from None
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
            raise _translate(exc, f"log in at auth/{mount}", self._where) from None
        finally:
            client.adapter.close()
        return str(response["auth"]["client_token"]), float(response["auth"].get("lease_duration") or 0)


# errors ------------------------------------------------------------------------


def _translate(exc: Exception, what: str, where: VaultLocation) -> Exception:  # noqa: PLR0911 - one flat table
    """THE mapping of hvac and transport failures; messages carry no token and no value."""
    if isinstance(exc, hvac.exceptions.InvalidRequest):
        reason = _first_error(exc)
        if _CAS_MISMATCH in reason:
            return _CasMismatch()
        if "upgrading" in reason.lower():
            return StoreUnavailable(f"vault at {where.address} is upgrading mount {where.mount!r}")
        return FailedPrecondition(f"vault refused to {what}: {reason}")
    if isinstance(exc, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized):
        return FailedPrecondition(
            f"vault denied access to {what}: check the token's policy (and that it has not expired)"
        )
    if isinstance(exc, hvac.exceptions.VaultDown):
        state = "sealed" if "sealed" in _first_error(exc).lower() else "down (503)"
        return StoreUnavailable(f"vault at {where.address} is {state}")
    if isinstance(exc, hvac.exceptions.VaultNotInitialized):
        return StoreUnavailable(f"vault at {where.address} is not initialized")
    if isinstance(
        exc, hvac.exceptions.InternalServerError | hvac.exceptions.BadGateway | hvac.exceptions.RateLimitExceeded
    ):
        return StoreUnavailable(f"vault at {where.address} failed to {what}: {_first_error(exc)}")
    if isinstance(exc, hvac.exceptions.InvalidPath):
        return FailedPrecondition(f"vault has no route to {what}: is {where.mount!r} a KV v2 mount?")
    if isinstance(exc, requests.exceptions.SSLError):
        return FailedPrecondition(
            f"vault at {where.address}: TLS verification failed; "
            "set BROKER_VAULT_CACERT to the CA that signed its certificate"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return StoreUnavailable(f"vault at {where.address} did not answer in time")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return StoreUnavailable(f"cannot connect to vault at {where.address}")
    if isinstance(exc, hvac.exceptions.VaultError | requests.exceptions.RequestException):
        return StoreUnavailable(f"vault at {where.address} failed to {what} ({type(exc).__name__})")
    return exc


def _first_error(exc: hvac.exceptions.VaultError) -> str:
    """Vault's first error line, shortened (Vault's errors name paths and reasons, never values)."""
    errors = exc.errors if isinstance(exc.errors, list) else [exc.errors] if exc.errors else []
    lines = [line.strip(" *\t") for e in errors for line in str(e).splitlines() if line.strip(" *\t")]
    lines = [line for line in lines if not line.endswith("error occurred:")]
    return (lines[0] if lines else type(exc).__name__)[:200]


def _contention(where: str) -> BrokerError:
    return Conflict(f"too many concurrent writers on {where}; try again")


def _read_token_file(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise FailedPrecondition(f"BROKER_VAULT_K8S_TOKEN_FILE: cannot read {path}: {exc.strerror}") from None


# names and values -------------------------------------------------------------


def _name(value: str) -> str:
    """A path segment for any string: itself when it is letters, digits, '_' and '-' only,
    else '~' + its base64url (no '%' or '/' for a proxy or Vault to decode on the way)."""
    if not value:
        raise InvalidArgument("an empty name cannot be stored")
    if all(c in _SAFE for c in value):
        return value
    return "~" + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _unname(segment: str) -> str:
    """The string a path segment names (the inverse of ``_name``)."""
    if not segment.startswith("~"):
        return segment
    encoded = segment[1:]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# documents <-> domain objects ---------------------------------------------------


def _identity_doc(identity: Identity) -> dict[str, Any]:
    return {"id": identity.id, **records.identity_fields(identity, ISO_8601)}


def _binding_pairs(identity: Identity) -> set[tuple[str, str]]:
    return {(b.issuer, b.subject) for b in identity.bindings}


def _doc_binding_pairs(doc: _Doc) -> set[tuple[str, str]]:
    return {(b["issuer"], b["subject"]) for b in doc.data.get("bindings", [])}


def _binding_digest(pair: tuple[str, str]) -> str:
    return _digest(f"{pair[0]}\x00{pair[1]}")


def _identity_from_doc(doc: _Doc) -> Identity:
    return records.identity_from_record(doc.data, ISO_8601, etag=str(doc.version))


def _issuer_doc(issuer: TrustedIssuer) -> dict[str, Any]:
    return {"issuer": issuer.issuer, **records.issuer_fields(issuer, ISO_8601)}


def _issuer_from_doc(doc: _Doc) -> TrustedIssuer:
    return records.issuer_from_record(doc.data, ISO_8601, etag=str(doc.version))


def _secret_fields(secret: Secret) -> dict[str, Any]:
    """A secret document's metadata fields (everything but revision, versions and outbox)."""
    return {"id": secret.id, **records.secret_fields(secret, ISO_8601)}


def _secret_from_doc(doc: _Doc) -> Secret:
    return _secret_from_data(doc.data)


def _secret_from_data(d: Mapping[str, Any]) -> Secret:
    return records.secret_from_record(d, ISO_8601)


def _version_from_doc(secret_id: str, v: Mapping[str, Any], *, value: Sensitive | None) -> SecretVersion:
    return records.version_from_record(secret_id, v, ISO_8601, value=value)


def _stored_version(data: Mapping[str, Any], v: Mapping[str, Any]) -> SecretVersion:
    """A version entry of a live secret document, without its value."""
    return _version_from_doc(data["id"], v, value=None)


def _graces_ended(data: Mapping[str, Any], now: datetime) -> bool:
    return any(grace_ended(_stored_version(data, v), now) for v in data["versions"])


def _destruction_due(data: Mapping[str, Any], v: Mapping[str, Any], now: datetime) -> bool:
    return material_due(_stored_version(data, v), timedelta(seconds=data["retention_seconds"]), now)


def _due_for_destruction(data: Mapping[str, Any], now: datetime) -> bool:
    return any(_destruction_due(data, v, now) for v in data["versions"])


_Change = Callable[[dict[str, Any]], tuple[dict[str, Any], list[dict[str, Any]]]]


class _Expire:
    """The expiry sweep's change to one secret: ended graces become EXPIRED, one event each."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def __call__(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        ended = sorted(v["version"] for v in data["versions"] if grace_ended(_stored_version(data, v), self._now))
        versions = [
            {**v, "state": VersionState.EXPIRED.value, "expire_time": v["grace_expire_time"]}
            if v["version"] in ended
            else v
            for v in data["versions"]
        ]
        events = [_outbox_entry(EventType.GRACE_EXPIRED, n, data["current_version"], self._now) for n in ended]
        return {**data, "versions": versions}, events


class _Destroy:
    """The destruction sweep's change to one secret: values past retention erased; counts them."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self.count = 0

    def __call__(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        due = {v["version"] for v in data["versions"] if _destruction_due(data, v, self._now)}
        self.count = len(due)
        versions = [{**v, "destroyed": True, "sealed": None} if v["version"] in due else v for v in data["versions"]]
        return {**data, "versions": versions}, []


def _outbox_entry(kind: EventType, version: int, current: int, when: datetime) -> dict[str, Any]:
    """An event waiting in a secret's outbox, with a unique id for its mark."""
    return {"id": secrets.token_hex(16), **records.event_fields(kind, version, current, when, ISO_8601)}


def _event(seq: int, secret_id: str, entry: Mapping[str, Any]) -> SecretEvent:
    """An outbox entry, slot or per-secret copy as the event (``n``: its secret's number; 0 in old documents)."""
    return records.event_from_record(entry, ISO_8601, seq=seq, secret_id=secret_id, secret_seq=entry.get("n", 0))


def _audit_from_doc(doc: _Doc) -> AuditEvent:
    return records.audit_from_record(doc.data, ISO_8601)

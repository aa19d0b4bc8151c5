"""Record codecs shared by the SQL and Vault stores: domain objects <-> flat records.

A record is a mapping of field names to plain values: a row of the SQL store's tables
(store/sql/schema.py), or a JSON document of the Vault store (store/vault/). Both
backends name their fields alike, so one codec per domain object serves both; they
differ in how a time is kept, which the ``TimeFormat`` passed in decides:

- ``DATETIME`` (SQL): ``UTCDateTime`` columns take and give aware datetimes;
- ``ISO_8601`` (Vault): documents keep times as ISO 8601 text in UTC.

What a backend keeps its own way stays in its adapter around these: a record's key
(``*_fields`` leave it out, ``*_from_record`` read it back), its etag (a SQL revision
column, a KV version), and where sealed bytes go and how they are encoded (a binary
column; base64 in a document). Values inside JSON (an identity's public keys) are ISO
8601 on both. Sealing is ``sealing.py``'s; ``seal_version`` and ``open_version`` only
bind a secret version's value to its (secret id, version) context.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from ..core.audit import AuditEvent, AuditFilter, chain_content
from ..core.durations import from_seconds, whole_seconds
from ..core.generators import Generator
from ..core.identities import Binding, Identity, IdentityFilter, IdentityKey, IdentityKind
from ..core.issuers import TrustedIssuer
from ..core.keys import SigningKeyRecord
from ..core.people import PersonFilter
from ..core.secrets import EventType, RotationPolicy, Secret, SecretEvent, SecretVersion, VersionState
from ..core.sensitive import Sensitive
from .sealing import Sealer, secret_context

__all__ = [
    "DATETIME",
    "ISO_8601",
    "RELEASED",
    "Record",
    "TimeFormat",
    "audit_fields",
    "audit_from_record",
    "b64",
    "event_fields",
    "event_from_record",
    "filter_fields",
    "from_iso",
    "from_iso_or_none",
    "identity_fields",
    "identity_from_record",
    "issuer_fields",
    "issuer_from_record",
    "key_fields",
    "key_from_record",
    "open_version",
    "seal_version",
    "secret_fields",
    "secret_from_record",
    "signing_key_fields",
    "signing_key_from_record",
    "to_iso",
    "to_iso_or_none",
    "unb64",
    "version_fields",
    "version_from_record",
]

#: expires_at of a released lease: long past, so anyone may take it.
RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


# values ------------------------------------------------------------------------


def to_iso(when: datetime) -> str:
    """An aware datetime as ISO 8601 text in UTC; a naive one is refused."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: the store takes timezone-aware datetimes")
    return when.astimezone(UTC).isoformat()


def to_iso_or_none(when: datetime | None) -> str | None:
    return None if when is None else to_iso(when)


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def from_iso_or_none(text: str | None) -> datetime | None:
    return None if text is None else from_iso(text)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


#: What the codecs read: a SQL row's ``_mapping`` (keyed by names or columns) or a Vault document's data.
Record = Mapping[Any, Any]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class TimeFormat:
    """How a backend keeps a time (None stays None both ways)."""

    dump: Callable[[datetime | None], Any]
    load: Callable[[Any], Any]


#: SQL: UTCDateTime columns take and give aware datetimes as they are.
DATETIME = TimeFormat(dump=_same, load=_same)
#: Vault: JSON documents keep ISO 8601 text in UTC.
ISO_8601 = TimeFormat(dump=to_iso_or_none, load=from_iso_or_none)


def filter_fields(flt: IdentityFilter | AuditFilter | PersonFilter) -> dict[str, Any]:
    """The fields of a filter that are set, as stored (an enum as its value); field names are record fields."""
    return {
        name: value.value if isinstance(value, Enum) else value
        for name, value in dataclasses.asdict(flt).items()
        if value is not None
    }


# identities --------------------------------------------------------------------


def identity_fields(identity: Identity, times: TimeFormat) -> dict[str, Any]:
    """Every field of an identity record but its id (and the backend's etag)."""
    return {
        "kind": identity.kind.value,
        "tenant": identity.tenant,
        "display_name": identity.display_name,
        "disabled": identity.disabled,
        "max_token_ttl_seconds": whole_seconds(identity.max_token_ttl, "max_token_ttl"),
        "allowed_scopes": list(identity.allowed_scopes),
        "allowed_audiences": list(identity.allowed_audiences),
        "bindings": [
            {"issuer": b.issuer, "subject": b.subject, "required_claims": dict(b.required_claims)}
            for b in identity.bindings
        ],
        "public_keys": [key_fields(k) for k in identity.public_keys],
        "delegable_scopes": list(identity.delegable_scopes),
        "create_time": times.dump(identity.create_time),
        "update_time": times.dump(identity.update_time),
        "tokens_valid_from": times.dump(identity.tokens_valid_from),
    }


def identity_from_record(d: Record, times: TimeFormat, *, etag: str) -> Identity:
    return Identity(
        id=d["id"],
        kind=IdentityKind(d["kind"]),
        tenant=d["tenant"],
        display_name=d["display_name"],
        allowed_scopes=tuple(d["allowed_scopes"]),
        allowed_audiences=tuple(d["allowed_audiences"]),
        max_token_ttl=from_seconds(d["max_token_ttl_seconds"]),
        bindings=tuple(Binding(**b) for b in d["bindings"]),
        public_keys=tuple(key_from_record(k) for k in d["public_keys"]),
        delegable_scopes=tuple(d["delegable_scopes"]),
        disabled=d["disabled"],
        create_time=times.load(d["create_time"]),
        update_time=times.load(d["update_time"]),
        etag=etag,
        # Vault documents written before token cut-offs have no such field.
        tokens_valid_from=times.load(d.get("tokens_valid_from")),
    )


def key_fields(key: IdentityKey) -> dict[str, Any]:
    """An identity's public key as JSON (times as ISO 8601 text on every backend)."""
    return {
        "kid": key.kid,
        "jwk": dict(key.jwk),
        "create_time": to_iso(key.create_time),
        "expire_time": to_iso_or_none(key.expire_time),
    }


def key_from_record(d: Record) -> IdentityKey:
    return IdentityKey(
        kid=d["kid"],
        jwk=d["jwk"],
        create_time=from_iso(d["create_time"]),
        expire_time=from_iso_or_none(d["expire_time"]),
    )


# trusted issuers and signing keys ------------------------------------------------


def issuer_fields(issuer: TrustedIssuer, times: TimeFormat) -> dict[str, Any]:
    """Every field of an issuer record but its URL (and the backend's etag)."""
    return {
        "jwks_json": issuer.jwks_json,
        "jwks_file": issuer.jwks_file,
        "jwks_url": issuer.jwks_url,
        "algorithms": list(issuer.algorithms),
        "audience": issuer.audience,
        "single_use": issuer.single_use,
        "max_token_age_seconds": whole_seconds(issuer.max_token_age, "max_token_age"),
        "create_time": times.dump(issuer.create_time),
    }


def issuer_from_record(d: Record, times: TimeFormat, *, etag: str) -> TrustedIssuer:
    return TrustedIssuer(
        issuer=d["issuer"],
        jwks_json=d["jwks_json"],
        jwks_file=d["jwks_file"],
        jwks_url=d["jwks_url"],
        algorithms=tuple(d["algorithms"]),
        audience=d["audience"],
        single_use=d["single_use"],
        max_token_age=from_seconds(d["max_token_age_seconds"]),
        create_time=times.load(d["create_time"]),
        etag=etag,
    )


def signing_key_fields(record: SigningKeyRecord, times: TimeFormat) -> dict[str, Any]:
    """Every field of a signing key record but its sealed private key (each backend names and encodes that)."""
    return {
        "kid": record.kid,
        "alg": record.alg,
        "create_time": times.dump(record.create_time),
        "activate_time": times.dump(record.activate_time),
    }


def signing_key_from_record(d: Record, times: TimeFormat, *, private_pem: Sensitive) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=d["kid"],
        alg=d["alg"],
        private_pem=private_pem,
        create_time=times.load(d["create_time"]),
        activate_time=times.load(d["activate_time"]),
    )


# rotating secrets ----------------------------------------------------------------


def secret_fields(secret: Secret, times: TimeFormat) -> dict[str, Any]:
    """Every metadata field of a secret record but its id and revision."""
    return {
        "generator": secret.generator.value,
        "length": secret.length,
        "rotation_interval_seconds": whole_seconds(secret.policy.interval, "rotation.interval"),
        "grace_period_seconds": whole_seconds(secret.policy.grace_period, "rotation.grace_period"),
        "retention_seconds": whole_seconds(secret.policy.retention, "rotation.retention"),
        "current_version": secret.current_version,
        "next_rotation_time": times.dump(secret.next_rotation_time),
        "create_time": times.dump(secret.create_time),
        "update_time": times.dump(secret.update_time),
    }


def secret_from_record(d: Record, times: TimeFormat) -> Secret:
    """The secret; its etag is the record's ``revision`` on both backends."""
    return Secret(
        id=d["id"],
        generator=Generator(d["generator"]),
        length=d["length"],
        policy=RotationPolicy(
            interval=from_seconds(d["rotation_interval_seconds"]),
            grace_period=timedelta(seconds=d["grace_period_seconds"]),
            retention=timedelta(seconds=d["retention_seconds"]),
        ),
        current_version=d["current_version"],
        next_rotation_time=times.load(d["next_rotation_time"]),
        create_time=times.load(d["create_time"]),
        update_time=times.load(d["update_time"]),
        etag=str(d["revision"]),
    )


def version_fields(version: SecretVersion, state: VersionState, times: TimeFormat) -> dict[str, Any]:
    """A new version record in ``state``, not destroyed; without its secret id and sealed value."""
    return {
        "version": version.version,
        "state": state.value,
        "create_time": times.dump(version.create_time),
        "grace_expire_time": times.dump(version.grace_expire_time),
        "expire_time": times.dump(version.expire_time),
        "destroyed": False,
    }


def version_from_record(secret_id: str, d: Record, times: TimeFormat, *, value: Sensitive | None) -> SecretVersion:
    return SecretVersion(
        secret_id=secret_id,
        version=d["version"],
        state=VersionState(d["state"]),
        create_time=times.load(d["create_time"]),
        grace_expire_time=times.load(d["grace_expire_time"]),
        expire_time=times.load(d["expire_time"]),
        destroyed=d["destroyed"],
        value=value,
    )


def seal_version(sealer: Sealer, version: SecretVersion) -> bytes:
    """A new version's value sealed to (secret id, version); a version without a value is refused."""
    if version.value is None:
        raise ValueError("a new secret version needs a value")
    return sealer.seal(version.value.reveal(), secret_context(version.secret_id, version.version))


def open_version(sealer: Sealer, secret_id: str, version: int, sealed: bytes | None) -> Sensitive | None:
    """A stored version's value (None once destroyed)."""
    return None if sealed is None else Sensitive(sealer.open(sealed, secret_context(secret_id, version)))


def event_fields(kind: EventType, version: int, current: int, when: datetime, times: TimeFormat) -> dict[str, Any]:
    """What a secret event record says (without the numbers each backend gives it its own way)."""
    return {
        "type": kind.value,
        "version": version,
        "current_version": current,
        "event_time": times.dump(when),
    }


def event_from_record(d: Record, times: TimeFormat, *, seq: int, secret_id: str, secret_seq: int) -> SecretEvent:
    return SecretEvent(
        seq=seq,
        secret_id=secret_id,
        type=EventType(d["type"]),
        version=d["version"],
        current_version=d["current_version"],
        event_time=times.load(d["event_time"]),
        secret_seq=secret_seq,
    )


# audit -----------------------------------------------------------------------------


def audit_fields(event: AuditEvent, times: TimeFormat) -> dict[str, Any]:
    """An audit event record, id and hash included."""
    return {**chain_content(event), "event_time": times.dump(event.event_time), "hash": event.hash}


def audit_from_record(d: Record, times: TimeFormat) -> AuditEvent:
    return AuditEvent(
        id=d["id"],
        event_time=times.load(d["event_time"]),
        action=d["action"],
        actor=d["actor"],
        subject=d["subject"],
        target=d["target"],
        outcome=d["outcome"],
        request_id=d["request_id"],
        details=d["details"],
        client_address=d["client_address"],
        replica=d["replica"],
        seq=d["seq"],
        prev_hash=d["prev_hash"],
        hash=d["hash"],
    )

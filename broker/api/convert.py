"""Conversions between protobuf messages and domain objects; nothing else."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from broker_client.v1 import identity_pb2

from ..core.errors import InvalidArgument
from ..core.identities import Binding, Identity, IdentityKey, IdentityKind, jwk_json

KIND_TO_PROTO = {
    IdentityKind.SERVICE_ACCOUNT: identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
    IdentityKind.AI_AGENT: identity_pb2.IDENTITY_KIND_AI_AGENT,
}
KIND_FROM_PROTO = {v: k for k, v in KIND_TO_PROTO.items()}


def timestamp(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    """A protobuf Timestamp, or None."""
    if when is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when.astimezone(UTC))
    return ts


#: The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_TIMESTAMP_SECONDS = (-62135596800, 253402300799)
#: The range google.protobuf.Duration allows: about 10,000 years either way.
_DURATION_SECONDS = 315576000000


def from_timestamp(ts: timestamp_pb2.Timestamp, present: bool, field: str = "timestamp") -> datetime | None:
    """An aware datetime from a Timestamp field that may be unset; out of range is refused."""
    if not present:
        return None
    low, high = _TIMESTAMP_SECONDS
    if not low <= ts.seconds <= high or not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidArgument(f"{field}: out of range (years 1 to 9999)")
    return ts.ToDatetime(tzinfo=UTC)


def duration(delta: timedelta | None) -> duration_pb2.Duration | None:
    """A protobuf Duration, or None."""
    if delta is None:
        return None
    d = duration_pb2.Duration()
    d.FromTimedelta(delta)
    return d


def from_duration(d: duration_pb2.Duration, present: bool, field: str) -> timedelta | None:
    """A timedelta from a Duration field that may be unset; negative is refused."""
    if not present:
        return None
    if d.seconds < 0 or d.nanos < 0:
        raise InvalidArgument(f"{field}: must not be negative")
    if d.seconds > _DURATION_SECONDS or d.nanos >= 1_000_000_000:
        raise InvalidArgument(f"{field}: out of range")
    return d.ToTimedelta()


def identity_to_proto(identity: Identity) -> identity_pb2.Identity:
    """The wire form of an identity."""
    msg = identity_pb2.Identity(
        id=identity.id,
        kind=KIND_TO_PROTO[identity.kind],
        tenant=identity.tenant,
        display_name=identity.display_name,
        allowed_scopes=identity.allowed_scopes,
        allowed_audiences=identity.allowed_audiences,
        max_token_ttl=duration(identity.max_token_ttl),
        bindings=[
            identity_pb2.Binding(issuer=b.issuer, subject=b.subject, required_claims=dict(b.required_claims))
            for b in identity.bindings
        ],
        public_keys=[key_to_proto(k) for k in identity.public_keys],
        delegable_scopes=identity.delegable_scopes,
        disabled=identity.disabled,
        create_time=timestamp(identity.create_time),
        update_time=timestamp(identity.update_time),
        etag=identity.etag,
    )
    return msg


def key_to_proto(key: IdentityKey) -> identity_pb2.PublicKey:
    """The wire form of a registered public key."""
    return identity_pb2.PublicKey(
        kid=key.kid,
        jwk_json=jwk_json(key),
        expire_time=timestamp(key.expire_time),
        create_time=timestamp(key.create_time),
    )


def _field_values(msg: identity_pb2.Identity) -> dict[str, Callable[[], Any]]:
    """Each mutable field of the wire identity, converted on demand."""
    return {
        "tenant": lambda: msg.tenant,
        "display_name": lambda: msg.display_name,
        "allowed_scopes": lambda: tuple(msg.allowed_scopes),
        "allowed_audiences": lambda: tuple(msg.allowed_audiences),
        "max_token_ttl": lambda: from_duration(msg.max_token_ttl, msg.HasField("max_token_ttl"), "max_token_ttl"),
        "bindings": lambda: tuple(
            Binding(issuer=b.issuer, subject=b.subject, required_claims=dict(b.required_claims)) for b in msg.bindings
        ),
        "delegable_scopes": lambda: tuple(msg.delegable_scopes),
        "disabled": lambda: msg.disabled,
    }


def identity_from_proto(msg: identity_pb2.Identity, keys: tuple[IdentityKey, ...] = ()) -> Identity:
    """A new domain identity from the wire (keys are parsed separately by the registry)."""
    if msg.kind not in KIND_FROM_PROTO:
        raise InvalidArgument("kind: must be IDENTITY_KIND_SERVICE_ACCOUNT or IDENTITY_KIND_AI_AGENT")
    values = {name: get() for name, get in _field_values(msg).items()}
    return Identity(id=msg.id, kind=KIND_FROM_PROTO[msg.kind], public_keys=keys, etag=msg.etag, **values)


def identity_changes(msg: identity_pb2.Identity, paths: Sequence[str]) -> dict[str, Any]:
    """The fields named by an update mask, converted; unknown paths are refused."""
    return masked_changes(_field_values(msg), paths)


def masked_changes(fields: Mapping[str, Callable[[], Any]], paths: Sequence[str]) -> dict[str, Any]:
    """Each of ``paths`` (an update mask) converted by its entry of ``fields``; a path with no
    entry is refused, naming every such path."""
    unknown = sorted(p for p in paths if p not in fields)
    if unknown:
        raise InvalidArgument(f"update_mask: cannot update {', '.join(unknown)}")
    return {p: fields[p]() for p in paths}

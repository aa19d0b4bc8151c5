"""The versions in a Vault secret document, and the changes that rewrite them.

A secret document holds EVERY version of its secret (``versions``: the value sealed and
base64-encoded, None once destroyed), so a rotation, an expiry or a destruction is one
check-and-set write of that document, made by ``EventLog.change_secret`` together with
its events. The classes here are those changes (``Rotate``, ``Expire``, ``Destroy``);
which state a version is in is decided by core.secrets (``grace_ended``,
``material_due``), applied here to the stored entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ...core.errors import AlreadyExists, Conflict
from ...core.secrets import EventType, SecretVersion, VersionState, grace_ended, material_due
from ...core.sensitive import Sensitive
from .. import records
from ..records import ISO_8601, b64, to_iso, to_iso_or_none, unb64
from ..sealing import Sealer, secret_context
from .events import outbox_entry

__all__ = [
    "Destroy",
    "Expire",
    "Rotate",
    "due_for_destruction",
    "graces_ended",
    "rewrapped_versions",
    "version_entry",
    "version_from_entry",
]

Data = dict[str, Any]
Outbox = list[dict[str, Any]]


def version_entry(sealer: Sealer, version: SecretVersion, state: VersionState) -> Data:
    """A version entry in ``state``, the value sealed to (secret id, version)."""
    sealed = records.seal_version(sealer, version)
    return {**records.version_fields(version, state, ISO_8601), "sealed": b64(sealed)}


def rewrapped_versions(sealer: Sealer, secret_id: str, versions: list[Data]) -> list[Data] | None:
    """The version entries with every value sealed under the current KEK, or None if they all are."""
    changed, out = False, []
    for entry in versions:
        sealed = entry.get("sealed")
        new = None if sealed is None else sealer.rewrap(unb64(sealed), secret_context(secret_id, entry["version"]))
        changed |= new is not None
        out.append(entry if new is None else {**entry, "sealed": b64(new)})
    return out if changed else None


def version_from_entry(secret_id: str, v: Mapping[str, Any], *, value: Sensitive | None) -> SecretVersion:
    return records.version_from_record(secret_id, v, ISO_8601, value=value)


def graces_ended(data: Mapping[str, Any], now: datetime) -> bool:
    """True if a PREVIOUS version of the live secret document ``data`` is past its grace."""
    return any(grace_ended(_stored(data, v), now) for v in data["versions"])


def due_for_destruction(data: Mapping[str, Any], now: datetime) -> bool:
    """True if a version of the live secret document ``data`` keeps a value past retention."""
    return any(_destruction_due(data, v, now) for v in data["versions"])


class Rotate:
    """A rotation: if ``expected_version`` is still CURRENT it becomes PREVIOUS, ``new`` CURRENT; event ROTATED."""

    def __init__(
        self,
        secret_id: str,
        *,
        expected_version: int,
        new: SecretVersion,
        entry: Data,
        grace_expire_time: datetime,
        next_rotation_time: datetime | None,
    ) -> None:
        self._secret_id = secret_id
        self._expected = expected_version
        self._new = new
        self._entry = entry
        self._grace_expire_time = grace_expire_time
        self._next_rotation_time = next_rotation_time

    def __call__(self, data: Data) -> tuple[Data, Outbox]:
        new, expected_version = self._new, self._expected
        if data["current_version"] != expected_version:
            raise Conflict(
                f"secret {self._secret_id!r} was rotated by someone else (version {expected_version} is no longer "
                "current); read it again"
            )
        if any(v["version"] == new.version for v in data["versions"]):
            raise AlreadyExists(f"secret {self._secret_id!r} already has a version {new.version}")
        versions = [
            {**v, "state": VersionState.PREVIOUS.value, "grace_expire_time": to_iso(self._grace_expire_time)}
            if v["version"] == expected_version
            else v
            for v in data["versions"]
        ]
        changed = {
            **data,
            "versions": [*versions, self._entry],
            "current_version": new.version,
            "next_rotation_time": to_iso_or_none(self._next_rotation_time),
            "update_time": to_iso(new.create_time),
            "revision": data["revision"] + 1,
        }
        return changed, [outbox_entry(EventType.ROTATED, new.version, new.version, new.create_time)]


class Expire:
    """The expiry sweep's change to one secret: ended graces become EXPIRED, one event each."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def __call__(self, data: Data) -> tuple[Data, Outbox]:
        ended = sorted(v["version"] for v in data["versions"] if grace_ended(_stored(data, v), self._now))
        versions = [
            {**v, "state": VersionState.EXPIRED.value, "expire_time": v["grace_expire_time"]}
            if v["version"] in ended
            else v
            for v in data["versions"]
        ]
        events = [outbox_entry(EventType.GRACE_EXPIRED, n, data["current_version"], self._now) for n in ended]
        return {**data, "versions": versions}, events


class Destroy:
    """The destruction sweep's change to one secret: values past retention erased; counts them."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self.count = 0

    def __call__(self, data: Data) -> tuple[Data, Outbox]:
        due = {v["version"] for v in data["versions"] if _destruction_due(data, v, self._now)}
        self.count = len(due)
        versions = [{**v, "destroyed": True, "sealed": None} if v["version"] in due else v for v in data["versions"]]
        return {**data, "versions": versions}, []


def _stored(data: Mapping[str, Any], v: Mapping[str, Any]) -> SecretVersion:
    """A version entry of a live secret document, without its value."""
    return version_from_entry(data["id"], v, value=None)


def _destruction_due(data: Mapping[str, Any], v: Mapping[str, Any], now: datetime) -> bool:
    return material_due(_stored(data, v), timedelta(seconds=data["retention_seconds"]), now)

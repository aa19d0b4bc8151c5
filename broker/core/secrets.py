"""Rotating secrets: versions, states, grace periods, generators.

A secret has exactly one CURRENT version at every instant. A rotation, in one atomic
store step, makes a new version CURRENT and the old one PREVIOUS, valid until its
grace_expire_time; after that it is EXPIRED (not accepted, not readable) and its
material is destroyed once the policy's retention has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .sensitive import Sensitive


class Generator(StrEnum):
    """How new values are made."""

    RANDOM_BYTES = "random_bytes"
    PASSWORD = "password"
    API_KEY = "api_key"
    EXTERNAL = "external"


class VersionState(StrEnum):
    """Where a version is in its life."""

    CURRENT = "current"
    PREVIOUS = "previous"
    EXPIRED = "expired"


class EventType(StrEnum):
    """What WatchSecret reports."""

    ROTATED = "rotated"
    GRACE_EXPIRED = "grace_expired"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """When values rotate (None: by hand only) and how long old ones keep working."""

    interval: timedelta | None
    grace_period: timedelta
    retention: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret's metadata; never its value."""

    id: str
    generator: Generator
    length: int
    policy: RotationPolicy
    current_version: int = 0
    next_rotation_time: datetime | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""


@dataclass(frozen=True, slots=True)
class SecretVersion:
    """One value of a secret; ``value`` is None when not loaded or destroyed."""

    secret_id: str
    version: int
    state: VersionState
    create_time: datetime
    grace_expire_time: datetime | None = None
    expire_time: datetime | None = None
    destroyed: bool = False
    value: Sensitive | None = None


@dataclass(frozen=True, slots=True)
class SecretEvent:
    """A change to a secret, in store order (``seq``); carries version numbers, never values."""

    seq: int
    secret_id: str
    type: EventType
    version: int
    current_version: int
    event_time: datetime

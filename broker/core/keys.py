"""The signing keyring: one key signs, every published key verifies (MultiFernet's shape).

A key's life is derived from times, never from mutable state:

- NEXT      activate_time > now: published in the JWKS, signs nothing yet;
- CURRENT   the key with the latest activate_time <= now: signs every new token;
- PREVIOUS  a later key has activated: still published until its successor's
            activate_time + the longest token lifetime, so every token it signed verifies;
- gone      after that: out of the JWKS, deleted from the store by the rotation job.

Rotation (``Keyring.rotate``, run by the scheduler on the leader) adds the successor as
a NEXT key ``publish_lead`` before it activates: longer than a verifier caches the JWKS
plus the time other replicas take to refresh their keyring, so every verifier and every
replica knows a key before anything is signed with it.

Private keys live in the store sealed (store/sealing.py); in memory they are parsed
once per refresh, never per request.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from broker_client.keys import thumbprint

from . import jwk as jwks
from .algorithms import SIGNING
from .clock import Clock
from .errors import Unavailable
from .sensitive import Sensitive

_log = structlog.get_logger("broker.keys")

#: How often an unknown kid may send the keyring back to the store.
UNKNOWN_KID_REFRESH = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A signing key as stored; ``private_pem`` is sealed by the store at rest."""

    kid: str
    alg: str
    private_pem: Sensitive
    create_time: datetime
    activate_time: datetime


class SigningKeyStore(Protocol):
    """What the keyring needs of the store: the sealed signing keys."""

    def list_signing_keys(self) -> list[SigningKeyRecord]:
        """Every stored signing key, unsealed."""
        ...

    def add_signing_key(self, record: SigningKeyRecord) -> None:
        """Insert a signing key (sealed at rest)."""
        ...

    def delete_signing_key(self, kid: str) -> None:
        """Remove a signing key; absent is fine."""
        ...


@dataclass(frozen=True, slots=True)
class LoadedKey:
    """A signing key parsed once: private object, public object, public JWK."""

    kid: str
    alg: str
    activate_time: datetime
    private: jwks.PrivateKey
    public: jwks.PublicKey
    jwk: dict[str, str]

    def __repr__(self) -> str:
        return f"LoadedKey(kid={self.kid!r}, alg={self.alg!r})"


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """What one ``Keyring.rotate`` did: the NEXT key it added (if any) and the kids it deleted."""

    added: str | None = None
    activate_time: datetime | None = None
    deleted: tuple[str, ...] = ()


def publish_lead(jwks_cache_ttl: timedelta, refresh_interval: timedelta) -> timedelta:
    """How long before activation a NEXT key is published.

    A replica sees a new key within one refresh interval and a verifier refetches the
    JWKS within its cache lifetime; one more refresh interval is the margin.
    """
    return jwks_cache_ttl + 2 * refresh_interval


def new_record(alg: str, now: datetime, activate_time: datetime) -> SigningKeyRecord:
    """A fresh key of ``alg``, its kid the RFC 7638 thumbprint."""
    private = jwks.generate_private_key(alg)
    kid = thumbprint(jwks.public_jwk(private.public_key()))
    return SigningKeyRecord(
        kid=kid,
        alg=alg,
        private_pem=Sensitive(jwks.private_key_to_pem(private)),
        create_time=now,
        activate_time=activate_time,
    )


def _load(record: SigningKeyRecord) -> LoadedKey:
    private = jwks.private_key_from_pem(record.private_pem.reveal())
    public = private.public_key()
    return LoadedKey(
        kid=record.kid,
        alg=record.alg,
        activate_time=record.activate_time,
        private=private,
        public=public,
        jwk=jwks.public_jwk(public),
    )


class Keyring:
    """The broker's signing keys, refreshed from the store on change."""

    def __init__(
        self,
        store: SigningKeyStore,
        clock: Clock,
        *,
        alg: str,
        max_token_ttl: timedelta,
        leeway: timedelta = timedelta(seconds=60),
    ) -> None:
        if alg not in SIGNING:
            raise ValueError(f"signing_alg {alg!r} is not one of {', '.join(SIGNING)}")
        self._store = store
        self._clock = clock
        self.alg = alg
        self._retain = max_token_ttl + leeway
        self._lock = threading.Lock()
        self._keys: tuple[LoadedKey, ...] = ()
        self._by_kid: dict[str, LoadedKey] = {}
        self._refreshed_at: datetime | None = None

    def ensure_initial_key(self) -> None:
        """Create the first signing key if the store holds none, then load."""
        if not self._store.list_signing_keys():
            now = self._clock.now()
            self._store.add_signing_key(new_record(self.alg, now, now))
            _log.info("signing key created", alg=self.alg)
        self.refresh()

    def refresh(self) -> None:
        """Reload keys from the store; parse only the ones not seen before."""
        now = self._clock.now()
        records = sorted(self._store.list_signing_keys(), key=lambda r: (r.activate_time, r.kid))
        with self._lock:
            known = self._by_kid
            loaded = tuple(known.get(r.kid) or _load(r) for r in records)
            self._keys = loaded
            self._by_kid = {k.kid: k for k in loaded}
            self._refreshed_at = now

    def signing_key(self, now: datetime) -> LoadedKey:
        """The CURRENT key at ``now``."""
        current = None
        for key in self._keys:
            if key.activate_time <= now:
                current = key
        if current is None:
            raise Unavailable("no signing key is active yet")
        return current

    def _published(self, now: datetime) -> Sequence[LoadedKey]:
        keys = self._keys
        out = []
        for i, key in enumerate(keys):
            successor = next((k for k in keys[i + 1 :] if k.activate_time <= now), None)
            if successor is None or now < successor.activate_time + self._retain:
                out.append(key)
        return out

    def verification_key(self, kid: str, now: datetime) -> LoadedKey | None:
        """The published key with this kid at ``now``, if any.

        An unknown kid reloads the keys from the store first (at most once every
        ``UNKNOWN_KID_REFRESH``), so a key another replica just created verifies at once
        while made-up kids cannot turn every request into a store read.
        """
        key = self._by_kid.get(kid)
        refreshed = self._refreshed_at
        if key is None and (refreshed is None or now - refreshed >= UNKNOWN_KID_REFRESH):
            self.refresh()
            key = self._by_kid.get(kid)
        if key is None or key not in self._published(now):
            return None
        return key

    def jwks(self, now: datetime) -> dict[str, list[dict[str, str]]]:
        """The JWK Set of every published key (NEXT, CURRENT and PREVIOUS)."""
        return {"keys": [{**k.jwk, "kid": k.kid, "alg": k.alg, "use": "sig"} for k in self._published(now)]}

    def expired_kids(self, now: datetime) -> list[str]:
        """Kids no longer published at ``now``; the rotation job deletes them."""
        published = {k.kid for k in self._published(now)}
        return [k.kid for k in self._keys if k.kid not in published]

    def rotate(self, now: datetime, *, interval: timedelta, publish_lead: timedelta) -> KeyRotation:
        """Publish the successor of the CURRENT key and delete keys no longer published.

        When no NEXT key exists and the CURRENT key will have signed for ``interval`` within
        ``publish_lead``, a new key of the configured algorithm is stored to activate at
        ``max(current activation + interval, now + publish_lead)``: on time it keeps the
        cadence, after downtime it is still published a full lead before it signs.
        Reads the store first, so a NEXT key already stored by any replica is not added twice.
        """
        self.refresh()
        keys = self._keys
        current = next((k for k in reversed(keys) if k.activate_time <= now), None)
        pending = any(k.activate_time > now for k in keys)
        added: SigningKeyRecord | None = None
        if current is not None and not pending and now >= current.activate_time + interval - publish_lead:
            activate = max(current.activate_time + interval, now + publish_lead)
            added = new_record(self.alg, now, activate)
            self._store.add_signing_key(added)
        deleted = tuple(self.expired_kids(now))
        for kid in deleted:
            self._store.delete_signing_key(kid)
        if added is not None or deleted:
            self.refresh()
        return KeyRotation(
            added=None if added is None else added.kid,
            activate_time=None if added is None else added.activate_time,
            deleted=deleted,
        )

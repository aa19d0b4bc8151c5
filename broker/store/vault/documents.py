"""The Vault store's document layer: KV v2 documents under the prefix, written check-and-set.

Every data write names the version it replaces (``cas=0``: create only), so of two racing
writers exactly one wins (the other gets ``CasMismatch``) and re-reads. ``insert`` creates
a document unless a live one holds the path; ``replace`` overwrites a live one (at the
caller's etag, when given); a deletion is ``replace`` with a tombstone, so a writer
holding an old version cannot resurrect what was deleted. ``purge`` removes a document
with its metadata and every version, for records nobody compares against. ``scan`` and
``names`` list a folder; a name is ``encode_name`` of its id (the id itself when it is
letters, digits, '_' and '-', else '~' + its base64url), hashes are hex (``digest``).
``ensure_mount`` checks, or creates, the KV v2 mount.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import hvac
import hvac.exceptions

from ...core.errors import BrokerError, Conflict, FailedPrecondition, InvalidArgument, NotFound
from .transport import CasMismatch, Transport, VaultLocation

__all__ = [
    "MAX_ATTEMPTS",
    "TOMBSTONE",
    "Doc",
    "Documents",
    "contention",
    "decode_name",
    "digest",
    "encode_name",
]

#: How often a write that lost a compare-and-set re-reads and tries again.
MAX_ATTEMPTS = 32
#: The field of a tombstone: a deleted document, kept so its version goes on counting.
TOMBSTONE = "deleted"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
class Doc:
    """One KV document as read: its data ({} when unreadable) and its version."""

    data: dict[str, Any]
    version: int

    @property
    def live(self) -> bool:
        """False for a tombstone, or a latest version deleted outside the broker."""
        return bool(self.data) and not self.data.get(TOMBSTONE, False)


class Documents:
    """The KV v2 documents under one mount and prefix, read and written through ``transport``."""

    def __init__(self, transport: Transport, where: VaultLocation) -> None:
        self._transport = transport
        self._where = where

    def path(self, *parts: str) -> str:
        """The KV path of a document: the prefix, then ``parts``."""
        return "/".join((self._where.prefix, *parts))

    def shown(self, path: str) -> str:
        """A path as messages name it: with its mount."""
        return f"{self._where.mount}/{path}"

    def read(self, path: str) -> Doc | None:
        """The latest version, or None if the path was never written (or was purged)."""

        def op(client: hvac.Client) -> Doc | None:
            try:
                response = client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self._where.mount, raise_on_deleted_version=True
                )
            except hvac.exceptions.InvalidPath as exc:
                # A deleted latest version answers 404 with its metadata: keep its number.
                body = exc.json if isinstance(exc.json, dict) else {}
                meta = (body.get("data") or {}).get("metadata") or {}
                return Doc({}, int(meta["version"])) if meta.get("version") else None
            return Doc(dict(response["data"]["data"] or {}), int(response["data"]["metadata"]["version"]))

        return self._transport.call(f"read {self.shown(path)}", op)

    def write(self, path: str, data: Mapping[str, Any], *, cas: int) -> int:
        """Write a new version if the current one is ``cas`` (0: none); CasMismatch if not."""

        def op(client: hvac.Client) -> int:
            response = client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=dict(data), cas=cas, mount_point=self._where.mount
            )
            return int(response["data"]["version"])

        return self._transport.call(f"write {self.shown(path)}", op)

    def names(self, *folder: str) -> list[str]:
        """The names directly under a folder (sub-folders end with '/'); [] if there are none."""

        def op(client: hvac.Client) -> list[str]:
            try:
                response = client.secrets.kv.v2.list_secrets(path=self.path(*folder), mount_point=self._where.mount)
            except hvac.exceptions.InvalidPath:
                return []
            return list(response["data"]["keys"])

        return self._transport.call(f"list {self.shown(self.path(*folder))}", op)

    def purge(self, path: str) -> None:
        """Delete a document's metadata and every version; absent is fine."""
        self._transport.call(
            f"delete {self.shown(path)}",
            lambda client: client.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=self._where.mount
            ),
        )

    def keep_one_version(self, path: str) -> None:
        """Make Vault keep only the latest version of this document (no old sealed values in history)."""
        self._transport.call(
            f"configure {self.shown(path)}",
            lambda client: client.secrets.kv.v2.update_metadata(
                path=path, max_versions=1, mount_point=self._where.mount
            ),
        )

    def insert(self, path: str, data: dict[str, Any]) -> int | None:
        """Create the document unless a live one is there (cas=0, or over a tombstone at its
        version); returns the new version, or None if a live document holds the path."""
        cas = 0
        for _ in range(MAX_ATTEMPTS):
            try:
                return self.write(path, data, cas=cas)
            except CasMismatch:
                pass
            doc = self.read(path)
            if doc is not None and doc.live:
                return None
            cas = doc.version if doc is not None else 0
        raise contention(self.shown(path))

    def replace(self, path: str, what: str, expected_etag: str | None, data: dict[str, Any]) -> int:
        """Overwrite a live document with check-and-set (at the etag's version, when given);
        NotFound if there is none, Conflict on a stale etag. Returns the new version."""
        for _ in range(MAX_ATTEMPTS):
            doc = self.read(path)
            if doc is None or not doc.live:
                raise NotFound(f"{what} not found")
            if expected_etag is not None and str(doc.version) != expected_etag:
                raise Conflict(f"{what} was changed by someone else (etag mismatch); read it again")
            try:
                return self.write(path, data, cas=doc.version)
            except CasMismatch:
                continue
        raise contention(self.shown(path))

    def scan(self, folder: str, *, after: str) -> Iterator[Doc]:
        """Live documents of a folder whose decoded name is > ``after``, in name order."""
        names = sorted((decode_name(n), n) for n in self.names(folder) if not n.endswith("/"))
        for name, raw in names:
            if name > after:
                doc = self.read(self.path(folder, raw))
                if doc is not None and doc.live:
                    yield doc

    def ensure_mount(self) -> None:
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

        info = self._transport.call(f"inspect mount {mount}", inspect)
        if info is None:

            def enable(client: hvac.Client) -> bool:
                try:
                    client.sys.enable_secrets_engine(backend_type="kv", path=mount, options={"version": "2"})
                except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest):
                    return False
                return True

            if not self._transport.call(f"enable mount {mount}", enable):
                raise FailedPrecondition(f"vault has no KV v2 mount {mount!r} this token can use: {hint}")
            return
        if info.get("type") != "kv" or str((info.get("options") or {}).get("version")) != "2":
            kind = f"{info.get('type')} version {(info.get('options') or {}).get('version', '1')}"
            raise FailedPrecondition(f"vault mount {mount!r} is {kind}, not KV version 2: {hint}")


def contention(where: str) -> BrokerError:
    """What a write reports that lost its check-and-set ``MAX_ATTEMPTS`` times in a row."""
    return Conflict(f"too many concurrent writers on {where}; try again")


def encode_name(value: str) -> str:
    """A path segment for any string: itself when it is letters, digits, '_' and '-' only,
    else '~' + its base64url (no '%' or '/' for a proxy or Vault to decode on the way)."""
    if not value:
        raise InvalidArgument("an empty name cannot be stored")
    if all(c in _SAFE for c in value):
        return value
    return "~" + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_name(segment: str) -> str:
    """The string a path segment names (the inverse of ``encode_name``)."""
    if not segment.startswith("~"):
        return segment
    encoded = segment[1:]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def digest(value: str) -> str:
    """A document name for a value that is not to be spelled out in a path (hex SHA-256)."""
    return hashlib.sha256(value.encode()).hexdigest()

"""KEK rotation on the SQL store: blobs sealed under an older key (signing keys, secret values,
TOTP seeds), sealed again under the first.

Each blob carries the id of the key that sealed it (store/sealing.py), so the rows still
to move are found by the database itself; each is rewritten only if it is still the blob
that was read (a concurrent rewrap or rotation wins, the next run looks again).
"""

from __future__ import annotations

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from ..sealing import Sealer, secret_context, signing_key_context, totp_context
from .schema import people, secret_versions, signing_keys

__all__ = ["rewrap"]


def rewrap(conn: Connection, sealer: Sealer, *, limit: int) -> int:
    """Move up to ``limit`` sealed blobs to the sealing KEK; returns how many moved."""
    current = bytes.fromhex(sealer.kek_id)
    keys, versions = signing_keys.c, secret_versions.c
    moved = 0
    stale_keys = select(keys.kid, keys.sealed_private_key).where(func.substr(keys.sealed_private_key, 2, 8) != current)
    for kid, blob in conn.execute(stale_keys.limit(limit)).all():
        new = sealer.rewrap(blob, signing_key_context(kid))
        if new is not None:
            stmt = update(signing_keys).where(keys.kid == kid, keys.sealed_private_key == blob)
            moved += conn.execute(stmt.values(sealed_private_key=new)).rowcount
    stale_values = select(versions.secret_id, versions.version, versions.sealed_value).where(
        versions.sealed_value.is_not(None), func.substr(versions.sealed_value, 2, 8) != current
    )
    for secret_id, version, blob in conn.execute(stale_values.limit(max(0, limit - moved))).all():
        new = sealer.rewrap(blob, secret_context(secret_id, version))
        if new is not None:
            row = and_(versions.secret_id == secret_id, versions.version == version, versions.sealed_value == blob)
            moved += conn.execute(update(secret_versions).where(row).values(sealed_value=new)).rowcount
    seeds = people.c
    stale_seeds = select(seeds.username, seeds.sealed_totp_seed).where(
        seeds.sealed_totp_seed.is_not(None), func.substr(seeds.sealed_totp_seed, 2, 8) != current
    )
    for username, blob in conn.execute(stale_seeds.limit(max(0, limit - moved))).all():
        new = sealer.rewrap(blob, totp_context(username))
        if new is not None:
            row = and_(seeds.username == username, seeds.sealed_totp_seed == blob)
            moved += conn.execute(update(people).where(row).values(sealed_totp_seed=new)).rowcount
    return moved

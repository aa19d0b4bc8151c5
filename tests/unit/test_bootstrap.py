"""First start: the admin key file and the admin identity, also when replicas start together."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from broker.bootstrap import ADMIN_ID, ensure_admin
from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.identities import IdentityRegistry
from broker.core.principals import ADMIN_SCOPE
from broker.store.sql import SqlStore


def test_first_start_writes_a_0600_key_and_registers_it(store: SqlStore, clock: FakeClock, tmp_path: Path) -> None:
    """The key file is created once (0600) and a second call neither rewrites it nor adds a key."""
    registry = IdentityRegistry(store, clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1))
    path = tmp_path / "admin.key"
    assert ensure_admin(registry, path) is True
    first = path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_admin(registry, path) is False
    assert path.read_bytes() == first
    admin = registry.get(ADMIN_ID)
    assert admin.allowed_scopes == (ADMIN_SCOPE,)
    assert len(admin.public_keys) == 1


def test_replicas_starting_together_each_register_their_key(store: SqlStore, clock: FakeClock, tmp_path: Path) -> None:
    """Four replicas with their own data dirs race on one store: every admin key ends up registered."""
    registry = IdentityRegistry(store, clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1))
    paths = [tmp_path / f"r{n}" / "admin.key" for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(lambda p: ensure_admin(registry, p), paths))
    assert len(registry.get(ADMIN_ID).public_keys) == 4

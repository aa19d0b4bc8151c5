"""Unit fixtures: the real SQL store on a temporary SQLite file, and a fake clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.keys import Keyring
from broker.core.tokens import TokenCore
from broker.store.sealing import Sealer
from broker.store.sql import SqlStore

ISSUER = "https://broker.test"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    sql = SqlStore(f"sqlite:///{tmp_path / 'unit.db'}", Sealer(os.urandom(32)))
    sql.migrate()
    yield sql
    sql.close()


@pytest.fixture
def keyring(store: SqlStore, clock: FakeClock) -> Keyring:
    ring = Keyring(store, clock, alg="ES256", max_token_ttl=timedelta(hours=1))
    ring.ensure_initial_key()
    return ring


@pytest.fixture
def tokens(keyring: Keyring, clock: FakeClock, store: SqlStore) -> TokenCore:
    return TokenCore(keyring, clock, issuer=ISSUER, is_revoked=store.is_token_revoked)


@pytest.fixture
def auditor(store: SqlStore, clock: FakeClock) -> Auditor:
    return Auditor(store, clock)

"""Unit fixtures: the real SQL store on a temporary SQLite file, a fake clock, and the exchange's
registry, exchange and two workloads (tests/unit/exchange_kit.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.exchange import TokenExchange
from broker.core.identities import IdentityRegistry
from broker.core.keys import Keyring
from broker.core.liveness import LiveTokens
from broker.core.principals import ADMIN_SCOPE, Principal
from broker.core.secrets import READ_SCOPE, ROTATE_SCOPE, VERIFY_SCOPE, WRITE_SCOPE
from broker.core.tokens import TokenCore
from broker.store.sealing import Sealer
from broker.store.sql import SqlStore

ISSUER = "https://broker.test"
#: Who the unit tests act as: broker.admin and every secret scope, for every secret.
OPERATOR = Principal.broker(
    "tests", ADMIN_SCOPE, *(f"{scope}:*" for scope in (READ_SCOPE, VERIFY_SCOPE, ROTATE_SCOPE, WRITE_SCOPE))
)
#: A caller of a public RPC (the token exchange).
ANYONE = Principal.anonymous(request_id="unit-test")


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


from tests.unit.exchange_kit import AGENT, DOCS, SA, Workload, make_exchange  # noqa: E402 - needs ISSUER above


@pytest.fixture
def registry(store: SqlStore, clock: FakeClock, auditor: Auditor) -> IdentityRegistry:
    return IdentityRegistry(store, clock, auditor, max_token_ttl=timedelta(hours=1))


@pytest.fixture
def live(tokens: TokenCore, registry: IdentityRegistry) -> LiveTokens:
    return LiveTokens(tokens, registry.lookup)


@pytest.fixture
def exchange(
    tokens: TokenCore, registry: IdentityRegistry, auditor: Auditor, store: SqlStore, clock: FakeClock
) -> TokenExchange:
    return make_exchange(tokens, registry, auditor, store, clock)


@pytest.fixture
def reports(registry: IdentityRegistry, clock: FakeClock) -> Workload:
    return Workload(
        registry, clock, "reports", SA, allowed_scopes=("docs.read", "docs.write"), allowed_audiences=(DOCS,)
    )


@pytest.fixture
def agent(registry: IdentityRegistry, clock: FakeClock) -> Workload:
    return Workload(
        registry,
        clock,
        "summarizer",
        AGENT,
        delegable_scopes=("docs.read",),
        allowed_audiences=(DOCS,),
        max_token_ttl=timedelta(minutes=10),
    )

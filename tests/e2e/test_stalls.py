"""Nobody can stall the broker for everyone else (the hardening issue, items 3, 4 and 22): a
black-holed JWKS URL under a flood of unknown kids, a flood of unbound subjects with 100,000
identities in the store, and a hung Vault, each against a real `broker serve`. Floods are
bounded in rate and time and aim at 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa

from broker.store.sql.schema import identities, identity_bindings
from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc, issuer_pb2, issuer_pb2_grpc, token_pb2, token_pb2_grpc
from tests.e2e.harness import BROKER, TOKEN_TYPE_JWT, BrokerProcess, Metadata, wait_for
from tests.security.issuer_kit import BROKER_AUDIENCE, TestIssuer, jwks_server, kubernetes_claims, kubernetes_token
from tests.store import openbao

pytestmark = pytest.mark.e2e

CLUSTER = "https://cluster.stall.example"


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def _timed(call: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


class Flood:
    """A background thread calling ``call`` at about ``rate`` a second until stopped (bounded)."""

    def __init__(self, call: Callable[[], object], rate: float, limit: float = 30.0) -> None:
        self._call, self._pause, self._limit = call, 1 / rate, limit
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self._limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(grpc.RpcError):
                self._call()
            self.sent += 1
            self._stop.wait(self._pause)

    def __enter__(self) -> Flood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def _exchange_external(channel: grpc.Channel, token: str) -> token_pb2.ExchangeTokenResponse:
    request = token_pb2.ExchangeTokenRequest(subject_token=token, subject_token_type=TOKEN_TYPE_JWT)
    reply: token_pb2.ExchangeTokenResponse = token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(request, timeout=30)
    return reply


def _trust(channel: grpc.Channel, admin: Metadata, *, jwks_url: str = "", jwks_json: str = "") -> None:
    issuer = issuer_pb2.TrustedIssuer(
        issuer=CLUSTER, algorithms=["RS256"], audience=BROKER_AUDIENCE, jwks_url=jwks_url, jwks_json=jwks_json
    )
    issuer_pb2_grpc.IssuerServiceStub(channel).CreateIssuer(
        issuer_pb2.CreateIssuerRequest(issuer=issuer), metadata=admin, timeout=30
    )


def _bind(channel: grpc.Channel, admin: Metadata, ident: str, subject: str) -> None:
    identity = identity_pb2.Identity(
        id=ident,
        kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        allowed_scopes=["x.read"],
        bindings=[identity_pb2.Binding(issuer=CLUSTER, subject=subject)],
    )
    identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
        identity_pb2.CreateIdentityRequest(identity=identity), metadata=admin, timeout=30
    )


# item 3: a black-holed JWKS URL -------------------------------------------------------------------------------
def test_a_black_holed_jwks_url_under_unknown_kid_traffic_stalls_no_one_else(broker_proc: BrokerProcess) -> None:
    """The issuer's JWKS URL answers after 8 s; anonymous tokens naming unknown kids flood in; an unrelated
    workload's exchanges and the admin's calls keep their latency (before: 4-5 s each)."""
    cluster = TestIssuer(CLUSTER)
    with jwks_server(cluster.jwks_json()) as server, broker_proc.channel() as channel:
        admin = broker_proc.admin_metadata()
        _trust(channel, admin, jwks_url=server.url)
        server.delay = 8.0  # from now on every fetch hangs for 8 s
        workload = keys.load_private_key(broker_proc.admin_key)
        identities = identity_pb2_grpc.IdentityServiceStub(channel)

        def unrelated() -> None:
            broker_proc.exchange("admin", workload)
            identities.ListIdentities(identity_pb2.ListIdentitiesRequest(page_size=5), metadata=admin, timeout=30)

        alone = _timed(unrelated, 40)

        stranger = TestIssuer(CLUSTER)

        def unknown_kid() -> None:
            claims = kubernetes_claims(CLUSTER, namespace="x", service_account="y")
            _exchange_external(channel, stranger.sign(claims, {"alg": "RS256", "kid": f"made-up-{uuid.uuid4().hex}"}))

        floods = [Flood(unknown_kid, rate=25, limit=20) for _ in range(4)]
        for flood in floods:
            flood.__enter__()
        try:
            wait_for(lambda: all(f.sent >= 5 for f in floods), 15, "the floods to be running")
            during = _timed(unrelated, 80)
        finally:
            for flood in floods:
                flood.__exit__()
    assert sum(f.sent for f in floods) >= 40, "the flood ran"
    assert max(during) < 1.0, f"an unrelated call waited {max(during):.2f}s"
    assert _p99(during) <= max(5 * _p99(alone), 0.1), (alone, during)


# item 4: 100,000 identities and a flood of unbound subjects -------------------------------------------------------
def _fill(database: Path, count: int) -> None:
    """Write ``count`` identities, each bound to its own subject of CLUSTER, straight into the database."""
    engine = sa.create_engine(f"sqlite:///{database}")
    rows, bound = [], []
    for n in range(count):
        ident = f"bulk-{n:06d}"
        rows.append(
            {
                "id": ident, "kind": "service_account", "tenant": "", "display_name": "", "disabled": False,
                "max_token_ttl_seconds": None, "allowed_scopes": ["x.read"], "allowed_audiences": [],
                "bindings": [{"issuer": CLUSTER, "subject": f"system:serviceaccount:bulk:{n}", "required_claims": {}}],
                "public_keys": [], "delegable_scopes": [], "create_time": None, "update_time": None,
                "revision": 1, "tokens_valid_from": None,
            }
        )  # fmt: skip
        bound.append({"issuer": CLUSTER, "subject": f"system:serviceaccount:bulk:{n}", "identity_id": ident})
    with engine.begin() as conn:
        conn.execute(identities.insert(), rows)
        conn.execute(identity_bindings.insert(), bound)
    engine.dispose()


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker whose store holds 100,000 bound identities (written while it was stopped)."""
    proc = BrokerProcess(tmp_path / "data")
    proc.start()
    proc.stop()
    _fill(proc.data_dir / "broker.db", 100_000)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_unbound_subjects_cost_an_indexed_read_not_a_scan_of_100000_identities(crowded: BrokerProcess) -> None:
    """The first bound exchange after start takes well under a second; 70 unbound subjects a second leave
    bound exchanges' median within 2x of their median alone."""
    cluster = TestIssuer(CLUSTER)
    with crowded.channel() as channel:
        admin = crowded.admin_metadata()
        _trust(channel, admin, jwks_json=cluster.jwks_json())

        def bound() -> None:
            _exchange_external(channel, kubernetes_token(cluster, namespace="bulk", service_account="77"))

        started = time.perf_counter()
        bound()
        first = time.perf_counter() - started
        alone = _timed(bound, 100)

        def unbound() -> None:
            _exchange_external(channel, kubernetes_token(cluster, namespace="nobody", service_account=uuid.uuid4().hex))

        with Flood(unbound, rate=70, limit=20) as flood:
            wait_for(lambda: flood.sent >= 20, 15, "the flood to be running")
            before = flood.sent
            during = _timed(bound, 100)
            overlap = flood.sent - before
    assert first < 1.0, f"the first bound exchange took {first:.2f}s"
    assert overlap >= 5, f"only {overlap} unbound exchanges were sent while the bound ones were timed"
    # The median, not the p99: on a shared two-core machine the slowest 1% is other tests' noise, while a
    # scan of 100,000 identities per unbound subject would move every bound exchange.
    assert statistics.median(during) <= 2 * statistics.median(alone) + 0.005, (
        statistics.median(alone),
        statistics.median(during),
    )


# item 22: a hung Vault ----------------------------------------------------------------------------------------------
def test_a_hung_vault_reads_as_unavailable_before_the_clis_deadline(tmp_path: Path) -> None:
    """Vault accepts connections but answers nothing: the CLI gets UNAVAILABLE (the store's 4 s timeout),
    not its own DEADLINE_EXCEEDED (10 s); after a resume the same broker serves again."""
    server = openbao.start_for_pytest()
    proc = BrokerProcess(
        tmp_path / "data",
        env={"BROKER_STORE_URL": server.url(server.fresh_prefix()), "BROKER_VAULT_TOKEN": server.root_token},
    )
    try:
        proc.start()
        time.sleep(2.1)  # the admin identity is no longer in the broker's 2 s cache
        server.pause()
        try:
            started = time.monotonic()
            result = subprocess.run(
                [*BROKER, "admin", "identity", "list"], env=proc.env(), capture_output=True, text=True, timeout=30,
                check=False,
            )  # fmt: skip
            elapsed = time.monotonic() - started
        finally:
            server.resume()
        assert result.returncode == 1
        assert result.stderr.strip() == "broker: UNAVAILABLE: store unavailable", result.stderr
        assert elapsed < 9.5
        assert proc.cli("admin", "identity", "list").returncode == 0
    finally:
        proc.stop()
        server.stop()


def test_an_rpc_that_outlasts_the_servers_deadline_is_deadline_exceeded(tmp_path: Path) -> None:
    """BROKER_RPC_TIMEOUT=1s and a hung Vault: the call ends at the broker's own deadline, before
    the store's 4 s timeout would, as DEADLINE_EXCEEDED saying so."""
    server = openbao.start_for_pytest()
    env = {
        "BROKER_STORE_URL": server.url(server.fresh_prefix()),
        "BROKER_VAULT_TOKEN": server.root_token,
        "BROKER_RPC_TIMEOUT": "1s",
        "BROKER_IDENTITY_CACHE_TTL": "1ms",  # every exchange reads the store
    }
    proc = BrokerProcess(tmp_path / "data", env=env)
    try:
        proc.start()
        server.pause()
        try:
            started = time.monotonic()
            result = proc.cli("admin", "identity", "list", check=False)
            elapsed = time.monotonic() - started
        finally:
            server.resume()
        assert result.stderr.strip() == "broker: DEADLINE_EXCEEDED: the broker could not answer in time", result.stderr
        assert elapsed < 3.5
    finally:
        proc.stop()
        server.stop()

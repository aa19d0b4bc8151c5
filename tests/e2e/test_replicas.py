"""Two `broker serve` replicas on one store: one PostgreSQL database, or one OpenBao prefix.

Every replica test runs once per backend. The replicas have their own data directories
and ports but share the store, BROKER_KEK (they must open each other's sealed keys) and
BROKER_ISSUER (tokens name one issuer whichever replica minted them). The last test
shows a replica riding out a sealed Vault.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import duration_pb2

from broker_client import keys
from broker_client.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from tests.e2e.harness import TOKEN_TYPE_JWT, BrokerProcess, bearer, wait_for
from tests.store import openbao, postgres

pytestmark = pytest.mark.e2e

ISSUER = "https://broker.replicas.test"
#: Scheduler settings of the fail-over test: a 200 ms tick and a 2 s leader lease.
LEASE_TTL = timedelta(seconds=2)
FAST = {"BROKER_SCHEDULER_TICK": "200ms", "BROKER_LEADER_LEASE_TTL": "2s"}
#: How late after the lease's expiry the takeover may be seen (a tick, a request, a loaded machine).
TAKEOVER_SLACK = timedelta(seconds=2)
ROTATED = secret_pb2.SECRET_EVENT_TYPE_ROTATED
CURRENT = secret_pb2.SECRET_VERSION_STATE_CURRENT
NewStore = Callable[[], dict[str, str]]


@dataclass
class Replicas:
    """Replica A (started first, so the first leader) and replica B, on one store."""

    a: BrokerProcess
    b: BrokerProcess
    #: A credential the store was opened with (the Vault token), '' for Postgres.
    credential: str

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """This module's PostgreSQL server (fails the tests if it cannot start)."""
    server = postgres.start_for_pytest()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def openbao_server() -> Iterator[openbao.OpenBaoServer]:
    """This module's OpenBao dev server (fails the tests if it cannot start)."""
    server = openbao.start_for_pytest()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["postgres", "openbao"])
def new_store(request: pytest.FixtureRequest) -> NewStore:
    """Makes the environment of a fresh, empty store: a new database, or a new Vault prefix."""
    if request.param == "postgres":
        pg: postgres.PostgresServer = request.getfixturevalue("postgres_server")
        return lambda: {"BROKER_STORE_URL": pg.create_database()}
    bao: openbao.OpenBaoServer = request.getfixturevalue("openbao_server")
    return lambda: {"BROKER_STORE_URL": bao.url(bao.fresh_prefix()), "BROKER_VAULT_TOKEN": bao.root_token}


def start_replicas(root: Path, store: dict[str, str], **extra: str) -> Replicas:
    """Start A, then B (B adds its own admin key to the admin identity A created)."""
    kek = base64.b64encode(secrets.token_bytes(32)).decode()
    env = {**store, "BROKER_KEK": kek, "BROKER_ISSUER": ISSUER, **extra}
    a = BrokerProcess(root / "a" / "data", env=env)
    b = BrokerProcess(root / "b" / "data", env=env)
    a.start()
    try:
        b.start()
    except BaseException:
        a.stop()
        raise
    return Replicas(a, b, store.get("BROKER_VAULT_TOKEN", ""))


@pytest.fixture(scope="module")
def replicas(new_store: NewStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    """One pair for the tests that do not disturb it (default scheduler settings)."""
    pair = start_replicas(tmp_path_factory.mktemp("replicas"), new_store())
    try:
        yield pair
    finally:
        pair.stop()


def rpc_code(call: Callable[[], Any]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    code: grpc.StatusCode = info.value.code()
    return code


def log_lines(proc: BrokerProcess, event: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``proc`` whose event is ``event``."""
    found = []
    for line in proc.log().splitlines():
        try:
            record = json.loads(line) if line.startswith("{") else None
        except ValueError:  # a line still being written
            continue
        if record is not None and record.get("event") == event:
            found.append(record)
    return found


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(seconds=value))
    return d


def create_secret(proc: BrokerProcess, secret_id: str, *, interval: float | None, grace: float) -> secret_pb2.Secret:
    rotation = secret_pb2.RotationPolicy(grace_period=seconds(grace))
    if interval is not None:
        rotation.interval.CopyFrom(seconds(interval))
    request = secret_pb2.CreateSecretRequest(
        secret_id=secret_id,
        secret=secret_pb2.Secret(generator=secret_pb2.SECRET_GENERATOR_API_KEY, rotation=rotation),
    )
    with proc.channel() as channel:
        reply = secret_pb2_grpc.SecretServiceStub(channel).CreateSecret(
            request, metadata=proc.admin_metadata(), timeout=10
        )
    return reply.secret


def get_secret(proc: BrokerProcess, secret_id: str) -> secret_pb2.Secret:
    with proc.channel() as channel:
        reply = secret_pb2_grpc.SecretServiceStub(channel).GetSecret(
            secret_pb2.GetSecretRequest(secret_id=secret_id), metadata=proc.admin_metadata(), timeout=10
        )
    return reply.secret


def list_versions(proc: BrokerProcess, secret_id: str) -> list[secret_pb2.SecretVersion]:
    with proc.channel() as channel:
        reply = secret_pb2_grpc.SecretServiceStub(channel).ListSecretVersions(
            secret_pb2.ListSecretVersionsRequest(secret_id=secret_id, page_size=1000),
            metadata=proc.admin_metadata(),
            timeout=10,
        )
    return list(reply.versions)


class Watch:
    """A WatchSecret stream on one replica, consumed on a thread."""

    def __init__(self, proc: BrokerProcess, secret_id: str) -> None:
        self.channel = proc.channel()
        stub = secret_pb2_grpc.SecretServiceStub(self.channel)
        self.call = stub.WatchSecret(
            secret_pb2.WatchSecretRequest(secret_id=secret_id), metadata=proc.admin_metadata(), timeout=120
        )
        self.call.initial_metadata()  # returns once the server has subscribed the stream
        self.events: list[secret_pb2.WatchSecretResponse] = []
        self.thread = threading.Thread(target=self._consume, daemon=True)
        self.thread.start()

    def _consume(self) -> None:
        try:
            for event in self.call:
                self.events.append(event)
        except grpc.RpcError:
            return

    def rotated(self) -> list[int]:
        return [e.version for e in self.events if e.event_type == ROTATED]

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(10)
        self.channel.close()


# tokens and identities ---------------------------------------------------------------------------


def test_a_token_minted_by_one_replica_verifies_with_the_other_replicas_jwks(replicas: Replicas) -> None:
    """A's admin token checks out against B's JWKS alone and B's admin API takes it; a forgery is refused."""
    token = replicas.a.admin_token()
    jwks = jwt.PyJWKClient(f"{replicas.b.http_url}/.well-known/jwks.json")
    claims = jwt.decode(
        token, jwks.get_signing_key_from_jwt(token).key, algorithms=["ES256"], audience=ISSUER, issuer=ISSUER
    )
    assert claims["sub"] == "admin" and claims["scope"] == "broker.admin"
    assert replicas.a.http_json("/.well-known/jwks.json") == replicas.b.http_json("/.well-known/jwks.json")

    with replicas.b.channel() as channel:
        identities = identity_pb2_grpc.IdentityServiceStub(channel)
        listed = identities.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=bearer(token), timeout=10)
        assert "admin" in [i.id for i in listed.identities]
        header = jwt.get_unverified_header(token)
        forged = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers=header)
        code = rpc_code(
            lambda: identities.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=bearer(forged), timeout=10)
        )
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_replicas_appending_at_once_keep_one_audit_chain(replicas: Replicas) -> None:
    """Exchanges through A and B at the same time: one gapless chain with events of both, intact."""
    pairs = [(proc, keys.load_private_key(proc.admin_key)) for proc in (replicas.a, replicas.b)]
    threads = [
        threading.Thread(target=lambda p=proc, k=key: [p.exchange("admin", k) for _ in range(15)])
        for proc, key in pairs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    verified = replicas.b.cli("admin", "audit", "verify")
    assert "chain intact" in verified.stdout, verified.stdout
    writers = {e.replica for e in replicas.a.audit_events("action=token.exchange")}
    assert len(writers) == 2, writers


def test_an_identity_created_through_one_replica_is_usable_through_the_other_at_once(replicas: Replicas) -> None:
    """Created through A, the identity exchanges through B at once; one assertion is single-use on both."""
    private = ec.generate_private_key(ec.SECP256R1())
    identity = identity_pb2.Identity(
        id="replicated",
        kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        allowed_scopes=["orders.read"],
        public_keys=[identity_pb2.PublicKey(jwk_json=json.dumps(keys.public_jwk(private)))],
    )
    with replicas.a.channel() as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
            identity_pb2.CreateIdentityRequest(identity=identity), metadata=replicas.a.admin_metadata(), timeout=10
        )
    assert replicas.b.exchange("replicated", private, scopes=["orders.read"]).scopes == ["orders.read"]

    assertion = keys.make_assertion("replicated", private, ISSUER)

    def exchange(proc: BrokerProcess) -> token_pb2.ExchangeTokenResponse:
        with proc.channel() as channel:
            request = token_pb2.ExchangeTokenRequest(subject_token=assertion, subject_token_type=TOKEN_TYPE_JWT)
            reply: token_pb2.ExchangeTokenResponse = token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(
                request, timeout=10
            )
            return reply

    assert exchange(replicas.a).access_token
    assert rpc_code(lambda: exchange(replicas.b)) == grpc.StatusCode.UNAUTHENTICATED
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert rpc_code(lambda: replicas.b.exchange("never-created", stranger)) == grpc.StatusCode.UNAUTHENTICATED


def test_watch_secret_on_one_replica_reports_rotations_done_through_the_other(replicas: Replicas) -> None:
    """Two rotations through A arrive, in order and once each, on a WatchSecret stream held on B."""
    create_secret(replicas.a, "shared-key", interval=None, grace=60)
    watch = Watch(replicas.b, "shared-key")
    try:
        with replicas.a.channel() as channel:
            stub = secret_pb2_grpc.SecretServiceStub(channel)
            for _ in range(2):
                stub.RotateSecret(
                    secret_pb2.RotateSecretRequest(secret_id="shared-key"),
                    metadata=replicas.a.admin_metadata(),
                    timeout=10,
                )
        wait_for(lambda: len(watch.rotated()) >= 2, 15, "B's stream to report both rotations")
        time.sleep(0.5)  # a duplicate would arrive with the next poll
        assert watch.rotated() == [2, 3]
        assert all(e.secret_id == "shared-key" for e in watch.events)
    finally:
        watch.close()


def test_the_banner_names_the_store_and_no_replica_prints_a_credential(replicas: Replicas) -> None:
    """Both banners show the shared store's address; the Vault token (or any password) is in no output."""
    url = replicas.a.env()["BROKER_STORE_URL"]
    for proc in (replicas.a, replicas.b):
        output = proc.log()
        assert f"  store      {url}" in output
        if replicas.credential:
            assert replicas.credential not in output


# the scheduler: one leader, fail-over, rotations ----------------------------------------------------


def test_one_replica_leads_and_a_killed_leader_is_replaced_within_the_lease_missing_and_doubling_nothing(
    new_store: NewStore, tmp_path: Path
) -> None:
    """Only A rotates while it leads; kill -9 A and B takes the lease (higher fencing token) within the
    lease TTL; every due time is served exactly once (versions consecutive, none early, one catch-up),
    and B's WatchSecret stream reports every rotation, A's and its own, once each."""
    pair = start_replicas(tmp_path, new_store(), **FAST)
    watch: Watch | None = None
    try:
        a, b = pair.a, pair.b
        created = create_secret(a, "heartbeat", interval=1, grace=1)
        first_due = created.next_rotation_time.ToDatetime(tzinfo=UTC)
        watch = Watch(b, "heartbeat")
        wait_for(lambda: len(rotations_in_log(a)) >= 2, 15, "two rotations under A")

        assert log_lines(a, "leader lease acquired")
        assert log_lines(b, "leader lease acquired") == []
        assert rotations_in_log(b) == []
        token_a = log_lines(a, "leader lease acquired")[-1]["fencing_token"]

        assert a.proc is not None
        killed_at = datetime.now(UTC)
        os.kill(a.proc.pid, signal.SIGKILL)
        a.stop()
        wait_for(lambda: log_lines(b, "leader lease acquired") != [], 15, "B to take the lease")
        taken = log_lines(b, "leader lease acquired")[0]
        taken_at = datetime.fromisoformat(taken["timestamp"])
        assert taken["fencing_token"] > token_a
        assert taken_at - killed_at < LEASE_TTL + TAKEOVER_SLACK, (killed_at, taken_at)

        at_takeover = get_secret(b, "heartbeat").current_version
        wait_for(lambda: get_secret(b, "heartbeat").current_version >= at_takeover + 2, 15, "two rotations under B")
        final = get_secret(b, "heartbeat")  # read first: the lists below may hold newer versions
        last = final.current_version
        listed = sorted(list_versions(b, "heartbeat"), key=lambda v: v.version)
        assert [v.version for v in listed] == list(range(1, len(listed) + 1))
        assert [v.state for v in listed].count(CURRENT) == 1
        due = first_due
        for v in listed[1:last]:
            made = v.create_time.ToDatetime(tzinfo=UTC)
            assert made >= due, f"version {v.version} made at {made}, before its due time {due}"
            due = due + timedelta(seconds=1) if due + timedelta(seconds=1) > made else made + timedelta(seconds=1)
        assert final.next_rotation_time.ToDatetime(tzinfo=UTC) == due
        assert due > datetime.now(UTC) - timedelta(seconds=2), "the schedule stalled"

        by_a, by_b = rotations_in_log(a), rotations_in_log(b)
        assert len(set(by_a + by_b)) == len(by_a + by_b), (by_a, by_b)
        assert by_a and by_b and max(by_a) < min(by_b)
        # A may die between committing a rotation and logging it: at most that one goes unlogged.
        unlogged = set(range(2, last + 1)) - set(by_a + by_b)
        assert len(unlogged) <= 1 and all(v < min(by_b) for v in unlogged), (by_a, by_b)

        stream = watch
        wait_for(lambda: len(stream.rotated()) >= last - 1, 10, "B's stream to catch up")
        assert stream.rotated()[: last - 1] == list(range(2, last + 1))
        assert len(set(stream.rotated())) == len(stream.rotated())
    finally:
        if watch is not None:
            watch.close()
        pair.stop()


def rotations_in_log(proc: BrokerProcess) -> list[int]:
    """Versions this replica's scheduler rotated to (its ``secret.rotate`` audit lines)."""
    return [r["version"] for r in log_lines(proc, "audit") if r.get("action") == "secret.rotate"]


# a Vault outage -------------------------------------------------------------------------------------


def readyz(proc: BrokerProcess) -> int:
    """The status /readyz answers with."""
    try:
        with urllib.request.urlopen(f"{proc.http_url}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def readyz_body(proc: BrokerProcess) -> object:
    """The JSON document /readyz answers with."""
    try:
        with urllib.request.urlopen(f"{proc.http_url}/readyz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def test_a_sealed_vault_makes_the_daemon_unavailable_and_it_recovers_by_itself(tmp_path: Path) -> None:
    """Sealed: /readyz 503 and calls UNAVAILABLE saying so, nothing half-written; unsealed: the same
    process serves again without a restart."""
    server = openbao.start_for_pytest()
    proc = BrokerProcess(
        tmp_path / "data",
        env={"BROKER_STORE_URL": server.url(server.fresh_prefix()), "BROKER_VAULT_TOKEN": server.root_token},
    )
    try:
        proc.start()
        admin = proc.admin_metadata()
        private = ec.generate_private_key(ec.SECP256R1())
        during = identity_pb2.Identity(
            id="during-outage",
            kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
            public_keys=[identity_pb2.PublicKey(jwk_json=json.dumps(keys.public_jwk(private)))],
        )
        with proc.channel() as channel:
            identities = identity_pb2_grpc.IdentityServiceStub(channel)
            server.seal()
            try:
                assert readyz(proc) == 503
                body = readyz_body(proc)
                assert body == {"status": "unavailable", "reason": "store unavailable"}, body  # never where
                with pytest.raises(grpc.RpcError) as failed:
                    identities.CreateIdentity(
                        identity_pb2.CreateIdentityRequest(identity=during), metadata=admin, timeout=10
                    )
                assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
                assert failed.value.details() == "store unavailable"  # where and why: the log only
                assert "is sealed" in proc.log() and server.address not in (failed.value.details() or "")
                admin_key = keys.load_private_key(proc.admin_key)
                assert rpc_code(lambda: proc.exchange("admin", admin_key)) == grpc.StatusCode.UNAVAILABLE
            finally:
                server.unseal()
            wait_for(lambda: readyz(proc) == 200, 15, "/readyz to recover")
            assert (
                rpc_code(
                    lambda: identities.GetIdentity(
                        identity_pb2.GetIdentityRequest(id="during-outage"), metadata=admin, timeout=10
                    )
                )
                == grpc.StatusCode.NOT_FOUND
            )
            identities.CreateIdentity(identity_pb2.CreateIdentityRequest(identity=during), metadata=admin, timeout=10)
        assert proc.exchange("during-outage", private).access_token
        assert server.root_token not in proc.log()
    finally:
        proc.stop()
        server.stop()


def test_a_login_its_refresh_family_and_its_throttle_are_the_stores_not_a_replicas(replicas: Replicas) -> None:
    """Log in on A, refresh on B, reuse the first refresh token on A: the family dies everywhere.
    Failed logins counted on A make B back off; disabling the person on A ends their token on B."""
    a, b = replicas.a, replicas.b
    person = f"p{secrets.token_hex(3)}"
    with a.channel() as ca, b.channel() as cb:
        users_a, auth_a, auth_b = (
            auth_pb2_grpc.UserServiceStub(ca), auth_pb2_grpc.AuthServiceStub(ca), auth_pb2_grpc.AuthServiceStub(cb)
        )  # fmt: skip
        user = auth_pb2.User(username=person, allowed_scopes=["docs.read"])
        request = auth_pb2.CreateUserRequest(user=user, password="shared by the replicas")
        users_a.CreateUser(request, metadata=a.admin_metadata())
        login = auth_pb2.LoginRequest(username=person, password="shared by the replicas")
        first = auth_a.Login(login)
        second = auth_b.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))
        assert _active(b, second.access_token)
        with pytest.raises(grpc.RpcError) as reuse:
            auth_a.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))
        assert reuse.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert not _active(b, second.access_token) and not _active(a, second.access_token)

        wrong = auth_pb2.LoginRequest(username=person, password="not the shared one")
        for _ in range(5):
            with pytest.raises(grpc.RpcError):
                auth_a.Login(wrong)
        with pytest.raises(grpc.RpcError) as waits:
            auth_b.Login(wrong)
        assert waits.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        time.sleep(1.1)  # the account's first backoff is one second
        third = auth_b.Login(login)
        update = auth_pb2.UpdateUserRequest(user=auth_pb2.User(username=person, disabled=True))
        update.update_mask.paths.append("disabled")
        users_a.UpdateUser(update, metadata=a.admin_metadata())
    wait_for(lambda: not _active(b, third.access_token), 10, "B to see the person disabled (its cache: 2 s)")


def _active(proc: BrokerProcess, token: str) -> bool:
    with proc.channel() as channel:
        reply = token_pb2_grpc.TokenServiceStub(channel).IntrospectToken(
            token_pb2.IntrospectTokenRequest(token=token), metadata=proc.admin_metadata()
        )
    return bool(reply.active)

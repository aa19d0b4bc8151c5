"""Rotating secrets on a real `broker serve`: scopes, grace, WatchSecret, status codes, SIGKILL."""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import duration_pb2

from broker.core.generators import is_api_key, new_api_key
from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc, secret_pb2, secret_pb2_grpc
from tests.e2e.harness import BROKER, BrokerProcess, Metadata, bearer, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
FAST = {"BROKER_SCHEDULER_TICK": "200ms", "BROKER_LEADER_LEASE_TTL": "1s"}
CURRENT = secret_pb2.SECRET_VERSION_STATE_CURRENT
PREVIOUS = secret_pb2.SECRET_VERSION_STATE_PREVIOUS
EXPIRED = secret_pb2.SECRET_VERSION_STATE_EXPIRED


@pytest.fixture(scope="module")
def fast_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker whose scheduler ticks every 200 ms, for the whole module."""
    proc = BrokerProcess(tmp_path_factory.mktemp("secrets") / "data", env=FAST)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(seconds=value))
    return d


def stub(proc: BrokerProcess) -> secret_pb2_grpc.SecretServiceStub:
    return secret_pb2_grpc.SecretServiceStub(proc.channel())


def create(
    proc: BrokerProcess,
    secret_id: str,
    *,
    interval: float | None,
    grace: float,
    generator: secret_pb2.SecretGenerator.ValueType = secret_pb2.SECRET_GENERATOR_API_KEY,
    value: bytes = b"",
) -> secret_pb2.Secret:
    rotation = secret_pb2.RotationPolicy(grace_period=seconds(grace))
    if interval is not None:
        rotation.interval.CopyFrom(seconds(interval))
    request = secret_pb2.CreateSecretRequest(
        secret_id=secret_id, secret=secret_pb2.Secret(generator=generator, rotation=rotation), initial_value=value
    )
    reply: secret_pb2.CreateSecretResponse = stub(proc).CreateSecret(
        request, metadata=proc.admin_metadata(), timeout=10
    )
    return reply.secret


def workload(proc: BrokerProcess, identity_id: str, *scopes: str) -> Metadata:
    """Register a workload allowed ``scopes`` (over gRPC) and return metadata with a token for all of them."""
    private = ec.generate_private_key(ec.SECP256R1())
    identity = identity_pb2.Identity(
        id=identity_id,
        kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        allowed_scopes=scopes,
        public_keys=[identity_pb2.PublicKey(jwk_json=json.dumps(keys.public_jwk(private)))],
    )
    with proc.channel() as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
            identity_pb2.CreateIdentityRequest(identity=identity), metadata=proc.admin_metadata(), timeout=10
        )
    return bearer(proc.exchange(identity_id, private, scopes=scopes).access_token)


def code_of(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details() or ""


def versions(proc: BrokerProcess, secret_id: str, md: Metadata) -> list[secret_pb2.SecretVersion]:
    request = secret_pb2.ListSecretVersionsRequest(secret_id=secret_id, page_size=1000)
    reply = stub(proc).ListSecretVersions(request, metadata=md, timeout=10)
    assert not reply.next_page_token
    return list(reply.versions)


class Watch:
    """A WatchSecret stream consumed on a thread; ``start`` returns once the server subscribed it."""

    def __init__(self, proc: BrokerProcess, secret_id: str, md: Metadata) -> None:
        self.call = stub(proc).WatchSecret(secret_pb2.WatchSecretRequest(secret_id=secret_id), metadata=md, timeout=60)
        self.events: list[secret_pb2.WatchSecretResponse] = []
        self.error: grpc.RpcError | None = None
        self.after_seq = int(dict(self.call.initial_metadata())["broker-watch-after-seq"])
        self.thread = threading.Thread(target=self._consume, daemon=True)
        self.thread.start()

    def _consume(self) -> None:
        try:
            self.events.extend(self.call)
        except grpc.RpcError as exc:
            self.error = exc

    def kinds(self) -> list[tuple[int, int]]:
        return [(e.event_type, e.version) for e in self.events]


# the README ------------------------------------------------------------------------------------


def test_the_readme_section_rotating_a_secret_works_as_written(fast_broker: BrokerProcess, tmp_path: Path) -> None:
    """The sh block under "Rotating a secret" runs unchanged, and step 5 prints what the README says."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Rotating a secret\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    env = {**fast_broker.env(), "PATH": f"{Path(BROKER[0]).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '{"valid": true, "version": "1", "state": "SECRET_VERSION_STATE_PREVIOUS"}' in result.stdout
    old_key = (tmp_path / "old.key").read_bytes()
    assert is_api_key(old_key) and len(old_key) == 40
    assert old_key.decode() not in result.stdout + result.stderr + fast_broker.log()
    admin = fast_broker.admin_metadata()
    assert [v.state for v in versions(fast_broker, "partner-api-key", admin)] == [CURRENT, PREVIOUS]
    assert [v.state for v in versions(fast_broker, "ledger-db", admin)] == [CURRENT, PREVIOUS]
    assert b"second-password" not in fast_broker.log().encode()


# scopes and status codes ----------------------------------------------------------------------


def test_reading_needs_the_read_scope_of_that_secret(fast_broker: BrokerProcess) -> None:
    """read:alpha reads alpha; beta and the admin are PERMISSION_DENIED; read:* on a missing secret NOT_FOUND."""
    create(fast_broker, "alpha", interval=None, grace=0)
    create(fast_broker, "beta", interval=None, grace=0)
    reader = workload(fast_broker, "alpha-reader", "broker.secrets.read:alpha")
    everything = workload(fast_broker, "all-reader", "broker.secrets.read:*")
    secrets = stub(fast_broker)

    value = secrets.AccessSecretVersion(secret_pb2.AccessSecretVersionRequest(secret_id="alpha"), metadata=reader)
    assert is_api_key(value.value) and value.version == 1 and value.state == CURRENT

    def access_beta(md: Metadata) -> object:
        return secrets.AccessSecretVersion(secret_pb2.AccessSecretVersionRequest(secret_id="beta"), metadata=md)

    for md in (reader, fast_broker.admin_metadata()):
        code, details = code_of(functools.partial(access_beta, md))
        assert code == grpc.StatusCode.PERMISSION_DENIED and "broker.secrets.read:beta" in details
    code, _ = code_of(
        lambda: secrets.AccessSecretVersion(
            secret_pb2.AccessSecretVersionRequest(secret_id="gamma"), metadata=everything
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(
        lambda: secrets.GetSecret(secret_pb2.GetSecretRequest(secret_id="gamma"), metadata=fast_broker.admin_metadata())
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(lambda: secrets.GetSecret(secret_pb2.GetSecretRequest(secret_id="alpha"), metadata=reader))
    assert code == grpc.StatusCode.PERMISSION_DENIED


def test_the_verify_scope_checks_values_but_cannot_read_them(fast_broker: BrokerProcess) -> None:
    """verify:delta answers valid/invalid (a mistyped key too) and is refused AccessSecretVersion."""
    create(fast_broker, "delta", interval=None, grace=0, generator=secret_pb2.SECRET_GENERATOR_EXTERNAL, value=b"pw")
    checker = workload(fast_broker, "delta-checker", "broker.secrets.verify:delta")
    secrets = stub(fast_broker)

    def verify(value: bytes) -> secret_pb2.VerifySecretValueResponse:
        request = secret_pb2.VerifySecretValueRequest(secret_id="delta", value=value)
        reply: secret_pb2.VerifySecretValueResponse = secrets.VerifySecretValue(request, metadata=checker, timeout=10)
        return reply

    good = verify(b"pw")
    assert (good.valid, good.version, good.state) == (True, 1, CURRENT)
    assert verify(b"pw ").valid is False
    assert verify(new_api_key(40)[:-1].encode() + b"!").valid is False
    code, _ = code_of(
        lambda: secrets.AccessSecretVersion(secret_pb2.AccessSecretVersionRequest(secret_id="delta"), metadata=checker)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("rotation", "generator", "field"),
    [
        (
            secret_pb2.RotationPolicy(interval=seconds(60), grace_period=seconds(61)),
            secret_pb2.SECRET_GENERATOR_API_KEY,
            "rotation.grace_period",
        ),
        (secret_pb2.RotationPolicy(interval=seconds(0)), secret_pb2.SECRET_GENERATOR_API_KEY, "rotation.interval"),
        # 99 is a number the enum does not define (an old or a newer client's value)
        (secret_pb2.RotationPolicy(interval=seconds(60)), secret_pb2.SecretGenerator.ValueType(99), "generator"),
        (secret_pb2.RotationPolicy(interval=seconds(60)), secret_pb2.SECRET_GENERATOR_UNSPECIFIED, "generator"),
    ],
)
def test_a_bad_policy_is_invalid_argument_naming_the_field(
    fast_broker: BrokerProcess,
    rotation: secret_pb2.RotationPolicy,
    generator: secret_pb2.SecretGenerator.ValueType,
    field: str,
) -> None:
    """Grace longer than the interval, a zero interval, an unknown generator: INVALID_ARGUMENT naming it."""
    request = secret_pb2.CreateSecretRequest(
        secret_id="bad",
        secret=secret_pb2.Secret(generator=generator, rotation=rotation),
    )
    code, details = code_of(
        lambda: stub(fast_broker).CreateSecret(request, metadata=fast_broker.admin_metadata(), timeout=10)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(f"{field}: ")


# rotation, grace and events --------------------------------------------------------------------


def test_rotation_every_3s_with_2s_grace_verify_access_and_watch(fast_broker: BrokerProcess) -> None:
    """Old value valid in grace, refused and unreadable after; scheduled rotations; events in order."""
    create(fast_broker, "rot", interval=3, grace=2)
    md = workload(fast_broker, "rot-user", "broker.secrets.read:rot")
    admin = fast_broker.admin_metadata()
    secrets = stub(fast_broker)
    watch = Watch(fast_broker, "rot", md)
    assert watch.after_seq >= 0

    old = secrets.AccessSecretVersion(secret_pb2.AccessSecretVersionRequest(secret_id="rot"), metadata=md).value
    rotated = secrets.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="rot"), metadata=admin).version
    assert (rotated.version, rotated.state) == (2, CURRENT)
    check = secrets.VerifySecretValue(secret_pb2.VerifySecretValueRequest(secret_id="rot", value=old), metadata=md)
    assert (check.valid, check.version, check.state) == (True, 1, PREVIOUS)
    grace_end = versions(fast_broker, "rot", admin)[1].grace_expire_time.ToDatetime(tzinfo=UTC)

    wait_for(lambda: datetime.now(UTC) > grace_end + timedelta(milliseconds=100), 5, "the grace period to end")
    check = secrets.VerifySecretValue(secret_pb2.VerifySecretValueRequest(secret_id="rot", value=old), metadata=md)
    assert check.valid is False
    code, details = code_of(
        lambda: secrets.AccessSecretVersion(
            secret_pb2.AccessSecretVersionRequest(secret_id="rot", version=1), metadata=md
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "expired at 20" in details

    def current_version() -> int:
        reply = secrets.GetSecret(secret_pb2.GetSecretRequest(secret_id="rot"), metadata=admin, timeout=10)
        return int(reply.secret.current_version)

    wait_for(lambda: current_version() >= 3, 10, "the scheduled rotation to version 3")
    listed = versions(fast_broker, "rot", admin)
    assert [v.state for v in listed].count(CURRENT) == 1 and listed[0].state == CURRENT

    secrets.DeleteSecret(secret_pb2.DeleteSecretRequest(secret_id="rot"), metadata=admin)
    watch.thread.join(10)
    assert not watch.thread.is_alive() and watch.error is None
    kinds = watch.kinds()
    rotated_kind, expired_kind = secret_pb2.SECRET_EVENT_TYPE_ROTATED, secret_pb2.SECRET_EVENT_TYPE_GRACE_EXPIRED
    assert kinds[:3] == [(rotated_kind, 2), (expired_kind, 1), (rotated_kind, 3)]
    assert kinds[-1][0] == secret_pb2.SECRET_EVENT_TYPE_DELETED
    assert [e.seq for e in watch.events] == sorted({e.seq for e in watch.events})
    assert all(e.secret_id == "rot" for e in watch.events)
    assert old.decode() not in fast_broker.log()


def test_a_watch_without_a_scope_for_the_secret_is_refused(fast_broker: BrokerProcess) -> None:
    """WatchSecret on a secret the caller has no scope for is PERMISSION_DENIED; a missing one NOT_FOUND."""
    create(fast_broker, "epsilon", interval=None, grace=0)
    other = workload(fast_broker, "eps-outsider", "broker.secrets.read:alpha")
    code, _ = code_of(
        lambda: list(
            stub(fast_broker).WatchSecret(
                secret_pb2.WatchSecretRequest(secret_id="epsilon"), metadata=other, timeout=10
            )
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    admin = fast_broker.admin_metadata()
    code, _ = code_of(
        lambda: list(
            stub(fast_broker).WatchSecret(secret_pb2.WatchSecretRequest(secret_id="zeta"), metadata=admin, timeout=10)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


def test_watch_streams_end_cleanly_when_the_server_shuts_down(tmp_path: Path) -> None:
    """SIGTERM ends an open WatchSecret stream with OK at once (not after the shutdown grace); exit 0."""
    proc = BrokerProcess(tmp_path / "data", env=FAST)
    proc.start()
    try:
        create(proc, "eta", interval=None, grace=0)
        watch = Watch(proc, "eta", proc.admin_metadata())
        started = time.monotonic()
        assert proc.stop() == 0
        watch.thread.join(10)
        assert not watch.thread.is_alive() and watch.error is None
        assert time.monotonic() - started < 8
    finally:
        proc.stop()


# crashes ---------------------------------------------------------------------------------------------


def test_sigkill_during_rotations_loses_no_version_and_leaves_one_current(tmp_path: Path) -> None:
    """SIGKILL mid-rotation keeps versions 1..n with one CURRENT; a long downtime brings one catch-up rotation."""
    proc = BrokerProcess(tmp_path / "data", env=FAST)
    proc.start()
    names = [f"churn-{i}" for i in range(4)]
    try:
        for name in names:
            create(proc, name, interval=1, grace=1)
        create(proc, "slow", interval=2, grace=1)
        md = workload(proc, "reader", "broker.secrets.read:*")
        for _ in range(3):
            stop = threading.Event()
            manual = threading.Thread(target=rotate_by_hand_until, args=(proc, names[0], stop), daemon=True)
            manual.start()
            time.sleep(random.uniform(0.8, 1.6))
            assert proc.proc is not None
            os.kill(proc.proc.pid, signal.SIGKILL)
            proc.stop()
            stop.set()
            manual.join(10)
            proc.start()
            check_versions(proc, [*names, "slow"], md)
        before = {n: current(proc, n) for n in names}
        wait_for(lambda: all(current(proc, n) > before[n] for n in names), 10, "rotations to resume")

        down_at = datetime.now(UTC)
        assert proc.proc is not None
        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.stop()
        time.sleep(6.5)  # three missed intervals of "slow"
        proc.start()
        wait_for(lambda: len(created_since(proc, "slow", down_at)) >= 2, 10, "the rotation after the catch-up")
        after = created_since(proc, "slow", down_at)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(after)]
        assert all(gap >= 1.5 for gap in gaps), gaps  # the next is one interval (2 s) after the catch-up
        check_versions(proc, [*names, "slow"], md)
    finally:
        proc.stop()


def rotate_by_hand_until(proc: BrokerProcess, secret_id: str, stop: threading.Event) -> None:
    """Rotate through the API as fast as it answers, until ``stop`` (the server may die meanwhile)."""
    try:
        md = proc.admin_metadata()
        with proc.channel() as channel:
            secrets = secret_pb2_grpc.SecretServiceStub(channel)
            while not stop.is_set():
                try:
                    secrets.RotateSecret(secret_pb2.RotateSecretRequest(secret_id=secret_id), metadata=md, timeout=2)
                except grpc.RpcError:
                    time.sleep(0.05)
    except grpc.RpcError:
        return


def current(proc: BrokerProcess, secret_id: str) -> int:
    reply = stub(proc).GetSecret(secret_pb2.GetSecretRequest(secret_id=secret_id), metadata=proc.admin_metadata())
    return int(reply.secret.current_version)


def created_since(proc: BrokerProcess, secret_id: str, since: datetime) -> list[datetime]:
    """Creation times of the versions made after ``since``, oldest first (server clock)."""
    times = [v.create_time.ToDatetime(tzinfo=UTC) for v in versions(proc, secret_id, proc.admin_metadata())]
    return sorted(t for t in times if t > since)


def check_versions(proc: BrokerProcess, names: list[str], md: Metadata) -> None:
    """Every version 1..n present, only n CURRENT, n's value readable."""
    admin = proc.admin_metadata()
    for name in names:
        listed = versions(proc, name, admin)
        numbers = [v.version for v in listed]
        assert numbers == list(range(len(numbers), 0, -1)), (name, numbers)
        states = [v.state for v in listed]
        assert states.count(CURRENT) == 1 and states[0] == CURRENT, (name, states)
        assert set(states[1:]) <= {PREVIOUS, EXPIRED}
        value = stub(proc).AccessSecretVersion(secret_pb2.AccessSecretVersionRequest(secret_id=name), metadata=md)
        assert value.version >= numbers[0] and is_api_key(value.value)  # it may have rotated since

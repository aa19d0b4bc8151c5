"""BROKER_WORKERS=2: two serving processes on one gRPC port, one broker to its users."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc, token_pb2, token_pb2_grpc
from tests.e2e.harness import TOKEN_TYPE_JWT, BrokerProcess

pytestmark = pytest.mark.e2e

IDENTITY = "svc-workers"
#: Separate connections, so that SO_REUSEPORT spreads them over both workers
#: (all on one worker: a chance of 2 in 2**CONNECTIONS).
CONNECTIONS = 24


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[BrokerProcess, ec.EllipticCurvePrivateKey]]:
    proc = BrokerProcess(tmp_path / "data", env={"BROKER_WORKERS": "2"})
    proc.start()  # /readyz answers once both processes serve
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    identity = identity_pb2.Identity(
        id=IDENTITY,
        kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        allowed_scopes=["orders.read"],
        public_keys=[identity_pb2.PublicKey(jwk_json=public.decode())],
    )
    with proc.channel() as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
            identity_pb2.CreateIdentityRequest(identity=identity), metadata=proc.admin_metadata(), timeout=10
        )
    children = _children(proc)
    yield proc, key
    proc.stop(signal.SIGKILL)
    for pid in children:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _children(proc: BrokerProcess) -> list[int]:
    """The primary's worker processes (multiprocessing's resource tracker is a child too)."""
    assert proc.proc is not None
    path = Path(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children")
    pids = [int(pid) for pid in path.read_text().split()] if path.exists() else []
    return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _exchange_on_fresh_connections(proc: BrokerProcess, assertions: list[str]) -> list[grpc.StatusCode]:
    codes = []
    for assertion in assertions:
        options = [("grpc.use_local_subchannel_pool", 1)]  # a new TCP connection each time
        with grpc.insecure_channel(proc.addr, options=options) as channel:
            try:
                token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(
                    token_pb2.ExchangeTokenRequest(
                        subject_token=assertion, subject_token_type=TOKEN_TYPE_JWT, scopes=["orders.read"]
                    ),
                    timeout=10,
                )
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
    return codes


def _rpc_total(proc: BrokerProcess, method: str, code: str) -> float:
    with urllib.request.urlopen(f"{proc.http_url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    pattern = rf'^broker_rpc_total\{{code="{code}",method="{method}"\}} (\S+)$'
    return sum(float(m) for m in re.findall(pattern, text, re.MULTILINE))


def test_both_workers_serve_and_metrics_add_up(workers: tuple[BrokerProcess, ec.EllipticCurvePrivateKey]) -> None:
    """Calls on many connections are served by both processes; /metrics counts all of them."""
    proc, key = workers
    assertions = [keys.make_assertion(IDENTITY, key, proc.issuer) for _ in range(CONNECTIONS)]
    assert _exchange_on_fresh_connections(proc, assertions) == [grpc.StatusCode.OK] * CONNECTIONS
    served_by = {
        line["worker"]
        for line in (json.loads(text) for text in proc.log().splitlines() if text.startswith("{"))
        if line.get("event") == "rpc" and line.get("rpc") == "ExchangeToken"
    }
    assert served_by == {0, 1}
    # admin_metadata() in the fixture made one more ExchangeToken call, on the primary.
    assert _rpc_total(proc, "ExchangeToken", "OK") == CONNECTIONS + 1


def test_an_assertion_is_single_use_across_workers(
    workers: tuple[BrokerProcess, ec.EllipticCurvePrivateKey],
) -> None:
    """The same assertion sent on many connections (so to both workers) is accepted once."""
    proc, key = workers
    assertion = keys.make_assertion(IDENTITY, key, proc.issuer)
    codes = _exchange_on_fresh_connections(proc, [assertion] * CONNECTIONS)
    assert codes.count(grpc.StatusCode.OK) == 1
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.UNAUTHENTICATED}


def test_sigterm_stops_every_process(workers: tuple[BrokerProcess, ec.EllipticCurvePrivateKey]) -> None:
    proc, _ = workers
    children = _children(proc)
    assert len(children) == 1
    assert proc.stop(signal.SIGTERM) == 0
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children):
        assert time.monotonic() < deadline, "a worker outlived the primary's SIGTERM"
        time.sleep(0.1)


def test_a_dead_worker_stops_the_broker(workers: tuple[BrokerProcess, ec.EllipticCurvePrivateKey]) -> None:
    """Fail closed: a worker killed with -9 takes the broker down with status 1, not a half broker."""
    proc, _ = workers
    (worker,) = _children(proc)
    os.kill(worker, signal.SIGKILL)
    assert proc.proc is not None
    assert proc.proc.wait(20) == 1
    assert "worker died; stopping the broker" in proc.log()


def test_workers_end_when_the_primary_is_killed(
    workers: tuple[BrokerProcess, ec.EllipticCurvePrivateKey],
) -> None:
    proc, _ = workers
    (worker,) = _children(proc)
    proc.stop(signal.SIGKILL)
    deadline = time.monotonic() + 20
    while _alive(worker):
        assert time.monotonic() < deadline, "a worker outlived its primary"
        time.sleep(0.1)

"""The daemon as operators see it: health, reflection, HTTP endpoints, config errors, shutdown."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import jwt
import pytest
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2

from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.harness import BROKER, BrokerProcess, wait_for

pytestmark = pytest.mark.e2e
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or "grpcurl"


def test_grpc_health_reports_serving(shared_broker: BrokerProcess) -> None:
    """The standard gRPC health service answers SERVING, overall and per service."""
    with shared_broker.channel() as channel:
        # the method by its path: types-grpcio-health-checking's HealthStub declares no methods
        check: grpc.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse] = (
            channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
        )
        for service in ("", "broker.v1.TokenService", "broker.v1.IdentityService"):
            reply = check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_http_health_and_readiness(shared_broker: BrokerProcess) -> None:
    """/healthz and /readyz answer 200 with a JSON status."""
    assert shared_broker.http_json("/healthz") == {"status": "ok"}
    assert shared_broker.http_json("/readyz") == {"status": "ready"}


def test_metrics_are_prometheus_text(shared_broker: BrokerProcess) -> None:
    """/metrics serves RPC counters in the Prometheus text format."""
    shared_broker.admin_token()
    with urllib.request.urlopen(f"{shared_broker.http_url}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    assert 'broker_rpc_total{code="OK",method="ExchangeToken"}' in body


def test_jwks_is_public_keys_only(shared_broker: BrokerProcess) -> None:
    """The JWKS lists ES256 public keys with kid, alg and use, and no private member."""
    jwks = shared_broker.http_json("/.well-known/jwks.json")
    assert isinstance(jwks, dict)
    (key,) = jwks["keys"]
    assert key["alg"] == "ES256" and key["use"] == "sig" and key["kid"]
    assert "d" not in key


def test_grpcurl_lists_and_calls_every_service_through_reflection(shared_broker: BrokerProcess) -> None:
    """Reflection is on: grpcurl lists every broker.v1 service and can call GetJwks."""
    listed = subprocess.run(
        [GRPCURL, "-plaintext", shared_broker.addr, "list"], capture_output=True, text=True, timeout=30, check=True
    )
    services = set(listed.stdout.split())
    assert {
        "broker.v1.TokenService", "broker.v1.IdentityService", "broker.v1.IssuerService", "broker.v1.SecretService",
        "broker.v1.AuthService", "broker.v1.UserService", "broker.v1.AuditService", "grpc.health.v1.Health",
    } <= services  # fmt: skip
    called = subprocess.run(
        [GRPCURL, "-plaintext", shared_broker.addr, "broker.v1.TokenService/GetJwks"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    reply = json.loads(called.stdout)
    assert reply["issuer"] == shared_broker.issuer
    assert json.loads(reply["jwks_json"])["keys"]


def test_request_ids_and_no_tokens_in_logs(shared_broker: BrokerProcess) -> None:
    """Each RPC logs one JSON line with a request id; no token ever reaches the log."""
    token = shared_broker.admin_token()
    lines = [json.loads(line) for line in shared_broker.log().splitlines() if line.startswith("{")]
    rpc_lines = [line for line in lines if line.get("event") == "rpc"]
    assert rpc_lines and all(line.get("request_id") for line in rpc_lines)
    assert token not in shared_broker.log()
    assert token.split(".")[1] not in shared_broker.log()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("BROKER_GRPC_LISTEN", "nonsense", "BROKER_GRPC_LISTEN"),
        ("BROKER_SIGNING_ALG", "HS256", "BROKER_SIGNING_ALG"),
        ("BROKER_MAX_TOKEN_TTL", "forever", "BROKER_MAX_TOKEN_TTL"),
        ("BROKER_LOG_FORMAT", "xml", "BROKER_LOG_FORMAT"),
        ("BROKER_KEK", "short", "BROKER_KEK"),
    ],
)
def test_bad_setting_stops_startup_with_one_line(tmp_path: Path, name: str, value: str, expected: str) -> None:
    """A bad value exits non-zero with one stderr line naming the setting (never a secret's value)."""
    proc = BrokerProcess(tmp_path / "data", env={name: value})
    result = subprocess.run([*BROKER, "serve"], env=proc.env(), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    if name == "BROKER_KEK":
        assert value not in lines[0]


def test_yaml_config_is_read_and_environment_wins(tmp_path: Path) -> None:
    """--config supplies settings; a BROKER_* variable overrides the file."""
    config = tmp_path / "broker.yaml"
    config.write_text("signing_alg: EdDSA\nmax_token_ttl: 30m\n")
    proc = BrokerProcess(tmp_path / "data", env={"BROKER_MAX_TOKEN_TTL": "2h"})
    proc.start("--config", str(config))
    try:
        jwks = proc.http_json("/.well-known/jwks.json")
        assert isinstance(jwks, dict)
        assert [k["alg"] for k in jwks["keys"]] == ["EdDSA"]
        key = keys.load_private_key(proc.admin_key)
        ttl = duration_pb2.Duration(seconds=90 * 60)
        reply = proc.exchange("admin", key, requested_ttl=ttl)
        claims = jwt.decode(reply.access_token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 90 * 60
    finally:
        proc.stop()


def test_sigterm_lets_in_flight_rpcs_finish_and_exits_zero(tmp_path: Path) -> None:
    """SIGTERM under load: every RPC the server started completes OK, then exit status 0.

    Clients may see UNAVAILABLE or CANCELLED only for calls the server never started:
    the count of OK answers on both sides is equal, and no handler was cut short.
    """
    proc = BrokerProcess(tmp_path / "data")
    proc.start()
    metadata = proc.admin_metadata()
    client_ok = 0
    refused: set[grpc.StatusCode] = set()
    lock = threading.Lock()
    started = threading.Barrier(9)

    def hammer() -> None:
        nonlocal client_ok
        with proc.channel() as channel:
            stub = identity_pb2_grpc.IdentityServiceStub(channel)
            started.wait()
            for _ in range(2000):
                try:
                    stub.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=metadata, timeout=10)
                except grpc.RpcError as exc:
                    with lock:
                        refused.add(exc.code())
                    return
                with lock:
                    client_ok += 1

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    wait_for(lambda: client_ok >= 50, 30, "the server to be under load")
    assert proc.stop(signal.SIGTERM) == 0
    for t in threads:
        t.join()
    rpc_lines = [json.loads(x) for x in proc.log().splitlines() if x.startswith("{") and '"event": "rpc"' in x]
    server_list_calls = [x for x in rpc_lines if x["rpc"] == "ListIdentities"]
    assert client_ok > 0
    assert all(x["code"] == "OK" for x in server_list_calls)
    assert len(server_list_calls) == client_ok
    assert refused <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
    assert '"event": "stopped"' in proc.log()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{proc.http_url}/healthz", timeout=1)

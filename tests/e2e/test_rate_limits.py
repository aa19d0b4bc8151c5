"""Rate limits on real broker processes: per identity on ExchangeToken and per client address,
RESOURCE_EXHAUSTED with google.rpc.RetryInfo, counted in /metrics, recovered by waiting, and
one bucket for replicas on Postgres."""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.rpc import error_details_pb2, status_pb2

from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc
from tests.e2e.harness import BrokerProcess
from tests.store import postgres


def refusal(call: Callable[[], object]) -> grpc.RpcError:
    """The RpcError a call raises (it must raise one)."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def retry_delay(error: grpc.RpcError) -> float:
    """Seconds of the google.rpc.RetryInfo in the error's trailing metadata."""
    trailers: Any = error.trailing_metadata() or ()  # grpc types its metadata as opaque items
    raw = next(value for key, value in trailers if key == "grpc-status-details-bin")
    assert isinstance(raw, bytes)
    status = status_pb2.Status.FromString(raw)
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    return float(info.retry_delay.ToTimedelta().total_seconds())


def rate_limited(proc: BrokerProcess, limit: str) -> float:
    with urllib.request.urlopen(f"{proc.http_url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'broker_rate_limited_total{{limit="{limit}"}}'):
                return float(line.split()[-1])
    return 0.0


def test_an_identity_over_its_exchange_limit_is_told_when_to_retry_and_then_served(tmp_path: Path) -> None:
    """2/s per identity: the third exchange at once is RESOURCE_EXHAUSTED with RetryInfo (the
    limit, never a secret, in the message); after that delay it is granted again."""
    proc = BrokerProcess(tmp_path / "data", env={"BROKER_RATE_LIMIT_EXCHANGE": "2/s"})
    proc.start()
    try:
        admin = keys.load_private_key(proc.admin_key)
        proc.exchange("admin", admin)
        proc.exchange("admin", admin)
        error = refusal(lambda: proc.exchange("admin", admin))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (error.details() or "").startswith("rate limit 2/s for identity 'admin' reached; retry in")
        delay = retry_delay(error)
        assert 0 < delay <= 0.5
        time.sleep(delay + 0.05)
        assert proc.exchange("admin", admin).access_token
        assert rate_limited(proc, "exchange_per_identity") == 1
    finally:
        proc.stop()


def test_one_client_address_over_its_limit_is_refused_before_anything_is_checked(tmp_path: Path) -> None:
    """3/s per client address: the fourth call from 127.0.0.1, even with a bad assertion, is
    refused by the limit, and the calls come back once the bucket refills."""
    env = {"BROKER_RATE_LIMIT_ADDRESS": "3/s", "BROKER_RATE_LIMIT_EXCHANGE": "off"}
    proc = BrokerProcess(tmp_path / "data", env=env)
    proc.start()
    try:
        admin = keys.load_private_key(proc.admin_key)
        for _ in range(3):
            proc.exchange("admin", admin)
        error = refusal(lambda: proc.exchange("nobody", admin))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "client address ipv4:127.0.0.1" in (error.details() or "")
        time.sleep(retry_delay(error) + 0.05)
        assert proc.exchange("admin", admin).access_token
        assert rate_limited(proc, "per_client_address") == 1
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """This module's PostgreSQL server (fails the tests if it cannot start)."""
    server = postgres.start_for_pytest()
    yield server
    server.stop()


def test_two_replicas_on_postgres_share_one_bucket_per_identity(
    postgres_server: postgres.PostgresServer, tmp_path: Path
) -> None:
    """3/m per identity across replicas A and B: two exchanges through A and one through B use
    it up, so the fourth, through either, is refused."""
    env = {
        "BROKER_STORE_URL": postgres_server.create_database(),
        "BROKER_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
        "BROKER_RATE_LIMIT_EXCHANGE": "3/m",
    }
    a, b = BrokerProcess(tmp_path / "a" / "data", env=env), BrokerProcess(tmp_path / "b" / "data", env=env)
    a.start()
    try:
        b.start()
        try:
            private = ec.generate_private_key(ec.SECP256R1())
            svc = identity_pb2.Identity(
                id="svc",
                kind=identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
                public_keys=[identity_pb2.PublicKey(jwk_json=json.dumps(keys.public_jwk(private)))],
            )
            with a.channel() as channel:
                identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
                    identity_pb2.CreateIdentityRequest(identity=svc), metadata=a.admin_metadata(), timeout=10
                )
            for proc in (a, a, b):
                proc.exchange("svc", private)
            for proc in (b, a):
                error = refusal(functools.partial(proc.exchange, "svc", private))
                assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
                assert 0 < retry_delay(error) <= 20
        finally:
            b.stop()
    finally:
        a.stop()

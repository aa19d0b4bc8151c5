"""Rate limits on a real broker process: per identity on ExchangeToken and per client address,
RESOURCE_EXHAUSTED with google.rpc.RetryInfo, counted in /metrics, and recovered by waiting."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from broker_client import keys
from tests.e2e.harness import BrokerProcess


def refusal(call: object) -> grpc.RpcError:
    """The RpcError a call raises (it must raise one)."""
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
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

"""/metrics on a real broker process: exchanges by result and reason, tokens by kind, secret
rotations, the next rotation, leadership, the signing key's age, the audit chain, store latency."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from broker_client import keys
from tests.e2e.harness import BrokerProcess, wait_for


def scrape(proc: BrokerProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, keyed by (name, labels)."""
    with urllib.request.urlopen(f"{proc.http_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_follow_exchanges_rotations_and_the_process_state(tmp_path: Path) -> None:
    """Granted and refused exchanges (by error code), a scheduled rotation and the gauges, each
    as a scrape shows them."""
    proc = BrokerProcess(tmp_path / "data", env={"BROKER_SCHEDULER_TICK": "1s"})
    proc.start()
    try:
        admin = keys.load_private_key(proc.admin_key)
        for _ in range(3):
            proc.exchange("admin", admin)
        with pytest.raises(grpc.RpcError):  # proved itself, asked for what it may not have
            proc.exchange("admin", admin, scopes=["payments.write"])
        with pytest.raises(grpc.RpcError):  # proved nothing: sampled in the trail, counted here
            proc.exchange("admin", ec.generate_private_key(ec.SECP256R1()))
        proc.cli("admin", "secret", "create", "db", "--generator", "password", "--rotate-every", "2s", "--grace", "1s")
        wait_for(
            lambda: value(scrape(proc), "broker_secret_rotations_total", trigger="scheduled") >= 1,
            15,
            "a scheduled rotation",
        )
        samples = scrape(proc)
    finally:
        proc.stop()

    granted = value(samples, "broker_exchanges_total", action="token.exchange", result="granted", reason="")
    assert granted >= 3  # and the CLI's own admin exchanges
    assert value(samples, "broker_tokens_minted_total", kind="service_account") == granted
    refused = "broker_exchanges_total"
    assert value(samples, refused, action="token.exchange", result="refused", reason="permission_denied") == 1
    assert value(samples, refused, action="token.exchange", result="refused", reason="unauthenticated") == 1
    assert value(samples, "broker_leader") == 1
    assert 0 <= value(samples, "broker_signing_key_age_seconds") < 600
    assert value(samples, "broker_audit_chain_length") >= granted + 2
    assert -5 < value(samples, "broker_secret_next_rotation_seconds") <= 2
    assert value(samples, "broker_store_operation_seconds_count", operation="append_audit_events") >= 1
    assert value(samples, "broker_store_operation_seconds_count", operation="consume_jtis") >= 1

"""The README quickstart, end to end, on a real `broker serve` process."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from tests.e2e.harness import BrokerProcess

pytestmark = pytest.mark.e2e

API = "https://payments.example.com"


def test_quickstart_token_verifies_with_pyjwt_against_the_jwks_url(broker_proc: BrokerProcess, tmp_path: Path) -> None:
    """Create an identity with a key, exchange, verify with PyJWT using only the JWKS URL."""
    key = tmp_path / "payments.pem"
    broker_proc.cli("key", "generate", str(key))
    broker_proc.cli(
        "admin", "identity", "create", "payments",
        "--kind", "service-account",
        "--scope", "payments.read", "--scope", "payments.write",
        "--audience", API,
        "--max-ttl", "15m",
        "--public-key-file", str(tmp_path / "payments.pub.pem"),
    )  # fmt: skip
    token = broker_proc.cli(
        "token", "exchange", "--identity", "payments", "--key-file", str(key),
        "--scope", "payments.read", "--audience", API, "--ttl", "5m",
    ).stdout.strip()  # fmt: skip

    discovery = broker_proc.http_json("/.well-known/openid-configuration")
    assert isinstance(discovery, dict)
    assert discovery["issuer"] == broker_proc.issuer
    signing_key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["ES256"], audience=API, issuer=broker_proc.issuer)

    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] == signing_key.key_id
    assert set(claims) >= {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "scope", "client_id", "kind", "tenant"}
    assert claims["sub"] == "payments"
    assert claims["client_id"] == "payments"
    assert claims["kind"] == "service_account"
    assert claims["scope"] == "payments.read"
    assert claims["exp"] - claims["iat"] == 300


def test_first_start_creates_admin_key_0600_and_never_overwrites_it(tmp_path: Path) -> None:
    """data/admin.key is a PKCS#8 PEM with mode 0600 that a restart leaves untouched."""
    proc = BrokerProcess(tmp_path / "data")
    proc.start()
    try:
        first = proc.admin_key.read_bytes()
        assert first.startswith(b"-----BEGIN PRIVATE KEY-----")
        assert stat.S_IMODE(proc.admin_key.stat().st_mode) == 0o600
        assert stat.S_IMODE(proc.data_dir.stat().st_mode) == 0o700
        assert "admin key" in proc.log() and "created now" in proc.log()
    finally:
        assert proc.stop() == 0
    proc.start()
    try:
        assert proc.admin_key.read_bytes() == first
        assert proc.cli("admin", "identity", "get", "admin").returncode == 0
    finally:
        proc.stop()


def test_tokens_minted_before_a_restart_still_verify(tmp_path: Path) -> None:
    """Signing keys persist (sealed) in the store, so a restart does not invalidate tokens."""
    proc = BrokerProcess(tmp_path / "data")
    proc.start()
    try:
        token = proc.admin_token()
        jwks_before = proc.http_json("/.well-known/jwks.json")
    finally:
        proc.stop()
    proc.start()
    try:
        assert proc.http_json("/.well-known/jwks.json") == jwks_before
        listing = proc.cli("admin", "identity", "list").stdout
        assert '"id": "admin"' in listing
        key = jwt.PyJWKClient(f"{proc.http_url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
        jwt.decode(token, key.key, algorithms=["ES256"], audience=proc.issuer)
    finally:
        proc.stop()

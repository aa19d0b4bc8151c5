"""SPIFFE compatibility on a real `broker serve` with BROKER_TRUST_DOMAIN: the token asked for
with requested_token_type jwt validates as a JWT-SVID with the `spiffe` package, using the
broker's JWKS as the trust domain's bundle."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from spiffe import JwtBundle, JwtSvid, TrustDomain
from spiffe.errors import PySpiffeError

from broker_client import keys
from broker_client.v1 import token_pb2, token_pb2_grpc
from tests.e2e.harness import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT, BrokerProcess

pytestmark = pytest.mark.e2e

DOMAIN = "example.org"
API = "https://payments.example.com"


@pytest.fixture(scope="module")
def spiffe_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker whose trust domain is example.org."""
    proc = BrokerProcess(tmp_path_factory.mktemp("spiffe") / "data", env={"BROKER_TRUST_DOMAIN": DOMAIN})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def payments_key_file(spiffe_broker: BrokerProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The payments identity (scope payments.read, audience the payments API); its key file."""
    directory = tmp_path_factory.mktemp("keys")
    spiffe_broker.cli("key", "generate", str(directory / "payments.pem"))
    spiffe_broker.cli(
        "admin", "identity", "create", "payments", "--kind", "service-account", "--scope", "payments.read",
        "--audience", API, "--public-key-file", str(directory / "payments.pub.pem"),
    )  # fmt: skip
    return directory / "payments.pem"


@pytest.fixture
def payments_key(payments_key_file: Path) -> keys.PrivateKey:
    return keys.load_private_key(payments_key_file)


def _bundle(proc: BrokerProcess) -> JwtBundle:
    with urllib.request.urlopen(f"{proc.http_url}/.well-known/jwks.json", timeout=5) as resp:
        return JwtBundle.parse(TrustDomain(DOMAIN), resp.read())


def test_a_jwt_typed_token_validates_as_a_jwt_svid(spiffe_broker: BrokerProcess, payments_key: keys.PrivateKey) -> None:
    """requested_token_type jwt: typ JWT, sub the SPIFFE ID; JwtSvid.parse_and_validate accepts it."""
    reply = spiffe_broker.exchange("payments", payments_key, audiences=[API], requested_token_type=TOKEN_TYPE_JWT)
    assert reply.issued_token_type == TOKEN_TYPE_JWT
    assert jwt.get_unverified_header(reply.access_token)["typ"] == "JWT"
    svid = JwtSvid.parse_and_validate(reply.access_token, _bundle(spiffe_broker), {API})
    assert str(svid.spiffe_id) == "spiffe://example.org/identity/payments"
    assert svid.audience == {API}  # aud is a list in JWT-SVIDs, which py-spiffe needs


def test_the_default_at_jwt_token_is_not_a_jwt_svid(
    spiffe_broker: BrokerProcess, payments_key: keys.PrivateKey
) -> None:
    """The default typ at+jwt (RFC 9068) is refused by the JWT-SVID rules, as the spec says."""
    reply = spiffe_broker.exchange("payments", payments_key, audiences=[API])
    assert jwt.get_unverified_header(reply.access_token)["typ"] == "at+jwt"
    with pytest.raises(PySpiffeError):
        JwtSvid.parse_and_validate(reply.access_token, _bundle(spiffe_broker), {API})


def test_an_svid_for_another_audience_or_from_another_bundle_fails(
    spiffe_broker: BrokerProcess, payments_key: keys.PrivateKey, tmp_path: Path
) -> None:
    """The validator checks aud and the signature against the bundle: a stranger's JWKS does not verify it."""
    token = spiffe_broker.exchange(
        "payments", payments_key, audiences=[API], requested_token_type=TOKEN_TYPE_JWT
    ).access_token
    with pytest.raises(PySpiffeError):
        JwtSvid.parse_and_validate(token, _bundle(spiffe_broker), {"https://other.example.com"})
    other = BrokerProcess(tmp_path / "other", env={"BROKER_TRUST_DOMAIN": DOMAIN})
    other.start()
    try:
        foreign = _bundle(other)
    finally:
        other.stop()
    with pytest.raises(PySpiffeError):
        JwtSvid.parse_and_validate(token, foreign, {API})


def test_the_cli_svid_flag_gives_a_jwt_svid(spiffe_broker: BrokerProcess, payments_key_file: Path) -> None:
    """`broker token exchange --svid` prints a token the JWT-SVID validator accepts."""
    token = spiffe_broker.cli(
        "token", "exchange", "--identity", "payments", "--key-file", str(payments_key_file),
        "--audience", API, "--svid",
    ).stdout.strip()  # fmt: skip
    assert str(JwtSvid.parse_and_validate(token, _bundle(spiffe_broker), {API}).spiffe_id).endswith("/payments")


def test_a_delegated_svid_names_the_agent_by_its_spiffe_id(
    spiffe_broker: BrokerProcess, payments_key: keys.PrivateKey, tmp_path: Path
) -> None:
    """An agent's delegated JWT-SVID keeps the principal as sub; act.sub is the agent's SPIFFE ID."""
    agent_key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "agent.pub.pem"
    pem.write_bytes(
        agent_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    spiffe_broker.cli(
        "admin", "identity", "create", "svid-agent", "--kind", "ai-agent", "--delegable-scope", "payments.read",
        "--audience", API, "--public-key-file", str(pem),
    )  # fmt: skip
    subject = spiffe_broker.exchange("payments", payments_key, audiences=[API]).access_token
    with spiffe_broker.channel() as channel:
        delegated = (
            token_pb2_grpc.TokenServiceStub(channel)
            .ExchangeToken(
                token_pb2.ExchangeTokenRequest(
                    subject_token=subject,
                    subject_token_type=TOKEN_TYPE_ACCESS,
                    actor_token=keys.make_assertion("svid-agent", agent_key, spiffe_broker.issuer),
                    actor_token_type=TOKEN_TYPE_JWT,
                    requested_token_type=TOKEN_TYPE_JWT,
                ),
                timeout=10,
            )
            .access_token
        )
    svid = JwtSvid.parse_and_validate(delegated, _bundle(spiffe_broker), {API})
    assert str(svid.spiffe_id) == "spiffe://example.org/identity/payments"
    claims = jwt.decode(delegated, options={"verify_signature": False})
    assert claims["act"]["sub"] == "spiffe://example.org/identity/svid-agent"

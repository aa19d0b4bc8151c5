"""mTLS client certificates as attestations (RFC 8705) on a real daemon: x509 bindings,
certificate-bound tokens (cnf.x5t#S256), who may present them, and the client's side."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from google.protobuf import json_format

from broker_client import ClientCertificateAttestor, InvalidToken, TokenSource, Verifier, tls_credentials
from broker_client.v1 import token_pb2, token_pb2_grpc
from tests.e2e.certs import CertificateAuthority, Issued
from tests.e2e.harness import BROKER, BrokerProcess, bearer

pytestmark = pytest.mark.e2e

SPIFFE_ID = "spiffe://example.org/ns/payments/sa/api"
CLIENT_CERTIFICATE = "urn:broker:token-type:client-certificate"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def svid(ca: CertificateAuthority) -> Issued:
    """An X509-SVID of the payments workload."""
    return ca.issue("payments-svid", client=True, spiffe_id=SPIFFE_ID)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, ca: CertificateAuthority) -> Iterator[BrokerProcess]:
    """A daemon requiring client certificates from ``ca``, with ``payments`` bound to the SVID's
    SPIFFE ID and ``batch`` to the subject CN=batch-job; the CLI presents ``operator``."""
    where = tmp_path_factory.mktemp("x509")
    server, operator = ca.issue("server"), ca.issue("operator", client=True)
    proc = BrokerProcess(
        where / "data",
        env={
            "BROKER_TLS_CERT_FILE": str(server.cert_file),
            "BROKER_TLS_KEY_FILE": str(server.key_file),
            "BROKER_TLS_CLIENT_CA_FILE": str(ca.ca_file),
            "BROKER_CA_FILE": str(ca.ca_file),
            "BROKER_CLIENT_CERT_FILE": str(operator.cert_file),
            "BROKER_CLIENT_KEY_FILE": str(operator.key_file),
        },
    )
    proc.start()
    create = ("admin", "identity", "create", "--kind", "service-account")
    proc.cli(*create, "payments", "--scope", "payments.read", "--scope", "payments.write",
             "--audience", "https://payments.example.com", "--bind", "x509", SPIFFE_ID)  # fmt: skip
    proc.cli(*create, "batch", "--scope", "batch.run", "--bind", "x509", "CN=batch-job")
    yield proc
    proc.stop()


def _credentials(ca: CertificateAuthority, cert: Issued) -> grpc.ChannelCredentials:
    return tls_credentials(ca.ca_file, cert_file=cert.cert_file, key_file=cert.key_file)


def _exchange(
    broker: BrokerProcess, credentials: grpc.ChannelCredentials, **fields: object
) -> token_pb2.ExchangeTokenResponse:
    request = token_pb2.ExchangeTokenRequest(subject_token_type=CLIENT_CERTIFICATE, **fields)  # type: ignore[arg-type]
    with grpc.secure_channel(broker.addr, credentials) as channel:
        response: token_pb2.ExchangeTokenResponse = token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(
            request, timeout=10
        )
    return response


def _claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _thumbprint(cert: Issued) -> str:
    """RFC 8705: base64url SHA-256 of the DER certificate."""
    der = x509.load_pem_x509_certificate(cert.cert_file.read_bytes()).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _introspect(broker: BrokerProcess, credentials: grpc.ChannelCredentials, token: str, as_token: str) -> bool:
    with grpc.secure_channel(broker.addr, credentials) as channel:
        reply = token_pb2_grpc.TokenServiceStub(channel).IntrospectToken(
            token_pb2.IntrospectTokenRequest(token=token), metadata=bearer(as_token), timeout=10
        )
    return bool(reply.active)


def test_an_svid_exchanges_with_no_bearer_proof_for_a_token_bound_to_it(
    broker: BrokerProcess, ca: CertificateAuthority, svid: Issued
) -> None:
    """The SPIFFE ID picks the identity; the token carries the certificate's x5t#S256."""
    response = _exchange(broker, _credentials(ca, svid), scopes=["payments.read"])
    claims = _claims(response.access_token)
    assert claims["sub"] == "payments" and claims["scope"] == "payments.read"
    assert claims["cnf"] == {"x5t#S256": _thumbprint(svid)}
    assert list(response.scopes) == ["payments.read"]


def test_a_subject_dn_binding_and_unbound_or_missing_certificates(
    broker: BrokerProcess, ca: CertificateAuthority, tmp_path: Path
) -> None:
    """CN=batch-job maps to batch; a certificate nobody is bound to, or none at all, is refused."""
    batch = ca.issue("batch-job", client=True)
    assert _claims(_exchange(broker, _credentials(ca, batch)).access_token)["sub"] == "batch"
    stranger = ca.issue("stranger", client=True)
    with pytest.raises(grpc.RpcError) as unbound:
        _exchange(broker, _credentials(ca, stranger))
    assert unbound.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert unbound.value.details() == "invalid attestation"
    with pytest.raises(grpc.RpcError) as with_token:
        _exchange(broker, _credentials(ca, batch), subject_token="eyJ.x.y")
    assert with_token.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_bound_token_counts_only_on_a_connection_presenting_its_certificate(
    broker: BrokerProcess, ca: CertificateAuthority, svid: Issued
) -> None:
    """As a bearer token and as a subject token: a stolen copy on another connection is dead."""
    own = _credentials(ca, svid)
    token = _exchange(broker, own).access_token
    other = _credentials(ca, ca.issue("thief", client=True))
    assert _introspect(broker, own, token, as_token=token)
    with pytest.raises(grpc.RpcError) as stolen:
        _introspect(broker, other, token, as_token=token)
    assert stolen.value.code() is grpc.StatusCode.UNAUTHENTICATED

    downscope = token_pb2.ExchangeTokenRequest(
        subject_token=token,
        subject_token_type="urn:ietf:params:oauth:token-type:access_token",
        scopes=["payments.read"],
    )
    with grpc.secure_channel(broker.addr, other) as channel, pytest.raises(grpc.RpcError) as narrowed_by_thief:
        token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(downscope, timeout=10)
    assert narrowed_by_thief.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with grpc.secure_channel(broker.addr, own) as channel:
        narrowed = token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(downscope, timeout=10)
    assert _claims(narrowed.access_token)["cnf"] == {"x5t#S256": _thumbprint(svid)}, "down-scoping keeps the binding"
    # introspection by a resource server (its own token, its own connection) shows the binding
    admin = broker.admin_token()
    with broker.channel() as channel:
        shown = token_pb2_grpc.TokenServiceStub(channel).IntrospectToken(
            token_pb2.IntrospectTokenRequest(token=token), metadata=bearer(admin), timeout=10
        )
    assert shown.active and json_format.MessageToDict(shown.claims)["cnf"] == {"x5t#S256": _thumbprint(svid)}


def test_the_client_library_verifier_and_cli_take_the_certificate(
    broker: BrokerProcess, ca: CertificateAuthority, svid: Issued
) -> None:
    """TokenSource with ClientCertificateAttestor; Verifier checks the presenting certificate."""
    with TokenSource(
        broker.addr, ClientCertificateAttestor(), scopes=["payments.read"], credentials=_credentials(ca, svid)
    ) as source:
        token = source.token()
    verifier = Verifier(broker.channel(), broker.issuer, issuer=broker.issuer)  # the token's default audience
    assert verifier.verify(token, client_certificate=svid.cert_file.read_bytes()).subject == "payments"
    thief = ca.issue("verifier-thief", client=True)
    for presented in (None, thief.cert_file.read_bytes()):
        with pytest.raises(InvalidToken, match="client certificate"):
            verifier.verify(token, client_certificate=presented)
    strict = Verifier(broker.channel(), broker.issuer, issuer=broker.issuer, require_certificate_binding=True)
    with pytest.raises(InvalidToken, match="not bound"):
        strict.verify(broker.admin_token())

    env = {**broker.env(), "BROKER_CLIENT_CERT_FILE": str(svid.cert_file), "BROKER_CLIENT_KEY_FILE": str(svid.key_file)}
    printed = subprocess.run(
        [*BROKER, "token", "exchange-cert", "--scope", "payments.write"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert _claims(printed)["scope"] == "payments.write"


def test_a_plain_tls_broker_has_no_certificate_to_go_by(tmp_path: Path, ca: CertificateAuthority) -> None:
    """Without BROKER_TLS_CLIENT_CA_FILE no certificate is asked for, so none can attest."""
    server = ca.issue("plain-server")
    proc = BrokerProcess(
        tmp_path / "data",
        env={
            "BROKER_TLS_CERT_FILE": str(server.cert_file),
            "BROKER_TLS_KEY_FILE": str(server.key_file),
            "BROKER_CA_FILE": str(ca.ca_file),
        },
    )
    proc.start()
    try:
        with pytest.raises(grpc.RpcError) as refused:
            _exchange(proc, tls_credentials(ca.ca_file))
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        proc.stop()


def test_the_sidecar_keeps_a_certificate_bound_token_from_its_yaml(
    broker: BrokerProcess, ca: CertificateAuthority, svid: Issued, tmp_path: Path
) -> None:
    """ca_file, client_cert_file and client_key_file in the YAML; an entry with no key is proved by the certificate."""
    config = tmp_path / "sidecar.json"  # JSON is YAML
    out = tmp_path / "run" / "payments.token"
    config.write_text(
        json.dumps(
            {
                "broker": broker.addr,
                "ca_file": str(ca.ca_file),
                "client_cert_file": str(svid.cert_file),
                "client_key_file": str(svid.key_file),
                "tokens": [{"path": str(out), "scopes": ["payments.read"]}],
            }
        )
    )
    sidecar = Path(BROKER[0]).with_name("broker-sidecar")
    done = subprocess.run(
        [str(sidecar), "--config", str(config), "--once"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    claims = _claims(out.read_text().strip())
    assert claims["sub"] == "payments" and claims["cnf"] == {"x5t#S256": _thumbprint(svid)}

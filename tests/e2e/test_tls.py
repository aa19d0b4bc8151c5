"""TLS and mTLS on a real daemon: who gets through, and certificates renewed on disk without a restart."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2

from broker_client import KeyAttestor, TokenSource, tls_credentials, tls_credentials_from_env
from tests.e2e.certs import CertificateAuthority, Issued
from tests.e2e.harness import BROKER, BrokerProcess, free_port, wait_for

pytestmark = pytest.mark.e2e


def _health(channel: grpc.Channel) -> int:
    """The overall gRPC health status (by path: the typing stubs' HealthStub declares no methods)."""
    check: grpc.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse] = (
        channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
    )
    return int(check(health_pb2.HealthCheckRequest(), timeout=5).status)


def _served_serial(port: int, ca: CertificateAuthority, *, alpn: str | None = None) -> int:
    """The serial of the certificate a new TLS connection to ``port`` is handed."""
    context = ssl.create_default_context(cafile=ca.ca_file)
    if alpn:
        context.set_alpn_protocols([alpn])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _first_byte(port: int, context: ssl.SSLContext) -> bytes:
    """The first byte of the answer to GET /readyz over TLS with ``context`` (empty: the server hung up)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return tls.recv(1)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server_cert(ca: CertificateAuthority) -> Issued:
    return ca.issue("broker")


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory, ca: CertificateAuthority) -> Iterator[BrokerProcess]:
    """A daemon serving TLS from files the tests may replace (copies of ``broker.crt``/``.key``)."""
    where = tmp_path_factory.mktemp("tls")
    live = ca.issue("live")
    env = {
        "BROKER_TLS_CERT_FILE": str(live.cert_file),
        "BROKER_TLS_KEY_FILE": str(live.key_file),
        "BROKER_CA_FILE": str(ca.ca_file),
    }
    proc = BrokerProcess(where / "data", env=env)
    proc.start()
    yield proc
    proc.stop()


def test_a_client_needs_the_ca_and_the_cli_reaches_the_broker_with_it(
    tls_broker: BrokerProcess, ca: CertificateAuthority, tmp_path: Path
) -> None:
    """Plain text and an unknown CA are both refused at the handshake; BROKER_CA_FILE lets the CLI in."""
    with grpc.insecure_channel(tls_broker.addr) as plain, pytest.raises(grpc.RpcError) as refused:
        _health(plain)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    stranger = CertificateAuthority(tmp_path / "other", name="other-ca")
    with (
        grpc.secure_channel(tls_broker.addr, tls_credentials(stranger.ca_file)) as wrong,
        pytest.raises(grpc.RpcError) as untrusted,
    ):
        _health(wrong)
    assert untrusted.value.code() is grpc.StatusCode.UNAVAILABLE
    with grpc.secure_channel(tls_broker.addr, tls_credentials(ca.ca_file)) as trusted:
        assert _health(trusted) == health_pb2.HealthCheckResponse.SERVING

    listed = tls_broker.cli("admin", "identity", "list")
    assert "admin" in listed.stdout
    without_ca = {k: v for k, v in tls_broker.env().items() if k != "BROKER_CA_FILE"}
    plain_cli = subprocess.run(
        [*BROKER, "admin", "identity", "list"], env=without_ca, capture_output=True, text=True, timeout=60, check=False
    )
    assert plain_cli.returncode != 0 and "UNAVAILABLE" in plain_cli.stderr


def test_the_http_listener_serves_tls_and_the_issuer_is_https(tls_broker: BrokerProcess) -> None:
    """/readyz and the JWKS answer over HTTPS; the default issuer (the tokens' `iss`) says https."""
    assert tls_broker.http_url.startswith("https://")
    discovery = tls_broker.http_json("/.well-known/openid-configuration")
    assert isinstance(discovery, dict) and discovery["issuer"] == tls_broker.http_url
    assert tls_broker.admin_token().count(".") == 2
    with pytest.raises(ssl.SSLCertVerificationError):  # the system's roots do not know our CA
        _first_byte(tls_broker.http_port, ssl.create_default_context())


def test_the_client_library_fetches_tokens_over_tls(tls_broker: BrokerProcess, ca: CertificateAuthority) -> None:
    """TokenSource with ``tls_credentials(ca_file)``: the same three lines, over TLS."""
    attestor = KeyAttestor("admin", tls_broker.admin_key)
    with TokenSource(
        tls_broker.addr, attestor, scopes=["broker.admin"], credentials=tls_credentials(ca.ca_file)
    ) as source:
        assert source.token().count(".") == 2
    from_env = tls_credentials_from_env({"BROKER_CA_FILE": str(ca.ca_file)})  # as the CLI and sidecar read it
    with TokenSource(tls_broker.addr, attestor, scopes=["broker.admin"], credentials=from_env) as source:
        assert source.token().count(".") == 2
    assert tls_credentials_from_env({}) is None
    with pytest.raises(ValueError, match="go together"):
        tls_credentials_from_env({"BROKER_CLIENT_CERT_FILE": str(ca.ca_file)})


def test_a_certificate_replaced_on_disk_is_served_without_a_restart(
    tls_broker: BrokerProcess, ca: CertificateAuthority
) -> None:
    """cert-manager-style renewal: new files in place, new connections get them, the process stays."""
    pid = tls_broker.proc.pid if tls_broker.proc else None
    cert_file = Path(tls_broker.extra_env["BROKER_TLS_CERT_FILE"])
    key_file = Path(tls_broker.extra_env["BROKER_TLS_KEY_FILE"])
    before = _served_serial(tls_broker.grpc_port, ca, alpn="h2")
    renewed = ca.issue("renewed")
    for new, live in ((renewed.key_file, key_file), (renewed.cert_file, cert_file)):  # each swapped atomically
        shutil.copyfile(new, live.with_name(live.name + ".new"))
        live.with_name(live.name + ".new").replace(live)

    wait_for(lambda: _served_serial(tls_broker.grpc_port, ca, alpn="h2") == renewed.serial, 10, "gRPC to serve it")
    wait_for(lambda: _served_serial(tls_broker.http_port, ca) == renewed.serial, 10, "HTTP to serve it")
    assert before != renewed.serial
    assert tls_broker.proc is not None and tls_broker.proc.pid == pid and tls_broker.proc.poll() is None
    with grpc.secure_channel(tls_broker.addr, tls_credentials(ca.ca_file)) as channel:
        assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
    assert "TLS certificate reloaded" in tls_broker.log()


def test_a_broken_renewal_keeps_the_previous_certificate(
    tls_broker: BrokerProcess, ca: CertificateAuthority, tmp_path: Path
) -> None:
    """A certificate written before its key (a mismatched pair) is logged and the last good pair served."""
    cert_file = Path(tls_broker.extra_env["BROKER_TLS_CERT_FILE"])
    serving = _served_serial(tls_broker.grpc_port, ca, alpn="h2")
    half = CertificateAuthority(tmp_path / "half").issue("half")
    shutil.copyfile(half.cert_file, cert_file)  # the key stays the old one: they do not match
    assert _served_serial(tls_broker.grpc_port, ca, alpn="h2") == serving
    assert _served_serial(tls_broker.http_port, ca) == serving
    wait_for(lambda: "cannot be used; serving the previous ones" in tls_broker.log(), 5, "the warning")


@pytest.fixture(scope="module")
def mtls_broker(tmp_path_factory: pytest.TempPathFactory, ca: CertificateAuthority) -> Iterator[BrokerProcess]:
    """A daemon that requires client certificates signed by ``ca``; the harness presents ``workload``."""
    where = tmp_path_factory.mktemp("mtls")
    server, workload = ca.issue("mtls-server"), ca.issue("workload", client=True)
    env = {
        "BROKER_TLS_CERT_FILE": str(server.cert_file),
        "BROKER_TLS_KEY_FILE": str(server.key_file),
        "BROKER_TLS_CLIENT_CA_FILE": str(ca.ca_file),
        "BROKER_CA_FILE": str(ca.ca_file),
        "BROKER_CLIENT_CERT_FILE": str(workload.cert_file),
        "BROKER_CLIENT_KEY_FILE": str(workload.key_file),
    }
    proc = BrokerProcess(where / "data", env=env)
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    "client",
    ["none", "other CA", "expired", "not yet valid"],
)
def test_mtls_refuses_a_missing_foreign_expired_or_future_client_certificate(
    mtls_broker: BrokerProcess, ca: CertificateAuthority, tmp_path: Path, client: str
) -> None:
    """Only a current certificate from the client CA gets a connection at all."""
    if client == "none":
        credentials = tls_credentials(ca.ca_file)
    else:
        issuer = CertificateAuthority(tmp_path / "stranger", name="stranger") if client == "other CA" else ca
        window = {
            "other CA": (timedelta(minutes=-5), timedelta(hours=1)),
            "expired": (timedelta(hours=-2), timedelta(hours=-1)),
            "not yet valid": (timedelta(hours=1), timedelta(hours=2)),
        }[client]
        bad = issuer.issue(f"bad-{client.replace(' ', '-')}", client=True, not_before=window[0], not_after=window[1])
        credentials = tls_credentials(ca.ca_file, cert_file=bad.cert_file, key_file=bad.key_file)
    with grpc.secure_channel(mtls_broker.addr, credentials) as channel, pytest.raises(grpc.RpcError) as refused:
        _health(channel)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


def test_mtls_lets_a_current_client_certificate_in_on_both_listeners(mtls_broker: BrokerProcess) -> None:
    """The CLI with BROKER_CLIENT_CERT_FILE/KEY_FILE works, and HTTPS wants the certificate too."""
    assert "admin" in mtls_broker.cli("admin", "identity", "list").stdout
    assert mtls_broker.http_json("/readyz") is not None
    anonymous = ssl.create_default_context(cafile=mtls_broker.extra_env["BROKER_CA_FILE"])
    try:
        answer = _first_byte(mtls_broker.http_port, anonymous)
    except (ssl.SSLError, ConnectionError):  # TLS 1.3 reports the missing certificate on the first read
        answer = b""
    assert answer == b"", "no HTTP answer without a client certificate"


def test_plain_text_beyond_loopback_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """No TLS files and a non-loopback address: exit 2 naming the setting and the way out."""
    env = BrokerProcess(tmp_path / "data").env()
    env["BROKER_GRPC_LISTEN"] = f"0.0.0.0:{free_port()}"
    result = subprocess.run([*BROKER, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "BROKER_GRPC_LISTEN" in result.stderr and "BROKER_ALLOW_INSECURE=1" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before the store was touched


def test_a_key_that_does_not_match_the_certificate_stops_start_up_in_one_line(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    """The pair is checked before the store is touched; the line names both settings."""
    one, other = ca.issue("one"), ca.issue("other")
    env = BrokerProcess(tmp_path / "data").env()
    env.update(BROKER_TLS_CERT_FILE=str(one.cert_file), BROKER_TLS_KEY_FILE=str(other.key_file))
    result = subprocess.run([*BROKER, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("broker: cannot serve TLS:") and result.stderr.count("\n") == 1
    assert "BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE" in result.stderr
    assert not (tmp_path / "data").exists()

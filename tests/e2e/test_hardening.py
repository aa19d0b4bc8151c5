"""The hardening issue on real `broker serve` processes: malformed and out-of-range requests,
the admin key's rotation, WatchSecret streams that end with their credential, the write
scope, wildcard reads, private files, start-up that fails in one line, and the CLI's
messages."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import grpc
import jwt
import pytest
from google.protobuf import duration_pb2

from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc, secret_pb2, secret_pb2_grpc, token_pb2
from tests.e2e.harness import (
    BROKER,
    TOKEN_TYPE_JWT,
    BrokerProcess,
    Metadata,
    bearer,
    exchange_assertion,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e


def _code(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def _workload(proc: BrokerProcess, tmp_path: Path, ident: str, *scopes: str) -> tuple[keys.PrivateKey, Path]:
    key_file = tmp_path / f"{ident}.pem"
    proc.cli("key", "generate", str(key_file))
    args = ["admin", "identity", "create", ident, "--kind", "service-account"]
    for scope in scopes:
        args += ["--scope", scope]
    proc.cli(*args, "--public-key-file", str(tmp_path / f"{ident}.pub.pem"))
    return keys.load_private_key(key_file), key_file


def _bearer(proc: BrokerProcess, ident: str, key: keys.PrivateKey, *scopes: str, ttl: int = 0) -> Metadata:
    requested_ttl = duration_pb2.Duration(seconds=ttl) if ttl else None
    return bearer(proc.exchange(ident, key, scopes=list(scopes), requested_ttl=requested_ttl).access_token)


# item 7: requests that used to be INTERNAL or UNKNOWN -------------------------------------------------
def test_malformed_and_out_of_range_requests_are_invalid_argument_with_no_traceback(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    """Undecodable bytes, requested_ttl of 2^62 s, a '²' page token, a version past 2^31 and an oversize
    etag each get their proper status; the log has no traceback for any of them."""
    with shared_broker.channel() as channel:
        raw: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary("/broker.v1.TokenService/ExchangeToken")
        assert _code(lambda: raw(b"\xff\xff\xff\xff", timeout=10))[0] == grpc.StatusCode.INVALID_ARGUMENT
        request = token_pb2.ExchangeTokenRequest(
            subject_token="x.y.z", subject_token_type=TOKEN_TYPE_JWT, requested_ttl=duration_pb2.Duration(seconds=2**62)
        )
        exchange: grpc.UnaryUnaryMultiCallable[token_pb2.ExchangeTokenRequest, bytes] = channel.unary_unary(
            "/broker.v1.TokenService/ExchangeToken", request_serializer=token_pb2.ExchangeTokenRequest.SerializeToString
        )
        code, details = _code(lambda: exchange(request, timeout=10))
        assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "requested_ttl: out of range")
        admin = shared_broker.admin_metadata()
        secrets = secret_pb2_grpc.SecretServiceStub(channel)
        secrets.CreateSecret(
            secret_pb2.CreateSecretRequest(
                secret_id="ranges", secret=secret_pb2.Secret(generator=secret_pb2.SECRET_GENERATOR_PASSWORD)
            ),
            metadata=admin,
        )
        listing = secret_pb2.ListSecretVersionsRequest(secret_id="ranges", page_token="²")
        assert _code(lambda: secrets.ListSecretVersions(listing, metadata=admin))[0] == grpc.StatusCode.INVALID_ARGUMENT
        reader_key, _ = _workload(shared_broker, tmp_path, "ranges-reader", "broker.secrets.read:ranges")
        reader = _bearer(shared_broker, "ranges-reader", reader_key, "broker.secrets.read:ranges")
        access = secret_pb2.AccessSecretVersionRequest(secret_id="ranges", version=2**40)
        assert (
            _code(lambda: secrets.AccessSecretVersion(access, metadata=reader))[0] == grpc.StatusCode.INVALID_ARGUMENT
        )
        update = identity_pb2.UpdateIdentityRequest(
            identity=identity_pb2.Identity(id="ranges-reader", display_name="x", etag="9" * 400)
        )
        update.update_mask.paths.append("display_name")
        identities = identity_pb2_grpc.IdentityServiceStub(channel)
        assert _code(lambda: identities.UpdateIdentity(update, metadata=admin))[0] == grpc.StatusCode.ABORTED
    log = shared_broker.log()
    assert "Traceback" not in log and '"code": "INTERNAL"' not in log and '"code": "UNKNOWN"' not in log


# item 8: rotating the admin key --------------------------------------------------------------------------
def test_admin_key_rotate_replaces_the_file_and_the_old_key_stops_working(broker_proc: BrokerProcess) -> None:
    """After `broker admin key rotate` the file holds a new key (0600), admin commands work with it,
    and an assertion or a token of the old key is refused."""
    old_key = keys.load_private_key(broker_proc.admin_key)
    old_token = broker_proc.admin_token()
    result = broker_proc.cli("admin", "key", "rotate")
    assert result.stdout.startswith(f"admin key {broker_proc.admin_key} rotated: key ")
    assert stat.S_IMODE(broker_proc.admin_key.stat().st_mode) == 0o600
    assert keys.thumbprint(keys.public_jwk(keys.load_private_key(broker_proc.admin_key))) != keys.thumbprint(
        keys.public_jwk(old_key)
    )
    assert broker_proc.cli("admin", "identity", "list").returncode == 0
    code, _ = _code(lambda: broker_proc.exchange("admin", old_key, scopes=["broker.admin"]))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    with broker_proc.channel() as channel:
        listing = identity_pb2_grpc.IdentityServiceStub(channel).ListIdentities
        code, _ = _code(lambda: listing(identity_pb2.ListIdentitiesRequest(), metadata=bearer(old_token)))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert list(broker_proc.data_dir.glob(".admin.key.*")) == []


# item 9: WatchSecret streams end with their credential ------------------------------------------------------
def _watch(channel: grpc.Channel, secret_id: str, md: Metadata) -> Iterator[secret_pb2.WatchSecretResponse]:
    """A WatchSecret stream, returned once the server has subscribed it (its initial metadata came)."""
    stub = secret_pb2_grpc.SecretServiceStub(channel)
    call = stub.WatchSecret(secret_pb2.WatchSecretRequest(secret_id=secret_id), metadata=md, timeout=30)
    call.initial_metadata()
    return call


def _ends_unauthenticated_within(call: Iterable[secret_pb2.WatchSecretResponse], seconds: float) -> float:
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as ended:
        for _ in call:
            pass
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED, ended.value.details()
    elapsed = time.monotonic() - started
    assert elapsed < seconds
    return elapsed


def test_a_watch_stream_ends_when_its_token_is_revoked_expires_or_its_identity_is_disabled(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    """Each of the three ends an open WatchSecret stream UNAUTHENTICATED within a few seconds."""
    shared_broker.cli("admin", "secret", "create", "watched", "--generator", "password")
    key, _ = _workload(shared_broker, tmp_path, "watcher", "broker.secrets.read:watched")
    with shared_broker.channel() as channel:
        revoked = _bearer(shared_broker, "watcher", key, "broker.secrets.read:watched")
        stream = _watch(channel, "watched", revoked)
        token_file = tmp_path / "revoked.token"
        token_file.write_text(revoked[0][1].removeprefix("Bearer "))
        shared_broker.cli("admin", "token", "revoke", "--token-file", str(token_file))
        _ends_unauthenticated_within(stream, 6)

        expiring = _bearer(shared_broker, "watcher", key, "broker.secrets.read:watched", ttl=3)
        stream = _watch(channel, "watched", expiring)
        _ends_unauthenticated_within(stream, 8)

        stream = _watch(channel, "watched", _bearer(shared_broker, "watcher", key, "broker.secrets.read:watched"))
        shared_broker.cli("admin", "identity", "update", "watcher", "--disable")
        _ends_unauthenticated_within(stream, 8)


def test_watch_sequence_numbers_count_the_secrets_own_events_only(shared_broker: BrokerProcess) -> None:
    """Rotations of another secret in between do not show: the watcher sees 1, 2 for its secret."""
    for secret_id in ("mine", "theirs"):  # a grace of an hour: no GRACE_EXPIRED events while the test runs
        shared_broker.cli("admin", "secret", "create", secret_id, "--generator", "password", "--grace", "1h")
    admin = shared_broker.admin_metadata()
    with shared_broker.channel() as channel:
        stub = secret_pb2_grpc.SecretServiceStub(channel)
        stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="theirs"), metadata=admin)
        stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="mine"), metadata=admin)
        stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="theirs"), metadata=admin)
        stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="mine"), metadata=admin)
        call = stub.WatchSecret(secret_pb2.WatchSecretRequest(secret_id="mine", after_seq=0), metadata=admin, timeout=5)
        start = dict(call.initial_metadata())["broker-watch-after-seq"]
        assert start == "2"
        replay = stub.WatchSecret(
            secret_pb2.WatchSecretRequest(secret_id="mine", after_seq=1), metadata=admin, timeout=3
        )
        seen = []
        with pytest.raises(grpc.RpcError):
            for event in replay:
                seen.append((event.seq, event.version))
        assert seen == [(2, 3)]
        call.cancel()


# item 10: who may choose a secret's next value -----------------------------------------------------------
def test_the_rotate_scope_triggers_a_rotation_but_only_the_write_scope_sets_a_value(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    """rotate:ID with a value is PERMISSION_DENIED naming write:ID; rotate:ID without one rotates a generated
    secret; write:ID sets an external secret's value."""
    value_file = tmp_path / "v"
    value_file.write_bytes(b"chosen-by-me")
    shared_broker.cli("admin", "secret", "create", "ext", "--value-file", str(value_file))
    shared_broker.cli("admin", "secret", "create", "gen", "--generator", "api-key")
    rotate_key, _ = _workload(
        shared_broker, tmp_path, "rotator", "broker.secrets.rotate:ext", "broker.secrets.rotate:gen"
    )
    write_key, _ = _workload(shared_broker, tmp_path, "writer", "broker.secrets.write:ext")
    rotator = _bearer(shared_broker, "rotator", rotate_key)
    writer = _bearer(shared_broker, "writer", write_key)
    with shared_broker.channel() as channel:
        stub = secret_pb2_grpc.SecretServiceStub(channel)
        code, details = _code(
            lambda: stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="ext", value=b"mine"), metadata=rotator)
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED and "broker.secrets.write:ext" in details
        assert stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="gen"), metadata=rotator).version.version == 2
        rotated = stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="ext", value=b"v2"), metadata=writer)
        assert rotated.version.version == 2


# item 16: a wildcard read scope works with the CLI and the sidecar's narrow requests ----------------------
def test_an_identity_holding_read_star_uses_broker_secret_get_and_unknown_is_not_found(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    """`broker secret get ID` asks for read:ID, granted from read:*; an unknown secret is NOT_FOUND."""
    value_file = tmp_path / "v"
    value_file.write_bytes(b"wild-value")
    shared_broker.cli("admin", "secret", "create", "wild", "--value-file", str(value_file))
    _, key_file = _workload(shared_broker, tmp_path, "wild-reader", "broker.secrets.read:*")
    got = shared_broker.cli("secret", "get", "wild", "--identity", "wild-reader", "--key-file", str(key_file))
    assert got.stdout == "wild-value"
    missing = shared_broker.cli(
        "secret", "get", "nowhere", "--identity", "wild-reader", "--key-file", str(key_file), check=False
    )
    assert missing.returncode == 1 and missing.stderr.startswith("broker: NOT_FOUND: secret 'nowhere'")


# item 20: bindings name issuers that exist ------------------------------------------------------------------
def test_a_binding_to_an_unknown_issuer_is_refused_naming_it(shared_broker: BrokerProcess) -> None:
    """FAILED_PRECONDITION, saying to create the issuer first."""
    result = shared_broker.cli(
        "admin", "identity", "create", "typo", "--kind", "service-account", "--bind", "https://kubernetes.typo", "x",
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(
        "broker: FAILED_PRECONDITION: bindings[0].issuer: 'https://kubernetes.typo' is not a trusted issuer"
    )


# item 12: private files, and what aiohttp logs of malformed HTTP --------------------------------------------
def test_the_database_files_are_0600_and_an_open_data_directory_is_narrowed(tmp_path: Path) -> None:
    """A data directory created 0755 by hand becomes 0700 (with a log line); broker.db and its -wal and -shm
    are 0600."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    proc = BrokerProcess(data)
    proc.start()
    try:
        proc.admin_token()
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert "data directory was open to others; narrowed to 0700" in proc.log()
        for name in ("broker.db", "broker.db-wal", "broker.db-shm", "kek", "admin.key"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    finally:
        proc.stop()


def test_malformed_http_is_logged_as_one_json_line_like_every_other_line(shared_broker: BrokerProcess) -> None:
    """Garbage sent to the HTTP port: every line of the log is still one JSON object."""
    before = len(shared_broker.log())
    with socket.create_connection(("127.0.0.1", shared_broker.http_port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\nX: \x00\x01\r\n\r\n")
        raw.recv(1024)

    def bad_request_logged() -> bool:  # aiohttp writes its line after the answer
        written = shared_broker.log()[before:]
        return "Error handling request" in written and written.endswith("\n")

    wait_for(bad_request_logged, 10, "the log line of the malformed request")
    for line in shared_broker.log().splitlines():
        if line.startswith(("identity broker", "  ")):
            continue  # the start-up banner
        assert isinstance(json.loads(line), dict), line


# items 18 and 21: start-up that fails in one line ------------------------------------------------------------
def test_a_port_in_use_fails_in_one_line_naming_the_setting_before_the_store_is_touched(tmp_path: Path) -> None:
    """gRPC or HTTP address taken: exit 1, one line, the setting named; no database or key was created."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for setting in ("BROKER_GRPC_LISTEN", "BROKER_HTTP_LISTEN"):
            data = tmp_path / setting / "data"
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("BROKER_")},
                "BROKER_DATA_DIR": str(data),
                "BROKER_GRPC_LISTEN": f"127.0.0.1:{free_port()}",
                "BROKER_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
                setting: f"127.0.0.1:{port}",
            }
            result = subprocess.run(
                [*BROKER, "serve"], env=env, capture_output=True, text=True, timeout=30, check=False
            )
            assert result.returncode == 1
            assert result.stderr.strip().splitlines() == [
                f"broker: cannot listen on 127.0.0.1:{port} ({'gRPC' if 'GRPC' in setting else 'HTTP'}): "
                f"address already in use; set {setting} to a free host:port"
            ], result.stderr
            assert not data.exists() or not any(data.iterdir())


def test_a_configured_issuer_whose_jwks_file_is_missing_stops_start_up(tmp_path: Path) -> None:
    """issuers[0].jwks_file names a file that does not exist: exit 1, one line naming the field."""
    config = tmp_path / "broker.yaml"
    config.write_text(
        "issuers:\n  - issuer: https://k8s.example\n    jwks_file: /nonexistent/jwks.json\n"
        "    audience: https://broker.example.com\n"
    )
    proc = BrokerProcess(tmp_path / "data")
    result = subprocess.run(
        [*BROKER, "serve", "--config", str(config)], env=proc.env(), capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("broker:")]
    assert errors == ["broker: issuers[0].jwks_file: /nonexistent/jwks.json cannot be read as a JWK Set"], result.stderr
    assert "Traceback" not in result.stderr


# item 23: what the CLI says --------------------------------------------------------------------------------------
def test_the_cli_refuses_a_bare_duration_and_reports_a_capped_ttl(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """--ttl 5 is refused naming the units; --ttl 2h against a 15m maximum gets a token and a note."""
    _, key_file = _workload(shared_broker, tmp_path, "capped", "c.read")
    shared_broker.cli("admin", "identity", "update", "capped", "--max-ttl", "15m")
    bare = shared_broker.cli(
        "token", "exchange", "--identity", "capped", "--key-file", str(key_file), "--ttl", "5", check=False
    )
    assert bare.returncode == 1 and bare.stderr.strip() == "broker: '5' has no unit: write 5s, 5m or 5h"
    capped = shared_broker.cli("token", "exchange", "--identity", "capped", "--key-file", str(key_file), "--ttl", "2h")
    claims = jwt.decode(capped.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900
    assert capped.stderr.startswith("broker: note: granted 15m, not the 2h asked for")


def test_the_cli_never_sends_a_private_key_as_a_public_one(tmp_path: Path) -> None:
    """With no broker at all: the private key is refused before any connection is tried."""
    private = tmp_path / "leak.pem"
    subprocess.run([*BROKER, "key", "generate", str(private)], check=True, capture_output=True)
    env = {**os.environ, "BROKER_ADDR": f"127.0.0.1:{free_port()}", "BROKER_ADMIN_KEY_FILE": str(private)}
    result = subprocess.run(
        [*BROKER, "admin", "identity", "create", "x", "--kind", "service-account", "--public-key-file", str(private)],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"broker: {private} holds a private key; give its public key")


def test_remove_key_takes_a_kid_starting_with_a_dash_and_introspect_prints_integers(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    """A thumbprint like '-abc' is the KID, not an option; exp and iat print as integers."""
    key, _ = _workload(shared_broker, tmp_path, "dashed")
    shared_broker.cli("key", "generate", str(tmp_path / "second.pem"))
    second = tmp_path / "second.pub.pem"
    shared_broker.cli("admin", "identity", "add-key", "dashed", "--public-key-file", str(second), "--kid=-dash")
    removed = shared_broker.cli("admin", "identity", "remove-key", "dashed", "-dash")
    assert removed.stdout.strip() == "removed key -dash from dashed"
    token = tmp_path / "t"
    token.write_text(shared_broker.exchange("dashed", key).access_token)
    shown = json.loads(shared_broker.cli("admin", "token", "introspect", "--token-file", str(token)).stdout)
    assert shown["active"] is True and isinstance(shown["exp"], int) and isinstance(shown["iat"], int)


def test_cli_help_documents_the_flags(shared_broker: BrokerProcess) -> None:
    """`token exchange --help` explains every flag; `issuer create --alg` lists all four algorithms."""
    exchange = shared_broker.cli("token", "exchange", "--help").stdout
    for flag, words in (("--identity", "identity id"), ("--ttl", "unit"), ("--scope", "repeatable")):
        assert flag in exchange and words in exchange
    issuer = " ".join(shared_broker.cli("admin", "issuer", "create", "--help").stdout.split())
    assert "one of ES256, EdDSA, PS256, RS256" in issuer


def test_an_assertion_spent_on_a_refused_exchange_cannot_be_replayed_for_less(shared_broker: BrokerProcess) -> None:
    """Refused for asking too much, the assertion is still used up: sent again asking for what
    its identity may have, it is a replay (UNAUTHENTICATED), never a token."""
    key = keys.load_private_key(shared_broker.admin_key)
    assertion = keys.make_assertion("admin", key, shared_broker.issuer)
    with pytest.raises(grpc.RpcError) as refused:
        exchange_assertion(shared_broker.addr, assertion, scopes=["payments.write"])
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as replayed:
        exchange_assertion(shared_broker.addr, assertion)
    assert replayed.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_the_kek_rotates_new_comma_old_then_new_alone(tmp_path: Path) -> None:
    """A broker sealed under one KEK restarts with BROKER_KEK=new,old, moves everything to the
    new key (its log says when it is done), and then starts and serves on the new key alone."""
    old, new = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    data = tmp_path / "data"
    first = BrokerProcess(data, env={"BROKER_KEK": old})
    first.start()
    value_file = tmp_path / "v"
    value_file.write_bytes(b"sealed-value")
    first.cli("admin", "secret", "create", "db", "--value-file", str(value_file))
    _, key_file = _workload(first, tmp_path, "reader", "broker.secrets.read:db")
    first.stop()

    rotating = BrokerProcess(data, env={"BROKER_KEK": f"{new},{old}", "BROKER_SCHEDULER_TICK": "200ms"})
    rotating.start()
    wait_for(lambda: "no sealed data is left" in rotating.log(), 15, "the rewrap to finish")
    rotating.stop()

    moved = BrokerProcess(data, env={"BROKER_KEK": new})
    moved.start()
    try:
        got = moved.cli("secret", "get", "db", "--identity", "reader", "--key-file", str(key_file))
        assert got.stdout == "sealed-value"
    finally:
        moved.stop()

"""broker-sidecar against a real `broker serve`: the README section "Running the sidecar", a
broker restart under a running TokenSource and sidecar, rotations reaching files and the child,
and failing fast at start."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from google.protobuf import duration_pb2

from broker_client import KeyAttestor, TokenSource, TokenUnavailable
from broker_client.v1 import secret_pb2, secret_pb2_grpc
from tests.e2e.harness import BrokerProcess, stop_group, wait_for
from tests.e2e.test_client import (
    API,
    VENV_BIN,
    as_written,
    blocks,
    expected_output,
    readme_section,
    register,
    run_sh,
    subscribed,
)

pytestmark = pytest.mark.e2e

SIDECAR = str(VENV_BIN / "broker-sidecar")
CHILD = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    log = pathlib.Path(sys.argv[1])
    def note(name):
        with log.open("a") as f:
            f.write(name + "\\n")
    signal.signal(signal.SIGHUP, lambda *_: note("HUP"))
    signal.signal(signal.SIGTERM, lambda *_: (note("TERM"), sys.exit(0)))
    note("START")
    while True:
        time.sleep(0.05)
    """
)


def words_in_order(expected: str, output: str) -> bool:
    """True if ``expected``'s words appear consecutively in ``output`` (terminal column layout aside)."""
    want, have = expected.split(), output.split()
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


def create_secret(proc: BrokerProcess, secret_id: str, value: bytes) -> None:
    """An externally valued secret with a ten-minute grace period (admin, over gRPC)."""
    secret = secret_pb2.Secret(
        generator=secret_pb2.SECRET_GENERATOR_EXTERNAL,
        rotation=secret_pb2.RotationPolicy(grace_period=duration_pb2.Duration(seconds=600)),
    )
    with proc.channel() as channel:
        secret_pb2_grpc.SecretServiceStub(channel).CreateSecret(
            secret_pb2.CreateSecretRequest(secret_id=secret_id, secret=secret, initial_value=value),
            metadata=proc.admin_metadata(),
            timeout=10,
        )


def rotate_secret(proc: BrokerProcess, secret_id: str, value: bytes) -> None:
    """RotateSecret as the admin, over gRPC."""
    metadata = proc.admin_metadata()
    with proc.channel() as channel:
        secret_pb2_grpc.SecretServiceStub(channel).RotateSecret(
            secret_pb2.RotateSecretRequest(secret_id=secret_id, value=value), metadata=metadata, timeout=10
        )


def claims_of(path: Path) -> dict[str, Any] | None:
    """The claims of the token in ``path`` (JSON values), or None if there is no file."""
    try:
        claims: dict[str, Any] = jwt.decode(path.read_text(), options={"verify_signature": False})
        return claims
    except FileNotFoundError:
        return None


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def child(tmp_path: Path) -> tuple[list[str], Path]:
    """A child program that logs START, every SIGHUP and SIGTERM."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return [sys.executable, str(script), str(tmp_path / "child.log")], tmp_path / "child.log"


@pytest.fixture
def sidecars() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Sidecars started by a test (each in its own session); stopped at the end with their children."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop_group(proc)


def test_readme_running_the_sidecar_works_as_written(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """After "Using the client"'s setup, both sidecar recipes run unchanged: --once writes the files,
    the running sidecar rewrites the password on rotation and app.py reloads, SIGTERM exits 0."""
    (setup,) = blocks(readme_section("Using the client"), "sh")
    run_sh(setup, shared_broker, tmp_path)
    recipe, flags = blocks(readme_section("Running the sidecar"), "sh")
    output = run_sh(as_written(recipe, shared_broker), shared_broker, tmp_path)
    for line in expected_output(recipe):
        assert words_in_order(line, output), f"{line!r} not in:\n{output}"
    assert "app: reloading credentials" in output
    assert (tmp_path / "run" / "orders-db").read_bytes() == b"second-password"
    (tmp_path / "run" / "orders.token").unlink()
    run_sh(as_written(flags, shared_broker), shared_broker, tmp_path)
    token = claims_of(tmp_path / "run" / "orders.token")
    assert token is not None and token["sub"] == "orders" and token["aud"] == "https://orders.example.com"


# restarts ---------------------------------------------------------------------------------------
def test_broker_restart_under_a_running_token_source_and_sidecar(
    broker_proc: BrokerProcess, tmp_path: Path, child: tuple[list[str], Path], sidecars: list[subprocess.Popen[bytes]]
) -> None:
    """The broker stops for longer than a token lives, then restarts: neither the TokenSource nor the
    sidecar's file ever hands out an expired token, both recover by themselves, and a rotation after
    the restart still reaches the file and the child."""
    command, log = child
    key = register(broker_proc, tmp_path, "steady", "steady.read", "broker.secrets.read:steady-db")
    create_secret(broker_proc, "steady-db", b"v1")
    token_file, secret_file = tmp_path / "run" / "steady.token", tmp_path / "run" / "steady-db"
    sidecar = subprocess.Popen(
        [SIDECAR, "--broker", broker_proc.addr, "--identity", "steady", "--key-file", str(key),
         "--token", f"path={token_file},scope=steady.read,audience={API},ttl=6s",
         "--secret", f"id=steady-db,path={secret_file}", "--", *command],
        start_new_session=True,
    )  # fmt: skip
    sidecars.append(sidecar)
    source = TokenSource(broker_proc.addr, KeyAttestor("steady", key), scopes=["steady.read"], audiences=[API], ttl=6)
    wait_for(lambda: "START" in lines(log), 30, "the sidecar to start its child")

    expired: list[str] = []
    seen = {"source_failures": 0, "file_missing": 0}
    newest_iat = {"source": 0, "file": 0}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = time.time()
            try:
                claims = jwt.decode(source.token(), options={"verify_signature": False})
                if claims["exp"] <= now:
                    expired.append(f"source handed out a token expired at {claims['exp']} at {now}")
                newest_iat["source"] = max(newest_iat["source"], claims["iat"])
            except TokenUnavailable:
                seen["source_failures"] += 1
            on_disk = claims_of(token_file)
            if on_disk is None:
                seen["file_missing"] += 1
            else:
                if on_disk["exp"] <= time.time():
                    expired.append(f"sidecar file held a token expired at {on_disk['exp']}")
                newest_iat["file"] = max(newest_iat["file"], on_disk["iat"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with source:
            wait_for(lambda: min(newest_iat.values()) > 0, 10, "a token from the TokenSource and in the file")
            broker_proc.stop()
            wait_for(  # the outage outlasts the tokens' 6 s life
                lambda: seen["source_failures"] > 0 and seen["file_missing"] > 0, 20, "both tokens to run out"
            )
            assert sidecar.poll() is None, "the sidecar must ride through the outage"
            restarted = int(time.time())
            broker_proc.start()
            wait_for(lambda: newest_iat["source"] >= restarted, 40, "the TokenSource to recover")
            wait_for(lambda: newest_iat["file"] >= restarted, 40, "the sidecar's token file to recover")
            rotate_secret(broker_proc, "steady-db", b"v2")
            wait_for(lambda: secret_file.read_bytes() == b"v2", 15, "the rotation after the restart")
            wait_for(lambda: "HUP" in lines(log), 10, "the child's signal")
    finally:
        stop.set()
        watcher.join(10)
    assert expired == []
    assert seen["source_failures"] > 0 and seen["file_missing"] > 0  # the outage did outlast the tokens
    sidecar.send_signal(signal.SIGTERM)
    assert sidecar.wait(30) == 0
    assert lines(log)[-1] == "TERM"


# rotations and start-up -------------------------------------------------------------------------
def test_rotation_reaches_the_file_within_about_a_second_and_signals_the_child(
    shared_broker: BrokerProcess,
    tmp_path: Path,
    child: tuple[list[str], Path],
    sidecars: list[subprocess.Popen[bytes]],
) -> None:
    """After RotateSecret the file holds the new value within about a second, written once, 0600,
    and the child got exactly one SIGHUP."""
    command, log = child
    key = register(shared_broker, tmp_path, "rotated", "broker.secrets.read:rotated-db")
    create_secret(shared_broker, "rotated-db", b"first")
    path = tmp_path / "rotated-db"
    args = [SIDECAR, "--broker", shared_broker.addr, "--identity", "rotated", "--key-file", str(key)]
    sidecars.append(
        subprocess.Popen([*args, "--secret", f"id=rotated-db,path={path}", "--", *command], start_new_session=True)
    )
    wait_for(lambda: lines(log) == ["START"], 30, "the child")
    admin = shared_broker.admin_metadata()
    wait_for(lambda: subscribed(shared_broker, "rotated-db", admin), 10, "the sidecar's watch to subscribe")
    rotate_secret(shared_broker, "rotated-db", b"second")
    rotated = time.monotonic()
    wait_for(lambda: path.read_bytes() == b"second", 10, "the new value")
    assert time.monotonic() - rotated < 2.0
    wait_for(lambda: lines(log) == ["START", "HUP"], 5, "the signal")
    assert path.stat().st_mode & 0o777 == 0o600
    time.sleep(1)  # not a wait for something: a second SIGHUP, if any, would come within it
    assert lines(log) == ["START", "HUP"]


def test_sidecar_fails_fast_when_the_broker_refuses_it(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """A scope the identity may not have, or an identity the broker does not know: exit 1 at once,
    one line naming the identity and the broker's reason; nothing is written."""
    key = register(shared_broker, tmp_path, "limited", "limited.read")
    for identity, scope, reason in (
        ("limited", "limited.write", "PERMISSION_DENIED"),
        ("nobody", "limited.read", "UNAUTHENTICATED"),
    ):
        started = time.monotonic()
        result = subprocess.run(
            [SIDECAR, "--broker", shared_broker.addr, "--identity", identity, "--key-file", str(key),
             "--token", f"path={tmp_path}/t,scope={scope}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert time.monotonic() - started < 10
        assert f"as {identity}" in result.stderr and reason in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, not one per attempt
        assert not (tmp_path / "t").exists()


def test_sidecar_refused_secret_fails_fast_too(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """A secret the identity may not read stops start-up with PERMISSION_DENIED naming the scope."""
    key = register(shared_broker, tmp_path, "curious", "curious.read")
    create_secret(shared_broker, "not-yours", b"x")
    result = subprocess.run(
        [SIDECAR, "--broker", shared_broker.addr, "--identity", "curious", "--key-file", str(key),
         "--secret", f"id=not-yours,path={tmp_path}/s"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "PERMISSION_DENIED" in result.stderr and "broker.secrets.read:not-yours" in result.stderr

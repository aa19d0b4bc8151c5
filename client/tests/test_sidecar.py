"""broker-sidecar as a real process against the FakeBroker: files, signals, outages, exit codes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import jwt
import pytest
from _support import stop_session, wait_until

from broker_client.sidecar import atomic_write
from broker_client.testing import FakeBroker

SIDECAR = [sys.executable, "-m", "broker_client.sidecar"]
CHILD = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    log = pathlib.Path(sys.argv[1])
    def note(name):
        with log.open("a") as f:
            f.write(name + "\\n")
    signal.signal(signal.SIGHUP, lambda *_: note("HUP"))
    def term(*_):
        note("TERM")
        sys.exit(0)
    signal.signal(signal.SIGTERM, term)
    note("START")
    while True:
        time.sleep(0.05)
    """
)


def _args(fake: FakeBroker, key_file: Path, *extra: str) -> list[str]:
    return [*SIDECAR, "--broker", fake.address, "--identity", "app", "--key-file", str(key_file), *extra]


@pytest.fixture
def child(tmp_path: Path) -> tuple[list[str], Path]:
    """A child command that logs START, each SIGHUP and SIGTERM to a file."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return [sys.executable, str(script), str(tmp_path / "child.log")], tmp_path / "child.log"


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Sidecar processes started by a test, each in its own session; stopped at the end with their children."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        stop_session(proc)


def _start(procs: list[subprocess.Popen[str]], args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    procs.append(proc)
    return proc


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_once_writes_every_file_0600_and_exits(fake: FakeBroker, key_file: Path, tmp_path: Path) -> None:
    """--once exchanges, reads, writes each file atomically with mode 0600, and exits 0."""
    fake.set_secret("db", b"s3cret")
    out = tmp_path / "run"
    result = subprocess.run(
        _args(fake, key_file, "--once", "--token", f"path={out}/api.token,scope=api.read,audience=https://api",
              "--secret", f"id=db,path={out}/db"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    claims = jwt.decode((out / "api.token").read_text(), options={"verify_signature": False})
    assert claims["sub"] == "app" and claims["scope"] == "api.read" and claims["aud"] == "https://api"
    assert (out / "db").read_bytes() == b"s3cret"
    for path in (out / "api.token", out / "db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in out.iterdir()) == ["api.token", "db"]  # no temporary files left
    assert "s3cret" not in result.stderr


def test_fails_fast_when_it_cannot_authenticate(fake: FakeBroker, key_file: Path, tmp_path: Path) -> None:
    """A refused exchange at start exits 1 at once with one line naming the identity and the reason."""
    fake.fail("ExchangeToken", grpc.StatusCode.PERMISSION_DENIED, details="scope 'api.write' is not allowed for app")
    started = time.monotonic()
    result = subprocess.run(
        _args(fake, key_file, "--token", f"path={tmp_path}/t,scope=api.write"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert time.monotonic() - started < 8
    assert "cannot get a token" in result.stderr and "as app" in result.stderr
    assert "PERMISSION_DENIED" in result.stderr and "api.write" in result.stderr
    assert not (tmp_path / "t").exists()


def test_unreachable_broker_is_waited_for_then_reported(key_file: Path, tmp_path: Path) -> None:
    """With nothing listening, start-up waits --start-timeout, then exits 1 saying UNAVAILABLE."""
    result = subprocess.run(
        [*SIDECAR, "--broker", "127.0.0.1:1", "--identity", "app", "--key-file", str(key_file),
         "--start-timeout", "1s", "--token", f"path={tmp_path}/t"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "UNAVAILABLE" in result.stderr and "127.0.0.1:1" in result.stderr


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    """A configuration mistake exits 2 with the mistake named."""
    result = subprocess.run([*SIDECAR, "--token", f"path={tmp_path}/t"], capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "needs identity and key_file" in result.stderr


def test_rotation_rewrites_the_file_and_signals_the_child(
    fake: FakeBroker,
    key_file: Path,
    tmp_path: Path,
    child: tuple[list[str], Path],
    procs: list[subprocess.Popen[str]],
) -> None:
    """After a rotation the secret file holds the new value within about a second, and the child got SIGHUP."""
    command, log = child
    fake.set_secret("db", b"one")
    secret = tmp_path / "db"
    proc = _start(procs, _args(fake, key_file, "--secret", f"id=db,path={secret}", "--", *command))
    wait_until(lambda: _lines(log) == ["START"] and fake.count("WatchSecret") == 1, what="child and watch")
    assert secret.read_bytes() == b"one"
    fake.set_secret("db", b"two")
    rotated = time.monotonic()
    wait_until(lambda: secret.read_bytes() == b"two", timeout=5, what="the new value")
    assert time.monotonic() - rotated < 2.5
    wait_until(lambda: _lines(log) == ["START", "HUP"], what="the signal")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert _lines(log) == ["START", "HUP", "TERM"]


def test_unchanged_content_is_not_rewritten_nor_signalled(
    fake: FakeBroker,
    key_file: Path,
    tmp_path: Path,
    child: tuple[list[str], Path],
    procs: list[subprocess.Popen[str]],
) -> None:
    """Events that do not change a file leave it (same inode) and the child alone."""
    command, log = child
    fake.set_secret("db", b"one")
    secret = tmp_path / "db"
    proc = _start(procs, _args(fake, key_file, "--secret", f"id=db,path={secret}", "--", *command))
    wait_until(lambda: _lines(log) == ["START"] and fake.count("WatchSecret") == 1, what="child and watch")
    inode = secret.stat().st_ino
    fake.set_secret("other", b"x")  # another secret: no event for this one
    time.sleep(1.5)
    assert secret.stat().st_ino == inode and _lines(log) == ["START"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_token_refresh_rewrites_the_token_file(
    fake: FakeBroker, key_file: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """A short-lived token is replaced in its file before it expires."""
    token = tmp_path / "t"
    proc = _start(procs, _args(fake, key_file, "--token", f"path={token},ttl=3s"))
    wait_until(token.exists, what="the first token")
    first = token.read_text()
    wait_until(lambda: token.read_text() != first, timeout=10, what="the refreshed token")
    assert jwt.decode(token.read_text(), options={"verify_signature": False})["exp"] > time.time()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_expired_token_is_removed_during_an_outage_and_restored_after(
    fake: FakeBroker, key_file: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """While the broker refuses, the token file never holds an expired token; it comes back after."""
    token = tmp_path / "t"
    proc = _start(procs, _args(fake, key_file, "--token", f"path={token},ttl=3s"))
    wait_until(token.exists, what="the first token")
    fake.fail("ExchangeToken", grpc.StatusCode.UNAVAILABLE)
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline and token.exists():
        exp = jwt.decode(token.read_text(), options={"verify_signature": False})["exp"]
        assert exp > time.time()  # never past expiry
        time.sleep(0.05)
    assert not token.exists()
    fake.heal()
    wait_until(token.exists, timeout=15, what="the token after the outage")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_rides_through_a_broker_restart(
    fake: FakeBroker,
    key_file: Path,
    tmp_path: Path,
    child: tuple[list[str], Path],
    procs: list[subprocess.Popen[str]],
) -> None:
    """The broker goes away and comes back on the same port: the sidecar keeps running and follows rotations."""
    command, log = child
    fake.set_secret("db", b"one")
    secret = tmp_path / "db"
    proc = _start(procs, _args(fake, key_file, "--secret", f"id=db,path={secret}", "--", *command))
    wait_until(lambda: fake.count("WatchSecret") == 1, what="the watch")
    fake.stop()
    time.sleep(1.0)
    assert proc.poll() is None and secret.read_bytes() == b"one"
    fake.start()
    fake.set_secret("db", b"two")
    wait_until(lambda: secret.read_bytes() == b"two", timeout=15, what="the rotation after the restart")
    wait_until(lambda: "HUP" in _lines(log), what="the signal")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_exits_with_the_childs_status(
    fake: FakeBroker, key_file: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """When the child exits by itself, the sidecar exits with its status."""
    command = [sys.executable, "-c", "import sys; sys.exit(7)"]
    proc = _start(procs, _args(fake, key_file, "--token", f"path={tmp_path}/t", "--", *command))
    assert proc.wait(30) == 7


def test_sigterm_without_a_child_exits_cleanly(
    fake: FakeBroker, key_file: Path, tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """SIGTERM stops a running sidecar with status 0."""
    proc = _start(procs, _args(fake, key_file, "--token", f"path={tmp_path}/t"))
    wait_until((tmp_path / "t").exists, what="the token")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_atomic_write_only_when_content_changed(tmp_path: Path) -> None:
    """atomic_write replaces the file (new inode, 0600) for new content and leaves equal content alone."""
    path = tmp_path / "sub" / "f"
    assert atomic_write(path, b"a") is True
    inode = path.stat().st_ino
    assert atomic_write(path, b"a") is False and path.stat().st_ino == inode
    assert atomic_write(path, b"b") is True and path.read_bytes() == b"b"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["f"]


def test_atomic_write_tightens_the_mode_of_an_equal_file(tmp_path: Path) -> None:
    """An existing file with the same content but a loose mode is made 0600."""
    path = tmp_path / "f"
    path.write_bytes(b"a")
    path.chmod(0o644)
    assert atomic_write(path, b"a") is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stopping_a_test_sidecar_never_leaves_its_child_behind(
    fake: FakeBroker, key_file: Path, tmp_path: Path, child: tuple[list[str], Path]
) -> None:
    """Even a sidecar that ignores SIGTERM: stop_session takes its child with it (no orphan after the suite)."""
    command, log = child
    code = (
        "import signal, sys, runpy; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "sys.argv = ['broker-sidecar', *sys.argv[1:]]; runpy.run_module('broker_client.sidecar', run_name='__main__')"
    )
    ignoring = [sys.executable, "-c", code]
    args = _args(fake, key_file, "--token", f"path={tmp_path / 't'},scope=a", "--", *command)
    proc = subprocess.Popen([*ignoring, *args[3:]], text=True, start_new_session=True)
    wait_until(lambda: _lines(log) == ["START"], what="the child")
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children
    stop_session(proc, timeout=1)
    for pid in children:
        wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), timeout=5, what=f"child {pid} gone")

"""People end to end on a real `broker serve` and the real CLI: `broker login | whoami | logout |
passwd`, `broker admin user ...`, `broker admin` driven by a person's login, refresh rotation
and reuse detection, a person delegating to an agent, and nothing secret in the log."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pyotp
import pytest

from broker_client import keys
from broker_client.v1 import auth_pb2, auth_pb2_grpc, token_pb2, token_pb2_grpc
from tests.e2e.harness import BROKER, TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT, BrokerProcess
from tests.e2e.test_rate_limits import retry_delay

pytestmark = pytest.mark.e2e

PASSWORD = "the moon is a harsh mistress"


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for the module, with a person who holds broker.admin."""
    broker = BrokerProcess(tmp_path_factory.mktemp("people") / "data")
    broker.start()
    broker.cli("admin", "user", "create", "dana", "--scope", "broker.admin", "--scope", "docs.read",
               "--password-stdin", input=f"{PASSWORD}\n")  # fmt: skip
    yield broker
    broker.stop()


def login(proc: BrokerProcess, name: str = "dana", password: str = PASSWORD) -> auth_pb2.LoginResponse:
    with proc.channel() as channel:
        return auth_pb2_grpc.AuthServiceStub(channel).Login(auth_pb2.LoginRequest(username=name, password=password))


def active(proc: BrokerProcess, token: str) -> bool:
    with proc.channel() as channel:
        reply = token_pb2_grpc.TokenServiceStub(channel).IntrospectToken(
            token_pb2.IntrospectTokenRequest(token=token), metadata=proc.admin_metadata()
        )
    return bool(reply.active)


def test_login_whoami_admin_and_logout_through_the_cli(proc: BrokerProcess) -> None:
    """The login is saved 0600 in a 0700 directory and drives `broker admin` without the admin key;
    logout ends it on the broker too."""
    out = proc.cli("login", input=f"dana\n{PASSWORD}\n", admin_key=False)
    assert out.stdout.startswith("logged in as dana")
    saved = proc.config_home / "broker" / "session.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert PASSWORD not in saved.read_text()
    claims = json.loads(proc.cli("whoami", admin_key=False).stdout)
    assert (claims["sub"], claims["kind"], claims["amr"]) == ("user:dana", "human", ["pwd"])
    users = json.loads(proc.cli("admin", "user", "list", admin_key=False).stdout)
    assert [u["username"] for u in users] == ["dana"]
    token = proc.cli("whoami", "--token", admin_key=False).stdout.strip()
    assert proc.cli("logout", admin_key=False).stdout.strip() == "logged out dana"
    assert not saved.exists() or "dana" not in saved.read_text()
    assert not active(proc, token)
    error = proc.cli("whoami", admin_key=False, check=False)
    assert error.returncode == 1 and "not logged in" in error.stderr
    keyless = proc.cli("admin", "user", "list", admin_key=False, check=False)  # so the login was what worked
    assert keyless.returncode == 1 and "admin key" in keyless.stderr


def test_an_unknown_user_and_a_wrong_password_print_the_same_line(proc: BrokerProcess) -> None:
    """Same exit status, same message (only the request id differs)."""
    wrong = proc.cli("login", input="dana\nnot the passphrase at all\n", check=False)
    unknown = proc.cli("login", input="nobody\nnot the passphrase at all\n", check=False)
    assert wrong.returncode == unknown.returncode == 1
    assert (
        wrong.stderr.split(" (request id")[0]
        == unknown.stderr.split(" (request id")[0]
        == ("broker: UNAUTHENTICATED: invalid user name or password")
    )
    assert login(proc).access_token  # two failures do not lock anybody out


def test_refresh_rotates_and_reuse_revokes_the_family(proc: BrokerProcess) -> None:
    """On the real process: the second use of a refresh token kills every token of the login."""
    first = login(proc)
    with proc.channel() as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        second = stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))
        assert active(proc, second.access_token)
        with pytest.raises(grpc.RpcError) as reuse:
            stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=first.refresh_token))
    assert reuse.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert not active(proc, second.access_token)
    assert proc.audit_events("action=auth.refresh_reuse")


def test_a_delegated_agent_token_dies_when_the_person_is_disabled(proc: BrokerProcess, tmp_path: Path) -> None:
    """Kate's token, delegated to an agent with the CLI; disabling Kate ends both at once."""
    proc.cli("admin", "user", "create", "kate", "--scope", "docs.read", "--password-stdin",
             input="tea at five, every day\n")  # fmt: skip
    agent = tmp_path / "agent.pem"
    proc.cli("key", "generate", str(agent))
    proc.cli("admin", "identity", "create", "helper", "--kind", "ai-agent", "--delegable-scope", "docs.read",
             "--public-key-file", str(tmp_path / "agent.pub.pem"))  # fmt: skip
    person = login(proc, "kate", "tea at five, every day").access_token
    (tmp_path / "kate.token").write_text(person)
    delegated = proc.cli("token", "delegate", "--subject-token-file", str(tmp_path / "kate.token"),
                         "--identity", "helper", "--key-file", str(agent)).stdout.strip()  # fmt: skip
    assert active(proc, delegated)
    proc.cli("admin", "user", "disable", "kate")
    assert not active(proc, delegated) and not active(proc, person)
    with proc.channel() as channel, pytest.raises(grpc.RpcError) as refused:
        token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(
            token_pb2.ExchangeTokenRequest(
                subject_token=person, subject_token_type=TOKEN_TYPE_ACCESS,
                actor_token=keys.make_assertion("helper", keys.load_private_key(agent), proc.issuer),
                actor_token_type=TOKEN_TYPE_JWT,
            )
        )  # fmt: skip
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_passwd_changes_the_password_and_ends_every_login(proc: BrokerProcess) -> None:
    """`broker passwd` with the current password; the old password and old tokens stop working."""
    proc.cli("admin", "user", "create", "lee", "--password-stdin", input="first of many passphrases\n")
    other = login(proc, "lee", "first of many passphrases")
    proc.cli("login", "--user", "lee", input="first of many passphrases\n", admin_key=False)
    new = "second of many passphrases"
    out = proc.cli("passwd", input=f"first of many passphrases\n{new}\n{new}\n", admin_key=False)
    assert "password changed" in out.stdout
    assert not active(proc, other.access_token)
    with pytest.raises(grpc.RpcError):
        login(proc, "lee", "first of many passphrases")
    assert login(proc, "lee", new).access_token


def test_no_password_or_refresh_token_reaches_the_log(proc: BrokerProcess) -> None:
    """After every flow above, the daemon's log holds no password and no refresh token."""
    pair = login(proc)
    log = proc.log()
    for secret in (PASSWORD, "tea at five, every day", "second of many passphrases", pair.refresh_token, "brt_"):
        assert secret not in log
    assert "$argon2id$" not in log and "auth.login" in log


def test_mfa_through_the_cli_refuses_a_replayed_code(proc: BrokerProcess) -> None:
    """`broker mfa enroll` + `confirm` with the app's code; that code again is refused at login;
    a recovery code logs in with amr pwd, otp, mfa."""
    proc.cli("admin", "user", "create", "maya", "--password-stdin", input="two factors are better\n")
    proc.cli("login", "--user", "maya", input="two factors are better\n", admin_key=False)
    uri = proc.cli("mfa", "enroll", admin_key=False).stdout.strip()
    app = pyotp.parse_uri(uri)
    assert isinstance(app, pyotp.TOTP)
    code = app.now()
    confirmed = proc.cli("mfa", "confirm", input=f"{code}\n", admin_key=False)
    recovery = confirmed.stdout.split()
    assert len(recovery) == 10 and "MFA is on" in confirmed.stderr
    replay = proc.cli("login", "--user", "maya", input=f"two factors are better\n{code}\n", check=False)
    assert replay.returncode == 1 and "invalid user name or password" in replay.stderr
    proc.cli("login", "--user", "maya", input=f"two factors are better\n{recovery[0]}\n", admin_key=False)
    assert json.loads(proc.cli("whoami", admin_key=False).stdout)["amr"] == ["pwd", "otp", "mfa"]
    assert uri.split("secret=")[1].split("&")[0] not in proc.log()


def test_a_setup_code_printed_at_create_lets_the_person_choose_a_password(proc: BrokerProcess) -> None:
    """`admin user create` without a password prints a setup code once; `login --setup-code` uses it up."""
    created = proc.cli("admin", "user", "create", "ravi")
    code = created.stderr.strip().splitlines()[-1]
    assert code.startswith("bsc_") and code not in created.stdout
    out = proc.cli("login", "--setup-code", input=f"ravi\n{code}\nravi chose this one? no: mine\n"
                   "ravi chose this one? no: mine\n", check=False, admin_key=False)  # fmt: skip
    assert out.returncode == 1 and "must not contain the user name" in out.stderr  # the code is still good
    chosen = "a passphrase of my own"
    out = proc.cli("login", "--setup-code", input=f"ravi\n{code}\n{chosen}\n{chosen}\n", admin_key=False)
    assert out.stdout.startswith("logged in as ravi")
    again = proc.cli("login", "--setup-code", input=f"ravi\n{code}\n{chosen}\n{chosen}\n", check=False)
    assert again.returncode == 1 and "invalid user name or password" in again.stderr
    assert login(proc, "ravi", chosen).access_token
    assert code not in proc.log()


def test_admin_user_export_prints_everything_held_about_a_person(proc: BrokerProcess) -> None:
    """`broker admin user export` is JSON with the profile, the logins and the audit events naming them."""
    proc.cli("admin", "user", "create", "sam", "--password-stdin", input="export everything held\n")
    login(proc, "sam", "export everything held")
    exported = json.loads(proc.cli("admin", "user", "export", "sam").stdout)
    assert exported["user"]["username"] == "sam" and len(exported["sessions"]) == 1
    assert [e["action"] for e in exported["audit_events"]] == ["user.create", "auth.login"]


def test_the_cli_refreshes_a_login_about_to_expire_by_itself(proc: BrokerProcess) -> None:
    """With under a minute left on the saved access token, the next command refreshes the pair and saves it."""
    proc.cli("admin", "user", "create", "uma", "--scope", "broker.admin", "--password-stdin",
             input="refresh me when due\n")  # fmt: skip
    proc.cli("login", "--user", "uma", input="refresh me when due\n", admin_key=False)
    saved = proc.config_home / "broker" / "session.json"
    sessions = json.loads(saved.read_text())
    before = dict(sessions[proc.addr])
    sessions[proc.addr]["expires_at"] = int(time.time()) + 30  # as if 14.5 minutes had passed
    saved.write_text(json.dumps(sessions))
    users = json.loads(proc.cli("admin", "user", "list", admin_key=False).stdout)
    assert "uma" in [u["username"] for u in users]
    after = json.loads(saved.read_text())[proc.addr]
    assert after["refresh_token"] != before["refresh_token"] and after["access_token"] != before["access_token"]
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert proc.audit_events("action=auth.refresh")
    proc.cli("logout", admin_key=False)


@contextlib.contextmanager
def from_address(proc: BrokerProcess, source: str) -> Iterator[str]:
    """A loopback TCP forwarder to the broker whose connections come from ``source``
    (127.0.0.x): the broker sees another client address. Yields the address to dial."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", proc.grpc_port), source_address=(source, 0))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture(scope="module")
def quick_backoff(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """A broker whose account backoff stops at one second (BROKER_LOGIN_MAX_BACKOFF), so waiting
    out twenty failures takes seconds, not ten minutes."""
    broker = BrokerProcess(tmp_path_factory.mktemp("lockout") / "data", env={"BROKER_LOGIN_MAX_BACKOFF": "1s"})
    broker.start()
    yield broker
    broker.stop()


def test_failures_from_three_addresses_lock_the_account_until_unlock(quick_backoff: BrokerProcess) -> None:
    """On the real process: 20 failed logins from 127.0.0.2-4 (each address under its limit of 8,
    each backoff waited out) lock the account; the right password then fails like a wrong one;
    `broker admin user unlock` lets the person in again."""
    proc = quick_backoff
    proc.cli("admin", "user", "create", "xena", "--password-stdin", input="the right passphrase\n")
    wrong = auth_pb2.LoginRequest(username="xena", password="a wrong passphrase")
    failures = 0
    for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        with from_address(proc, source) as addr, grpc.insecure_channel(addr) as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            for _ in range(7):
                if failures == 20:
                    break
                while True:
                    try:
                        stub.Login(wrong, timeout=10)
                    except grpc.RpcError as exc:
                        if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                            time.sleep(retry_delay(exc))  # the account's backoff: 1 s here
                            continue
                        assert exc.code() is grpc.StatusCode.UNAUTHENTICATED
                    break
                failures += 1
    assert failures == 20 and [e.target for e in proc.audit_events("action=auth.lockout")] == ["xena"]
    with pytest.raises(grpc.RpcError) as locked:
        login(proc, "xena", "the right passphrase")
    assert (locked.value.code(), locked.value.details()) == (
        grpc.StatusCode.UNAUTHENTICATED, "invalid user name or password",
    )  # fmt: skip
    assert json.loads(proc.cli("admin", "user", "get", "xena").stdout)["locked"] is True
    assert proc.cli("admin", "user", "unlock", "xena").stdout.strip() == "unlocked xena"
    assert login(proc, "xena", "the right passphrase").access_token


Answer = str | Callable[[str], str]


def _on_a_terminal(proc: BrokerProcess, *args: str, answers: dict[str, Answer]) -> str:
    """Run the CLI on a pseudo-terminal, as a person would: answer each prompt (a key of
    ``answers``; a callable gets what the terminal showed so far) when it appears; returns
    everything the terminal showed."""
    env = {k: v for k, v in proc.env().items() if k != "BROKER_ADMIN_KEY_FILE"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the terminal (exec replaces it; it never returns here)
        os.execve(BROKER[0], [*BROKER, *args], env)  # noqa: S606 - a fixed argument list, like S603
    shown, pending = "", dict(answers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal: it is done
                break
            if not chunk:
                break
            shown += chunk.decode(errors="replace")
            for prompt in [p for p in pending if shown.rstrip().endswith(p)]:
                answer = pending.pop(prompt)
                os.write(fd, (answer(shown) if callable(answer) else answer).encode() + b"\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    return shown


def test_login_and_mfa_enrolment_on_a_terminal_prompt_and_draw_a_qr_code(proc: BrokerProcess) -> None:
    """On a TTY: login prompts (the password not echoed), `mfa enroll` draws the QR code, asks for
    the app's first code and prints the recovery codes; the next login asks for a one-time code."""
    proc.cli("admin", "user", "create", "yuki", "--password-stdin", input="typed on a terminal\n")
    password = {"user name:": "yuki", "password:": "typed on a terminal"}
    shown = _on_a_terminal(proc, "login", answers=dict(password))
    assert "logged in as yuki" in shown and "typed on a terminal" not in shown

    def first_code(shown: str) -> str:
        app = pyotp.parse_uri(re.findall(r"otpauth://\S+", shown)[-1])
        assert isinstance(app, pyotp.TOTP)
        return app.now()

    enrolled = _on_a_terminal(proc, "mfa", "enroll", answers={"first code from the app:": first_code})
    recovery = re.findall(r"^[A-Z2-7]{4}(?:-[A-Z2-7]{4}){3}\r?$", enrolled, re.M)
    assert "\u2588" in enrolled and len(recovery) == 10  # the QR code is drawn with block characters
    again = _on_a_terminal(proc, "login", answers={**password, "one-time code:": recovery[0].strip()})
    assert "logged in as yuki" in again
    proc.cli("logout", admin_key=False)

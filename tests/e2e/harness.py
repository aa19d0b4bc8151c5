"""A real `broker serve` subprocess on 127.0.0.1 and free ports, and helpers to drive it."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import grpc
from google.protobuf import duration_pb2

from broker_client import keys, tls_credentials
from broker_client.v1 import audit_pb2, audit_pb2_grpc, token_pb2, token_pb2_grpc

TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
#: The installed console script, as a user runs it.
BROKER = [str(Path(sys.executable).with_name("broker"))]
#: gRPC call metadata as grpc's stubs type it: a tuple of (key, value) pairs.
Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    """gRPC metadata carrying ``token`` as a bearer credential."""
    return (("authorization", f"Bearer {token}"),)


def stop_group(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM to the process group ``proc`` leads (started with ``start_new_session``), so that
    it stops its children itself; then SIGKILL to whatever of the group is left. Nothing survives."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # background members of the group exit after their leader
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, *, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` if it does not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exchange_assertion(
    addr: str,
    assertion: str,
    *,
    scopes: Sequence[str] = (),
    audiences: Sequence[str] = (),
    requested_ttl: duration_pb2.Duration | None = None,
    requested_token_type: str = "",
    channel: grpc.Channel | None = None,
) -> token_pb2.ExchangeTokenResponse:
    """ExchangeToken with ``assertion`` as the subject token, over ``channel`` (plain text to ``addr`` by default)."""
    with channel or grpc.insecure_channel(addr) as opened:
        response: token_pb2.ExchangeTokenResponse = token_pb2_grpc.TokenServiceStub(opened).ExchangeToken(
            token_pb2.ExchangeTokenRequest(
                subject_token=assertion,
                subject_token_type=TOKEN_TYPE_JWT,
                scopes=scopes,
                audiences=audiences,
                requested_ttl=requested_ttl,
                requested_token_type=requested_token_type,
            ),
            timeout=10,
        )
    return response


class BrokerProcess:
    """Starts, probes and stops one daemon process."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"broker-{self.grpc_port}.log"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def tls(self) -> bool:
        """Whether the daemon serves TLS (BROKER_TLS_CERT_FILE in its environment)."""
        return bool(self.extra_env.get("BROKER_TLS_CERT_FILE"))

    @property
    def http_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.http_port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """How the tests reach a TLS daemon: BROKER_CA_FILE, and the client certificate when set."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.extra_env.get("BROKER_CA_FILE"))
        if self.extra_env.get("BROKER_CLIENT_CERT_FILE"):
            context.load_cert_chain(self.extra_env["BROKER_CLIENT_CERT_FILE"], self.extra_env["BROKER_CLIENT_KEY_FILE"])
        return context

    @property
    def issuer(self) -> str:
        return self.extra_env.get("BROKER_ISSUER", self.http_url)

    @property
    def admin_key(self) -> Path:
        return self.data_dir / "admin.key"

    @property
    def config_home(self) -> Path:
        """The CLI's XDG_CONFIG_HOME (where `broker login` keeps the login)."""
        return self.data_dir.parent / f"config-{self.grpc_port}"

    def env(self) -> dict[str, str]:
        """The environment the daemon and the CLI run with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
        env.update(
            BROKER_DATA_DIR=str(self.data_dir),
            BROKER_GRPC_LISTEN=self.addr,
            BROKER_HTTP_LISTEN=f"127.0.0.1:{self.http_port}",
            BROKER_ADDR=self.addr,
            BROKER_ADMIN_KEY_FILE=str(self.admin_key),
            BROKER_LOG_FORMAT="json",
            XDG_CONFIG_HOME=str(self.config_home),
        )
        env.update(self.extra_env)
        return env

    def start(self, *serve_args: str, timeout: float = 30.0) -> None:
        """Start the daemon (``broker serve *serve_args``) and wait until /readyz answers 200."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)  # the daemon makes its data dir (0700)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([*BROKER, "serve", *serve_args], env=self.env(), stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.http_url}/readyz", timeout=1, context=self.ssl_context()) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"broker not ready within {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Signal the daemon and wait for it; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def log(self) -> str:
        """Everything the daemon wrote so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cli(
        self, *args: str, check: bool = True, timeout: float = 60, input: str | None = None, admin_key: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the `broker` CLI against this daemon, ``input`` on its stdin. ``admin_key=False``: as a
        person would, without BROKER_ADMIN_KEY_FILE and where no data/admin.key is (`broker admin`
        then acts as whoever is logged in)."""
        env = self.env()
        cwd = None
        if not admin_key:
            del env["BROKER_ADMIN_KEY_FILE"]
            cwd = self.data_dir.parent / f"elsewhere-{self.grpc_port}"
            cwd.mkdir(exist_ok=True)
        result = subprocess.run(
            [*BROKER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False, input=input,
            cwd=cwd,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"broker {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def channel(self) -> grpc.Channel:
        """A channel to the daemon: TLS as the CLI would open it (BROKER_CA_FILE, client certificate)."""
        if not self.tls:
            return grpc.insecure_channel(self.addr)
        env = self.extra_env
        credentials = tls_credentials(
            env.get("BROKER_CA_FILE"),
            cert_file=env.get("BROKER_CLIENT_CERT_FILE"),
            key_file=env.get("BROKER_CLIENT_KEY_FILE"),
        )
        return grpc.secure_channel(self.addr, credentials)

    def http_json(self, path: str) -> object:
        """GET a JSON document from the HTTP listener."""
        with urllib.request.urlopen(f"{self.http_url}{path}", timeout=5, context=self.ssl_context()) as resp:
            return json.loads(resp.read())

    def exchange(
        self,
        identity_id: str,
        key: keys.PrivateKey,
        *,
        scopes: Sequence[str] = (),
        audiences: Sequence[str] = (),
        requested_ttl: duration_pb2.Duration | None = None,
        requested_token_type: str = "",
    ) -> token_pb2.ExchangeTokenResponse:
        """Exchange a fresh self-signed assertion over gRPC."""
        assertion = keys.make_assertion(identity_id, key, self.issuer)
        return exchange_assertion(
            self.addr,
            assertion,
            scopes=scopes,
            audiences=audiences,
            requested_ttl=requested_ttl,
            requested_token_type=requested_token_type,
            channel=self.channel(),
        )

    def admin_token(self) -> str:
        """A fresh admin token, obtained with the admin key like the CLI does."""
        key = keys.load_private_key(self.admin_key)
        return self.exchange("admin", key, scopes=["broker.admin"]).access_token

    def admin_metadata(self) -> Metadata:
        """gRPC metadata carrying a fresh admin token."""
        return bearer(self.admin_token())

    def audit_events(self, flt: str, metadata: Metadata | None = None) -> list[audit_pb2.AuditEvent]:
        """The audit events matching ``flt`` (ListAuditEvents' filter), newest first, read as the admin."""
        request = audit_pb2.ListAuditEventsRequest(filter=flt, page_size=1000)
        with self.channel() as channel:
            reply: audit_pb2.ListAuditEventsResponse = audit_pb2_grpc.AuditServiceStub(channel).ListAuditEvents(
                request, metadata=metadata or self.admin_metadata(), timeout=10
            )
        return list(reply.events)

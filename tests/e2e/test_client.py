"""The client library (broker_client) against a real `broker serve`: the README section
"Using the client", single-flight exchanges, the Verifier on real tokens, secrets that
rotate, the token on gRPC calls, and the client distribution installed alone.

The broker-restart scenario (TokenSource and sidecar together) is in test_sidecar.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import cast

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import duration_pb2

from broker_client import (
    AsyncTokenInterceptor,
    AsyncTokenSource,
    InvalidToken,
    KeyAttestor,
    SecretSource,
    SecretValue,
    TokenSource,
    Verifier,
    keys,
    token_call_credentials,
)
from broker_client.v1 import secret_pb2, secret_pb2_grpc, token_pb2, token_pb2_grpc
from tests.e2e.harness import BROKER, BrokerProcess, Metadata, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(BROKER[0]).parent
API = "https://orders.example.com"


# helpers -------------------------------------------------------------------------------------
def readme_section(title: str) -> str:
    """The text of the README section ``## <title>``, up to the next section."""
    text = (ROOT / "README.md").read_text()
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(section: str, lang: str) -> list[str]:
    """The fenced code blocks of one language in a section, in order."""
    return [part.split("```", 1)[0] for part in section.split(f"```{lang}\n")[1:]]


def expected_output(block: str) -> list[str]:
    """What a block says it prints: its ``# -> ...`` lines."""
    return [line.split("# -> ", 1)[1] for line in block.splitlines() if "# -> " in line]


def as_written(code: str, proc: BrokerProcess) -> str:
    """The README's text with only the addresses changed to the test broker's."""
    return code.replace("127.0.0.1:50051", proc.addr).replace("http://127.0.0.1:8080", proc.http_url)


def shell_env(proc: BrokerProcess) -> dict[str, str]:
    """A user's shell with .venv activated, pointed at the test broker."""
    env = proc.env()
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    return env


def run_sh(script: str, proc: BrokerProcess, cwd: Path, timeout: float = 120) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd, env=shell_env(proc), capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result.stdout


def run_python(code: str, proc: BrokerProcess, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-"], input=code, cwd=cwd, env=shell_env(proc),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{code}\n--- stderr\n{result.stderr}"
    return result.stdout


def exchange_calls(proc: BrokerProcess) -> int:
    """ExchangeToken calls the broker has handled (every status), from /metrics."""
    with urllib.request.urlopen(f"{proc.http_url}/metrics", timeout=5) as resp:
        body = resp.read().decode()
    pattern = r'^broker_rpc_total\{code="[A-Z_]+",method="ExchangeToken"\} ([0-9.e+]+)$'
    return int(sum(float(m) for m in re.findall(pattern, body, flags=re.MULTILINE)))


def register(proc: BrokerProcess, directory: Path, identity: str, *scopes: str, audience: str = API) -> Path:
    """A workload identity with a new key (via the CLI, as an admin would); returns its key file."""
    key = directory / f"{identity}.pem"
    proc.cli("key", "generate", str(key))
    args = [f"--scope={s}" for s in scopes]
    proc.cli(
        "admin", "identity", "create", identity, "--kind", "service-account", *args,
        "--audience", audience, "--public-key-file", str(directory / f"{identity}.pub.pem"),
    )  # fmt: skip
    return key


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromSeconds(int(value))
    return d


# the README --------------------------------------------------------------------------------------
def test_readme_using_the_client_works_as_written(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """The setup commands and both Python blocks run unchanged and print what the README says."""
    section = readme_section("Using the client")
    (setup,) = blocks(section, "sh")
    run_sh(setup, shared_broker, tmp_path)
    for block in blocks(section, "python"):
        printed = run_python(as_written(block, shared_broker), shared_broker, tmp_path).splitlines()
        assert printed == expected_output(block)


# single flight -----------------------------------------------------------------------------------
def test_hundred_threads_cause_exactly_one_exchange(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """100 threads calling token() together on a fresh source: one ExchangeToken reaches the broker."""
    key = register(shared_broker, tmp_path, "fanout", "fan.read")
    source = TokenSource(shared_broker.addr, KeyAttestor("fanout", key), scopes=["fan.read"], audiences=[API])
    before = exchange_calls(shared_broker)
    barrier = threading.Barrier(100)
    tokens: list[str] = []

    def ask() -> None:
        barrier.wait()
        tokens.append(source.token())

    with source:
        threads = [threading.Thread(target=ask) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(tokens) == 100 and len(set(tokens)) == 1
    assert exchange_calls(shared_broker) - before == 1


def test_each_new_source_exchanges_again(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """The counter above counts real exchanges: two sources cause two."""
    key = register(shared_broker, tmp_path, "twice", "t.read")
    before = exchange_calls(shared_broker)
    for _ in range(2):
        with TokenSource(shared_broker.addr, KeyAttestor("twice", key), scopes=["t.read"]) as source:
            source.token()
    assert exchange_calls(shared_broker) - before == 2


# the Verifier on real tokens -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_token(shared_broker: BrokerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A genuine broker token for API with scope orders.read."""
    key = register(shared_broker, tmp_path_factory.mktemp("verify"), "reader", "orders.read", "orders.write")
    with TokenSource(shared_broker.addr, KeyAttestor("reader", key), scopes=["orders.read"], audiences=[API]) as source:
        return source.token()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _resigned(token: str, header: dict[str, object], sign: Callable[[bytes], bytes]) -> str:
    """The token's claims under a new header, signed by ``sign(signing_input) -> bytes``."""
    claims = token.split(".")[1]
    signing_input = f"{_b64(json.dumps(header).encode())}.{claims}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


@pytest.mark.parametrize("via", ["jwks_url", "broker_address"])
def test_verifier_accepts_real_tokens_and_rejects_forgeries(
    shared_broker: BrokerProcess, real_token: str, via: str
) -> None:
    """A real token passes; alg none, HS256 keyed with the public key, wrong audience, expired,
    unknown kid and missing scope are each refused."""
    if via == "jwks_url":
        verifier = Verifier(f"{shared_broker.http_url}/.well-known/jwks.json", API, issuer=shared_broker.issuer)
    else:
        verifier = Verifier(shared_broker.addr, API)
    assert verifier.verify(real_token, scopes=["orders.read"]).subject == "reader"

    header = jwt.get_unverified_header(real_token)
    jwks = shared_broker.http_json("/.well-known/jwks.json")
    assert isinstance(jwks, dict)
    public_pem = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    stranger = ec.generate_private_key(ec.SECP256R1())
    forgeries = {
        "alg none": _resigned(real_token, {**header, "alg": "none"}, lambda _: b""),
        "HS256 with the public key": _resigned(
            real_token, {**header, "alg": "HS256"}, lambda data: hmac.new(public_pem, data, hashlib.sha256).digest()
        ),
        "unknown kid": jwt.encode(
            jwt.decode(real_token, options={"verify_signature": False}),
            stranger,
            algorithm="ES256",
            headers={"kid": keys.thumbprint(keys.public_jwk(stranger)), "typ": "at+jwt"},
        ),
    }
    reasons = {name: _reason(verifier, token) for name, token in forgeries.items()}
    assert reasons == {
        "alg none": "algorithm 'none' is not allowed",
        "HS256 with the public key": "algorithm 'HS256' is not allowed",
        "unknown kid": "unknown kid",
    }
    assert _reason(Verifier(shared_broker.addr, "https://other.example.com"), real_token) == "wrong audience"
    late = Verifier(shared_broker.addr, API, now=lambda: time.time() + 3600)
    assert _reason(late, real_token) == "expired"
    assert _reason(verifier, real_token, scopes=["orders.write"]) == "missing scope orders.write"


def _reason(verifier: Verifier, token: str, scopes: tuple[str, ...] | list[str] = ()) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token, scopes=scopes)
    return caught.value.reason


# secrets -------------------------------------------------------------------------------------------
def subscribed(proc: BrokerProcess, secret_id: str, admin: Metadata) -> bool:
    """Whether a SecretSource (one, started after the secret was created) follows ``secret_id``: it reads
    the current version once at start and once more as soon as its WatchSecret stream is subscribed."""
    return len(proc.audit_events(f"action=secret.access target={secret_id}", admin)) >= 2


def test_secret_source_follows_rotations_of_the_real_broker(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """value() is current; after RotateSecret the new value arrives within about a second, on_rotate
    is called, and verify() accepts the new value as CURRENT and the old one as PREVIOUS."""
    admin = shared_broker.admin_metadata()
    with shared_broker.channel() as channel:
        secrets = secret_pb2_grpc.SecretServiceStub(channel)
        secrets.CreateSecret(
            secret_pb2.CreateSecretRequest(
                secret_id="orders-api-key",
                secret=secret_pb2.Secret(
                    generator=secret_pb2.SECRET_GENERATOR_API_KEY,
                    rotation=secret_pb2.RotationPolicy(grace_period=seconds(600)),
                ),
            ),
            metadata=admin,
            timeout=10,
        )
        key = register(shared_broker, tmp_path, "keyholder", "broker.secrets.read:orders-api-key")
        rotated: list[SecretValue] = []
        arrived = threading.Event()
        tokens = TokenSource(
            shared_broker.addr, KeyAttestor("keyholder", key), scopes=["broker.secrets.read:orders-api-key"]
        )

        def on_rotate(value: SecretValue) -> None:
            rotated.append(value)
            arrived.set()

        with tokens, SecretSource("orders-api-key", tokens) as secret:
            secret.on_rotate(on_rotate)
            old = secret.value()
            assert secret.current().version == 1
            wait_for(lambda: subscribed(shared_broker, "orders-api-key", admin), 10, "the watcher to subscribe")
            secrets.RotateSecret(secret_pb2.RotateSecretRequest(secret_id="orders-api-key"), metadata=admin, timeout=10)
            started = time.monotonic()
            assert arrived.wait(10), "no on_rotate callback"
            assert time.monotonic() - started < 3
            assert secret.value() != old and [v.version for v in rotated] == [2]
            current, previous, wrong = secret.verify(secret.value()), secret.verify(old), secret.verify(b"brk_nope")
    assert current and current.state == "CURRENT" and current.version == 2
    assert previous and previous.state == "PREVIOUS" and previous.version == 1
    assert not wrong


# gRPC auth -----------------------------------------------------------------------------------------
def test_call_credentials_authenticate_calls_to_the_broker(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """IntrospectToken (needs a broker token) succeeds with token_call_credentials, and fails without."""
    key = register(shared_broker, tmp_path, "introspector", "i.read")
    with TokenSource(shared_broker.addr, KeyAttestor("introspector", key)) as source:
        request = token_pb2.IntrospectTokenRequest(token=source.token())
        creds = grpc.composite_channel_credentials(grpc.local_channel_credentials(), token_call_credentials(source))
        with grpc.secure_channel(shared_broker.addr, creds) as channel:
            assert token_pb2_grpc.TokenServiceStub(channel).IntrospectToken(request, timeout=10).active
        with shared_broker.channel() as plain, pytest.raises(grpc.RpcError) as caught:
            token_pb2_grpc.TokenServiceStub(plain).IntrospectToken(request, timeout=10)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_aio_interceptor_authenticates_calls_to_the_broker(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """An asyncio channel with AsyncTokenInterceptor calls IntrospectToken as the workload."""
    key = register(shared_broker, tmp_path, "aio-introspector", "i.read")

    async def introspect() -> bool:
        async with AsyncTokenSource(shared_broker.addr, KeyAttestor("aio-introspector", key)) as source:
            interceptors = [AsyncTokenInterceptor(source)]
            async with grpc.aio.insecure_channel(shared_broker.addr, interceptors=interceptors) as channel:
                request = token_pb2.IntrospectTokenRequest(token=await source.token())
                # the generated stub on an aio channel is the async stub (as in _async_token_source.py)
                stub = cast("token_pb2_grpc.TokenServiceAsyncStub", token_pb2_grpc.TokenServiceStub(channel))
                reply = await stub.IntrospectToken(request, timeout=10)
                return bool(reply.active)

    assert asyncio.run(introspect())


# the distribution, installed alone ---------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.xdist_group("client-install")  # its own worker slot: it alone takes over half a minute
def test_client_distribution_installs_alone_in_a_fresh_venv(tmp_path: Path) -> None:
    """SLOW (about a minute; needs PyPI): `pip install ./client` in a fresh venv brings no daemon
    dependency (`import broker`, SQLAlchemy, structlog all absent), and client/tests pass there
    (only the optional extras' tests skip)."""
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "client",
        source / "client",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, env = (
        venv / "bin" / "python",
        {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
    )
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--verbose", "./client", "pytest", "pytest-asyncio"],
        cwd=source, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    assert "SetuptoolsDeprecationWarning" not in install.stdout + install.stderr  # the SPDX license string

    probe = (
        "import importlib.util, broker_client\n"
        "print(broker_client.__file__)\n"
        "print([m for m in ('broker', 'sqlalchemy', 'structlog', 'aiohttp') if importlib.util.find_spec(m)])\n"
    )
    where, absent = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert where.startswith(str(venv)) and absent == "[]"
    no_daemon = subprocess.run(
        [str(python), "-c", "import broker"], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert no_daemon.returncode != 0 and b"ModuleNotFoundError" in no_daemon.stderr

    tests = subprocess.run(
        [str(venv / "bin" / "pytest"), str(source / "client" / "tests"), "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-2000:]
    assert re.search(r"\d+ passed", tests.stdout)
    skips = [line for line in tests.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("optional extra not installed" in line for line in skips), skips

"""The README's "Running on Postgres", "Running on Vault/OpenBao" and "Running several
replicas" recipes, run as written: only addresses change (the test's own PostgreSQL and
free ports instead of 5432, 8200, 50051, ...), and nothing else in the text."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import hvac
import psycopg
import pytest

from tests.e2e.harness import BROKER, free_port, stop_group
from tests.store import openbao, postgres

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(BROKER[0]).parent


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """This module's PostgreSQL server (fails the tests if it cannot start)."""
    server = postgres.start_for_pytest()
    yield server
    server.stop()


def recipe(section: str) -> str:
    """The first sh block under the README heading ``## <section>``."""
    text = (ROOT / "README.md").read_text()
    return text.split(f"## {section}\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]


def shell_env(**extra: str) -> dict[str, str]:
    """A user's shell with .venv activated: no BROKER_*/BAO_*/VAULT_* from the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "BAO_", "VAULT_", "PG"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    env.update(extra)
    return env


class Shell:
    """A recipe running in bash in its own process group (it may leave servers in the background)."""

    def __init__(self, script: str, cwd: Path, env: dict[str, str]) -> None:
        self.log_path = cwd / "recipe.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, http: str, timeout: float = 60) -> None:
        """Until GET http://<http>/readyz answers 200 (fails with the recipe's output)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the recipe exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"http://{http}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready within {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        stop_group(self.proc)


def cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BROKER, *args], cwd=cwd, env=shell_env(**env), capture_output=True, text=True, timeout=60, check=False
    )


def test_running_on_postgres_works_as_written(postgres_server: postgres.PostgresServer, tmp_path: Path) -> None:
    """psql creates the role and database; the broker migrates it, serves, and shows no password."""
    pg = f"127.0.0.1:{postgres_server.port}"
    grpc_addr, http_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    script = recipe("Running on Postgres").replace("127.0.0.1:5432", pg)
    env = shell_env(
        PGHOST="127.0.0.1", PGPORT=str(postgres_server.port), PGUSER="postgres",
        BROKER_GRPC_LISTEN=grpc_addr, BROKER_HTTP_LISTEN=http_addr,
    )  # fmt: skip
    shell = Shell(script, tmp_path, env)
    try:
        shell.wait_ready(http_addr)
        assert f"store      postgresql+psycopg://broker:***@{pg}/broker" in shell.log()
        assert "change-me" not in shell.log()
        listed = cli(tmp_path, "admin", "identity", "list", BROKER_ADDR=grpc_addr)
        assert listed.returncode == 0 and "admin" in listed.stdout, listed.stderr
        conninfo = f"host=127.0.0.1 port={postgres_server.port} user=broker password=change-me dbname=broker"
        with psycopg.connect(conninfo) as conn:
            owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'identities'").fetchone()
        assert owner == ("broker",)
    finally:
        shell.stop()


def test_running_on_vault_openbao_works_as_written(tmp_path: Path) -> None:
    """The dev server, the policy and the AppRole as written; the broker serves from secret/broker/."""
    bao_port = free_port()
    grpc_addr, http_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "bao").symlink_to(openbao.bao_binary())
    script = recipe("Running on Vault/OpenBao").replace("127.0.0.1:8200", f"127.0.0.1:{bao_port}")
    shell = Shell(script, tmp_path, shell_env(BROKER_GRPC_LISTEN=grpc_addr, BROKER_HTTP_LISTEN=http_addr))
    try:
        shell.wait_ready(http_addr)
        assert f"store      vault://127.0.0.1:{bao_port}/secret/broker" in shell.log()
        listed = cli(tmp_path, "admin", "identity", "list", BROKER_ADDR=grpc_addr)
        assert listed.returncode == 0 and "admin" in listed.stdout, listed.stderr

        vault = hvac.Client(f"http://127.0.0.1:{bao_port}", token="dev-only-token")
        stored = vault.secrets.kv.v2.list_secrets(path="broker", mount_point="secret")["data"]["keys"]
        assert {"identities/", "signing-keys/", "schema"} <= set(stored)
        assert "dev-only-token" not in shell.log()
    finally:
        shell.stop()


def test_running_several_replicas_works_as_written(postgres_server: postgres.PostgresServer, tmp_path: Path) -> None:
    """Two replicas on one database: created through A, exchanged through B, verified with A's JWKS."""
    script = recipe("Running several replicas").replace(
        "postgresql+psycopg://broker:change-me@127.0.0.1:5432/broker", postgres_server.create_database()
    )
    for port in ("50051", "50052", "8080", "8081"):
        script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free_port()}")
    done = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path, env=shell_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = done.communicate(timeout=120)
        assert done.returncode == 0, f"{out}\n{err}\n{(tmp_path / 'replica-a.log').read_text(errors='replace')}"
        assert out.strip().splitlines()[-1] == "payments payments.read"
    finally:
        stop_group(done)

"""README.md, top to bottom, as written: one shell, a fresh directory, a real broker, and the
real PostgreSQL and OpenBao of the sections that use them (tests/readme/runner.py says
exactly what the runner changes: addresses, and stand-ins for kubectl and a CI job)."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import hvac
import psycopg
import pytest

from tests.e2e.harness import free_port
from tests.readme.runner import Readme, base_env, readme_ports, substitute_addresses
from tests.security.issuer_kit import (
    BROKER_AUDIENCE,
    GITHUB_ISSUER,
    TestIssuer,
    github_token,
    jwks_server,
    kubernetes_token,
)
from tests.store import postgres

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
POD_TOKEN = "/var/run/secrets/broker/token"
GITHUB_JWKS = "https://token.actions.githubusercontent.com/.well-known/jwks"


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """The README's own PostgreSQL (its psql creates a role and a database): fails if it cannot start."""
    server = postgres.start_for_pytest()
    yield server
    server.stop()


def test_the_readme_runs_top_to_bottom_as_written(postgres_server: postgres.PostgresServer, tmp_path: Path) -> None:
    """Every block of README.md, in order: each command succeeds (or fails where the README shows
    its error), every `# ->` line is printed, and nothing is left running afterwards."""
    home = tmp_path / "user"
    home.mkdir()
    (home / ".venv").symlink_to(VENV)  # what `make run` installs, where the README expects it
    tools = tmp_path / "tools"
    tools.mkdir()

    # kubectl: the cluster's JWKS; the pod's projected token, signed by the cluster's key.
    cluster = TestIssuer(K8S_ISSUER)
    (tools / "cluster-jwks.json").write_text(cluster.jwks_json())
    kubectl = tools / "kubectl"
    kubectl.write_text(f"#!/bin/sh\ncat {tools / 'cluster-jwks.json'}\n")
    kubectl.chmod(0o755)
    pod_token = tools / "pod-token"
    pod_token.write_text(kubernetes_token(cluster, namespace="payments", service_account="api"))

    # A GitHub Actions job: its OIDC token endpoint, and GitHub's JWKS.
    github = TestIssuer(GITHUB_ISSUER, kid="38826b17-6a30-5f9b-b169-8beb8202f723")
    job_token = json.dumps({"value": github_token(github, repository="org/app")})
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()

    text = (ROOT / "README.md").read_text()
    ports = {port: free_port() for port in readme_ports(text)}
    ports[5432] = postgres_server.port
    with jwks_server(github.jwks_json()) as github_keys, jwks_server(job_token) as oidc:
        text = substitute_addresses(text, ports)
        text = text.replace(POD_TOKEN, str(pod_token)).replace(GITHUB_JWKS, github_keys.url)
        env = base_env(
            {
                "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
                "HOME": str(home),
                # the broker's zero configuration, on free ports instead of 50051 and 8080
                "BROKER_GRPC_LISTEN": f"127.0.0.1:{ports[50051]}",
                "BROKER_HTTP_LISTEN": f"127.0.0.1:{ports[8080]}",
                "BROKER_ADDR": f"127.0.0.1:{ports[50051]}",
                "PGHOST": "127.0.0.1",
                "PGPORT": str(postgres_server.port),
                "PGUSER": "postgres",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "job-request-token",
                "ACTIONS_ID_TOKEN_REQUEST_URL": f"{oidc.url}?api-version=2.0",
                "RUNNER_TEMP": str(runner_temp),
            }
        )
        readme = Readme(text, home, env, http_listen=f"127.0.0.1:{ports[8080]}")
        sections: set[str] = set()
        try:
            for block in readme.run_all():
                sections.add(block.section)
                if block.section == "Running on Vault/OpenBao" and "broker serve" in block.text:
                    vault = hvac.Client(f"http://127.0.0.1:{ports[8200]}", token="dev-only-token")
                    stored = vault.secrets.kv.v2.list_secrets(path="broker", mount_point="secret")["data"]["keys"]
                    assert {"identities/", "signing-keys/", "schema"} <= set(stored)
        finally:
            readme.close()
        assert github_keys.requests, "the CI section fetched GitHub's keys"
        assert oidc.requests and oidc.requests[0].endswith(f"audience={BROKER_AUDIENCE}")

    assert {
        "The two commands", "Logging in as a person", "Running on Postgres", "Running on Vault/OpenBao",
        "Running the sidecar",
    } <= sections  # fmt: skip
    assert stat.S_IMODE((home / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "data" / "broker.db").stat().st_mode) == 0o600
    assert (runner_temp / "broker.token").read_text().count(".") == 2

    # "Running on Postgres": the broker's own role owns the tables; the banner hides the password.
    on_postgres, on_vault = (home / ".readme-serve-2.log").read_text(), (home / ".readme-serve-3.log").read_text()
    assert f"store      postgresql+psycopg://broker:***@127.0.0.1:{postgres_server.port}/broker" in on_postgres
    assert "change-me" not in on_postgres
    conninfo = f"host=127.0.0.1 port={postgres_server.port} user=broker password=change-me dbname=broker"
    with psycopg.connect(conninfo) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'identities'").fetchone()
    assert owner == ("broker",)
    # "Running on Vault/OpenBao": everything under secret/broker/, no token in the log.
    assert f"store      vault://127.0.0.1:{ports[8200]}/secret/broker" in on_vault
    assert "dev-only-token" not in on_vault and "secret_id" not in on_vault

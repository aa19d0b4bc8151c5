"""Token exchange end to end on a real `broker serve`: the README's Kubernetes, CI OIDC and
delegation recipes (the same CLI commands), issuers from the YAML file, down-scoping,
delegation chains and their audit events, introspection and revocation."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker_client import keys
from broker_client.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from tests.e2e.harness import BROKER, TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT, BrokerProcess, bearer
from tests.security.issuer_kit import (
    BROKER_AUDIENCE,
    GITHUB_ISSUER,
    K8S_ISSUER,
    TestIssuer,
    github_token,
    jwks_server,
    kubernetes_token,
)

pytestmark = pytest.mark.e2e

PAYMENTS = "https://payments.example.com"
DOCS = "https://docs.example.com"


def _verify(proc: BrokerProcess, token: str, audience: str) -> dict[str, object]:
    """Verify a broker token like any relying party: PyJWT and the JWKS URL alone."""
    key = jwt.PyJWKClient(f"{proc.http_url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims: dict[str, object] = jwt.decode(token, key.key, algorithms=["ES256"], audience=audience, issuer=proc.issuer)
    return claims


def _fails(proc: BrokerProcess, *args: str) -> str:
    """Run a CLI command that must fail; its one-line error."""
    result = proc.cli(*args, check=False)
    assert result.returncode == 1, result.stdout
    return result.stderr.strip()


def _opaque(proc: BrokerProcess, error: str, message: str) -> bool:
    """``error`` is the opaque refusal ``message`` plus the request id, under which the broker logged the reason."""
    found = re.fullmatch(
        rf"broker: UNAUTHENTICATED: {message} \(request id ([0-9a-f]{{32}}); the broker's log has the reason\)", error
    )
    return found is not None and f'"request_id": "{found[1]}"' in proc.log()


# the README: Exchanging a Kubernetes token ---------------------------------------------------
def test_the_kubernetes_recipe_works_as_written(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """The README's commands: trust the cluster issuer, bind payments-api, exchange a projected token."""
    cluster = TestIssuer(K8S_ISSUER)
    (tmp_path / "cluster-jwks.json").write_text(cluster.jwks_json())  # kubectl get --raw /openid/v1/jwks
    shared_broker.cli(
        "admin", "issuer", "create", "https://kubernetes.default.svc.cluster.local",
        "--jwks-inline-from", str(tmp_path / "cluster-jwks.json"), "--alg", "RS256",
        "--audience", "https://broker.example.com", "--max-token-age", "24h",
    )  # fmt: skip
    shared_broker.cli(
        "admin", "identity", "create", "payments-api", "--kind", "service-account",
        "--scope", "payments.read", "--audience", "https://payments.example.com",
        "--bind", "https://kubernetes.default.svc.cluster.local", "system:serviceaccount:payments:api",
        "--require-claim", "kubernetes.io.namespace=payments",
    )  # fmt: skip
    token_file = tmp_path / "token"  # /var/run/secrets/broker/token in the pod
    token_file.write_text(kubernetes_token(cluster, namespace="payments", service_account="api"))
    broker_token = shared_broker.cli(
        "token", "exchange-jwt", "--token-file", str(token_file),
        "--scope", "payments.read", "--audience", "https://payments.example.com",
    ).stdout.strip()  # fmt: skip
    claims = _verify(shared_broker, broker_token, PAYMENTS)
    assert (claims["sub"], claims["scope"], claims["client_id"]) == ("payments-api", "payments.read", "payments-api")

    shown = json.loads(shared_broker.cli("admin", "issuer", "get", K8S_ISSUER).stdout)
    assert (shown["issuer"], shown["max_token_age"], json.loads(shown["jwks_json"])) == (
        K8S_ISSUER, "86400s", json.loads(cluster.jwks_json()),
    )  # fmt: skip
    listed = json.loads(shared_broker.cli("admin", "issuer", "list").stdout)
    assert (K8S_ISSUER, ["RS256"], BROKER_AUDIENCE) in [(i["issuer"], i["algorithms"], i["audience"]) for i in listed]


def test_the_kubernetes_recipe_refuses_other_accounts_namespaces_and_audiences(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    """Another service account, a token claiming the bound sub from another namespace, a token
    minted for another audience, and one failing an updated binding: UNAUTHENTICATED: invalid attestation."""
    cluster = TestIssuer("https://oidc.eks.example.com/id/ABC")
    shared_broker.cli(
        "admin", "issuer", "create", cluster.url, "--jwks-inline-from", _write(tmp_path, "jwks", cluster.jwks_json()),
        "--alg", "RS256", "--audience", BROKER_AUDIENCE,
    )  # fmt: skip
    shared_broker.cli(
        "admin", "identity", "create", "eks-api", "--kind", "service-account",
        "--bind", cluster.url, "system:serviceaccount:payments:api",
        "--require-claim", "kubernetes.io.namespace=payments",
    )  # fmt: skip
    forged_namespace = kubernetes_token(
        cluster, namespace="attacker", service_account="api", sub="system:serviceaccount:payments:api"
    )
    for token in (
        kubernetes_token(cluster, namespace="payments", service_account="worker"),
        forged_namespace,
        kubernetes_token(cluster, namespace="payments", service_account="api", audience="https://vault.example.com"),
    ):
        error = _fails(shared_broker, "token", "exchange-jwt", "--token-file", _write(tmp_path, "t", token))
        assert _opaque(shared_broker, error, "invalid attestation"), error
    good = kubernetes_token(cluster, namespace="payments", service_account="api")
    assert shared_broker.cli("token", "exchange-jwt", "--token-file", _write(tmp_path, "t", good)).stdout.strip()
    shared_broker.cli(
        "admin", "identity", "update", "eks-api",
        "--bind", cluster.url, "system:serviceaccount:payments:api",
        "--require-claim", "kubernetes.io.serviceaccount.name=api-v2",
    )  # fmt: skip
    again = kubernetes_token(cluster, namespace="payments", service_account="api")
    error = _fails(shared_broker, "token", "exchange-jwt", "--token-file", _write(tmp_path, "t", again))
    assert _opaque(shared_broker, error, "invalid attestation"), error  # the updated binding needs another name


def _write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    return str(path)


# the README: a CI OIDC token --------------------------------------------------------------------
def test_the_ci_oidc_recipe_with_a_jwks_url(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """GitHub-shaped tokens, keys fetched from a JWKS URL (cached), bound by sub, repository and
    workflow; single-use, so a replayed job token is refused."""
    github = TestIssuer(GITHUB_ISSUER, kid="38826b17-6a30-5f9b-b169-8beb8202f723")
    with jwks_server(github.jwks_json()) as server:
        shared_broker.cli(
            "admin", "issuer", "create", "https://token.actions.githubusercontent.com",
            "--jwks-url", server.url, "--alg", "RS256", "--audience", "https://broker.example.com", "--single-use",
        )  # fmt: skip
        shared_broker.cli(
            "admin", "identity", "create", "app-deploy", "--kind", "service-account", "--scope", "deploy.write",
            "--bind", "https://token.actions.githubusercontent.com", "repo:org/app:ref:refs/heads/main",
            "--require-claim", "repository=org/app",
            "--require-claim", "job_workflow_ref=org/app/.github/workflows/deploy.yml@refs/heads/main",
        )  # fmt: skip
        oidc = _write(tmp_path, "oidc.jwt", github_token(github, repository="org/app"))
        broker_token = shared_broker.cli(
            "token", "exchange-jwt", "--token-file", oidc, "--scope", "deploy.write"
        ).stdout.strip()
        assert _verify(shared_broker, broker_token, shared_broker.issuer)["sub"] == "app-deploy"
        assert _opaque(
            shared_broker, _fails(shared_broker, "token", "exchange-jwt", "--token-file", oidc), "invalid attestation"
        )
        other_branch = github_token(github, repository="org/app", ref="refs/heads/feature")
        error = _fails(shared_broker, "token", "exchange-jwt", "--token-file", _write(tmp_path, "b", other_branch))
        assert _opaque(shared_broker, error, "invalid attestation"), error
        second = _write(tmp_path, "again.jwt", github_token(github, repository="org/app"))
        assert shared_broker.cli("token", "exchange-jwt", "--token-file", second).stdout.strip()
        assert server.requests == ["/jwks"]  # fetched once when the issuer was created, then cached


def test_an_issuer_whose_keys_cannot_be_fetched_is_created_with_a_warning(
    shared_broker: BrokerProcess, tmp_path: Path
) -> None:
    """A JWKS URL that answers 404 still creates the issuer, with one warning line naming jwks_url (the reason,
    404, is in the broker's log only); its tokens are refused UNAVAILABLE until its keys load."""
    ci = TestIssuer("https://ci.example.com", kid="ci-1")
    with jwks_server("{}") as server:
        server.status = 404
        created = shared_broker.cli(
            "admin", "issuer", "create", ci.url, "--jwks-url", server.url, "--audience", BROKER_AUDIENCE,
        )  # fmt: skip
        assert json.loads(created.stdout)["jwks_url"] == server.url
        warning = created.stderr.strip()
        assert warning.startswith("broker: warning: jwks_url: the issuer's keys could not be loaded now"), warning
        assert "404" not in warning and "\n" not in warning
        assert "HTTP Error 404" in shared_broker.log()
        shared_broker.cli(
            "admin", "identity", "create", "ci-deploy", "--kind", "service-account", "--bind", ci.url, "repo:x",
        )  # fmt: skip
        now = int(time.time())
        token = ci.sign({"iss": ci.url, "sub": "repo:x", "aud": BROKER_AUDIENCE, "iat": now, "exp": now + 60})
        error = _fails(shared_broker, "token", "exchange-jwt", "--token-file", _write(tmp_path, "ci.jwt", token))
    assert error.startswith("broker: UNAVAILABLE: the issuer's keys could not be loaded"), error


# issuers from the configuration file ------------------------------------------------------------
def test_issuers_from_the_yaml_file_work_and_are_fixed(tmp_path: Path) -> None:
    """A YAML issuer verifies tokens, is listed with etag config, and the API cannot delete or
    shadow it; a bad entry stops start-up naming it."""
    cluster = TestIssuer(K8S_ISSUER)
    config = tmp_path / "broker.yaml"
    entry = {"issuer": K8S_ISSUER, "jwks": json.loads(cluster.jwks_json()), "audience": BROKER_AUDIENCE}
    config.write_text(yaml.safe_dump({"issuers": [{**entry, "algorithms": ["RS256"], "max_token_age": "24h"}]}))
    proc = BrokerProcess(tmp_path / "data")
    proc.start("--config", str(config))
    try:
        (listed,) = json.loads(proc.cli("admin", "issuer", "list").stdout)
        assert (listed["issuer"], listed["etag"]) == (K8S_ISSUER, "config")
        error = _fails(proc, "admin", "issuer", "delete", K8S_ISSUER)
        assert error.startswith("broker: FAILED_PRECONDITION:")
        jwks = _write(tmp_path, "jwks", cluster.jwks_json())
        error = _fails(proc, "admin", "issuer", "create", K8S_ISSUER, "--jwks-inline-from", jwks, "--audience", "x")
        assert error.startswith("broker: ALREADY_EXISTS:")
        proc.cli(
            "admin", "identity", "create", "web", "--kind", "service-account",
            "--bind", K8S_ISSUER, "system:serviceaccount:apps:web",
        )  # fmt: skip
        token = _write(tmp_path, "t", kubernetes_token(cluster, namespace="apps", service_account="web"))
        assert proc.cli("token", "exchange-jwt", "--token-file", token).stdout.strip()
    finally:
        proc.stop()

    config.write_text(yaml.safe_dump({"issuers": [{"issuer": K8S_ISSUER, "jwks_url": "https://k8s.example/jwks"}]}))
    result = subprocess.run(
        [*BROKER, "serve", "--config", str(config)],
        env=proc.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "issuers[0].audience" in result.stderr


# down-scoping, delegation, audit ----------------------------------------------------------------
def _workload(
    proc: BrokerProcess,
    ident: str,
    kind: identity_pb2.IdentityKind.ValueType,
    *,
    allowed_scopes: Sequence[str] = (),
    allowed_audiences: Sequence[str] = (),
    delegable_scopes: Sequence[str] = (),
) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    identity = identity_pb2.Identity(
        id=ident,
        kind=kind,
        public_keys=[identity_pb2.PublicKey(jwk_json=pem.decode())],
        allowed_scopes=allowed_scopes,
        allowed_audiences=allowed_audiences,
        delegable_scopes=delegable_scopes,
    )
    with proc.channel() as channel:
        identity_pb2_grpc.IdentityServiceStub(channel).CreateIdentity(
            identity_pb2.CreateIdentityRequest(identity=identity), metadata=proc.admin_metadata(), timeout=10
        )
    return key


def _exchange(
    proc: BrokerProcess, *, subject_token: str, subject_token_type: str, actor_token: str, actor_token_type: str
) -> token_pb2.ExchangeTokenResponse:
    request = token_pb2.ExchangeTokenRequest(
        subject_token=subject_token,
        subject_token_type=subject_token_type,
        actor_token=actor_token,
        actor_token_type=actor_token_type,
    )
    with proc.channel() as channel:
        reply: token_pb2.ExchangeTokenResponse = token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(
            request, timeout=10
        )
    return reply


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_downscoping_over_the_wire(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """`broker token downscope` narrows scopes, audience and life; asking for more is PERMISSION_DENIED."""
    key = _workload(
        shared_broker, "ledger", identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        allowed_scopes=["ledger.read", "ledger.write"], allowed_audiences=[PAYMENTS],
    )  # fmt: skip
    wide = shared_broker.exchange("ledger", key, audiences=[shared_broker.issuer, PAYMENTS]).access_token
    path = _write(tmp_path, "wide.token", wide)
    narrow = shared_broker.cli(
        "token", "downscope", "--token-file", path, "--scope", "ledger.read", "--audience", PAYMENTS, "--ttl", "1m"
    ).stdout.strip()
    claims = _verify(shared_broker, narrow, PAYMENTS)
    assert (claims["scope"], claims["aud"], claims["sub"]) == ("ledger.read", PAYMENTS, "ledger")
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 60
    error = _fails(
        shared_broker, "token", "downscope", "--token-file", _write(tmp_path, "n", narrow), "--scope", "ledger.write"
    )
    assert error == "broker: PERMISSION_DENIED: scope 'ledger.write' is not allowed for the presented token of ledger"


def test_a_delegation_chain_nests_stops_at_the_depth_limit_and_is_audited(shared_broker: BrokerProcess) -> None:
    """Three agents in turn: act nests; the fourth is PERMISSION_DENIED; every attempt is an audit event."""
    alice = _workload(
        shared_broker, "alice-svc", identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        allowed_scopes=["notes.read"], allowed_audiences=[DOCS],
    )  # fmt: skip
    agents = {
        f"chain-agent-{i}": _workload(
            shared_broker,
            f"chain-agent-{i}",
            identity_pb2.IDENTITY_KIND_AI_AGENT,
            delegable_scopes=["notes.read"],
            allowed_audiences=[DOCS],
        )
        for i in range(4)
    }
    token = shared_broker.exchange("alice-svc", alice, audiences=[DOCS]).access_token
    issuer = shared_broker.issuer
    for name, key in list(agents.items())[:3]:
        token = _exchange(
            shared_broker, subject_token=token, subject_token_type=TOKEN_TYPE_ACCESS,
            actor_token=keys.make_assertion(name, key, issuer), actor_token_type=TOKEN_TYPE_JWT,
        ).access_token  # fmt: skip
    claims = _verify(shared_broker, token, DOCS)
    assert claims["sub"] == "alice-svc"
    assert claims["act"] == {
        "sub": "chain-agent-2", "client_id": "chain-agent-2",
        "act": {"sub": "chain-agent-1", "client_id": "chain-agent-1",
                "act": {"sub": "chain-agent-0", "client_id": "chain-agent-0"}},
    }  # fmt: skip
    last = keys.make_assertion("chain-agent-3", agents["chain-agent-3"], issuer)
    too_deep = _code(
        lambda: _exchange(
            shared_broker,
            subject_token=token,
            subject_token_type=TOKEN_TYPE_ACCESS,
            actor_token=last,
            actor_token_type=TOKEN_TYPE_JWT,
        )
    )
    assert too_deep == grpc.StatusCode.PERMISSION_DENIED
    with shared_broker.channel() as channel:
        events = (
            audit_pb2_grpc.AuditServiceStub(channel)
            .ListAuditEvents(
                audit_pb2.ListAuditEventsRequest(filter="action=token.delegate target=alice-svc"),
                metadata=shared_broker.admin_metadata(),
                timeout=10,
            )
            .events
        )
    outcomes = {(e.actor, e.outcome) for e in events}
    assert outcomes == {
        ("chain-agent-0", "success"), ("chain-agent-1", "success"), ("chain-agent-2", "success"),
        ("chain-agent-3", "failure"),
    }  # fmt: skip
    failure = next(e for e in events if e.outcome == "failure")
    reason = failure.details["reason"]
    assert isinstance(reason, str) and "limit is 3" in reason


# the README: Delegating to an agent --------------------------------------------------------------
def test_the_delegation_recipe_works_as_written(shared_broker: BrokerProcess, tmp_path: Path) -> None:
    """The README's commands, in order, with their printed results."""

    def cli(*args: str) -> str:  # stdout, which the README redirects to a file where it says `>`
        return shared_broker.cli(*args).stdout

    reports, summarizer = str(tmp_path / "reports.pem"), str(tmp_path / "summarizer.pem")
    cli("key", "generate", reports)
    cli(
        "admin", "identity", "create", "reports", "--kind", "service-account",
        "--scope", "docs.read", "--scope", "docs.write", "--audience", "https://docs.example.com",
        "--public-key-file", str(tmp_path / "reports.pub.pem"),
    )  # fmt: skip
    cli("key", "generate", summarizer)
    cli(
        "admin", "identity", "create", "summarizer", "--kind", "ai-agent",
        "--delegable-scope", "docs.read", "--audience", "https://docs.example.com",
        "--public-key-file", str(tmp_path / "summarizer.pub.pem"),
    )  # fmt: skip
    reports_token = _write(tmp_path, "reports.token", cli(
        "token", "exchange", "--identity", "reports", "--key-file", reports,
        "--scope", "docs.read", "--scope", "docs.write", "--audience", "https://docs.example.com",
    ))  # fmt: skip
    delegate = ("token", "delegate", "--subject-token-file", reports_token, "--identity", "summarizer",
                "--key-file", summarizer)  # fmt: skip
    delegated = cli(*delegate, "--scope", "docs.read").strip()
    claims = _verify(shared_broker, delegated, DOCS)
    assert f"{claims['sub']} {claims['act']} {claims['scope']}" == (
        "reports {'sub': 'summarizer', 'client_id': 'summarizer'} docs.read"
    )
    assert _fails(shared_broker, *delegate, "--scope", "docs.write") == (
        "broker: PERMISSION_DENIED: scope 'docs.write' is not allowed for summarizer acting for reports"
    )
    assert cli("admin", "token", "revoke", "--token-file", reports_token).strip() == "revoked"
    assert _opaque(shared_broker, _fails(shared_broker, *delegate, "--scope", "docs.read"), "invalid token")
    introspected = json.loads(cli("admin", "token", "introspect", "--token-file", _write(tmp_path, "d", delegated)))
    assert introspected["active"] is True and introspected["act"]["sub"] == "summarizer"


# introspection and revocation --------------------------------------------------------------------
def test_introspection_needs_a_caller_and_answers_active_or_not(shared_broker: BrokerProcess) -> None:
    """No bearer: UNAUTHENTICATED. Active tokens give claims; garbage, attestations and revoked tokens do not."""
    key = _workload(shared_broker, "inspected", identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT, allowed_scopes=["x"])
    token = shared_broker.exchange("inspected", key).access_token
    with shared_broker.channel() as channel:
        stub = token_pb2_grpc.TokenServiceStub(channel)
        request = token_pb2.IntrospectTokenRequest(token=token)
        assert _code(lambda: stub.IntrospectToken(request, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
        md = bearer(token)  # any authenticated caller, here the token itself
        reply = stub.IntrospectToken(request, metadata=md, timeout=10)
        assert reply.active and reply.claims["sub"] == "inspected" and reply.claims["scope"] == "x"
        for other in ("garbage", keys.make_assertion("inspected", key, shared_broker.issuer)):
            assert not stub.IntrospectToken(token_pb2.IntrospectTokenRequest(token=other), metadata=md).active
        other_token = shared_broker.exchange("inspected", key).access_token
        stub.RevokeToken(token_pb2.RevokeTokenRequest(token=other_token), metadata=md, timeout=10)
        gone = stub.IntrospectToken(token_pb2.IntrospectTokenRequest(token=other_token), metadata=md, timeout=10)
        assert not gone.active and not gone.claims.fields


def test_a_revoked_admin_token_stops_working_at_once(shared_broker: BrokerProcess) -> None:
    """The admin revokes its own token; the next admin call with it is UNAUTHENTICATED."""
    token = shared_broker.admin_token()
    md = bearer(token)
    with shared_broker.channel() as channel:
        identities = identity_pb2_grpc.IdentityServiceStub(channel)
        identities.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=md, timeout=10)
        token_pb2_grpc.TokenServiceStub(channel).RevokeToken(
            token_pb2.RevokeTokenRequest(token=token), metadata=md, timeout=10
        )
        code = _code(lambda: identities.ListIdentities(identity_pb2.ListIdentitiesRequest(), metadata=md, timeout=10))
    assert code == grpc.StatusCode.UNAUTHENTICATED

"""The security suite's target: one real `broker serve` for the whole package, with a trusted
Kubernetes-style issuer, workloads, an agent, and a record of every token sent to it (the
last module greps the daemon's log for them)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker_client import keys
from broker_client.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    issuer_pb2,
    issuer_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from tests.e2e.harness import TOKEN_TYPE_JWT, BrokerProcess
from tests.security.issuer_kit import BROKER_AUDIENCE, K8S_ISSUER, TestIssuer, kubernetes_token

DOCS = "https://docs.example.com"
K8S_NAMESPACE, K8S_ACCOUNT = "apps", "web"
Metadata = tuple[tuple[str, str], ...]


def status(call: Callable[[], object]) -> grpc.StatusCode:
    """The gRPC status of a call: OK, or the error's code."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@dataclass
class Workload:
    """A registered identity and its private key."""

    id: str
    key: ec.EllipticCurvePrivateKey

    @property
    def kid(self) -> str:
        """The kid the broker registered the key under (RFC 7638 thumbprint)."""
        return keys.thumbprint(keys.public_jwk(self.key))

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        """``claims`` signed with the workload's key (ES256, its kid, extra headers)."""
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid, **headers})


@dataclass
class Target:
    """The daemon under attack, a way to call it, and every token sent to it."""

    proc: BrokerProcess
    admin: Metadata
    k8s: TestIssuer
    sent: list[str] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        """The broker's issuer (the aud of assertions)."""
        return self.proc.issuer

    def _call(self, fn: Callable[[grpc.Channel], Any]) -> Any:
        with self.proc.channel() as channel:
            return fn(channel)

    # token service ------------------------------------------------------------------
    def exchange(
        self, subject: str, subject_type: str = TOKEN_TYPE_JWT, **fields: Any
    ) -> token_pb2.ExchangeTokenResponse:
        """ExchangeToken; the tokens in the request and the reply are recorded."""
        self.sent.extend(t for t in (subject, fields.get("actor_token", "")) if t)
        request = token_pb2.ExchangeTokenRequest(subject_token=subject, subject_token_type=subject_type, **fields)
        reply: token_pb2.ExchangeTokenResponse = self._call(
            lambda ch: token_pb2_grpc.TokenServiceStub(ch).ExchangeToken(request, timeout=15)
        )
        self.sent.append(reply.access_token)
        return reply

    def exchange_code(self, subject: str, subject_type: str = TOKEN_TYPE_JWT, **fields: Any) -> grpc.StatusCode:
        """The status ExchangeToken answers (OK on success)."""
        return status(lambda: self.exchange(subject, subject_type, **fields))

    def introspect(self, token: str) -> token_pb2.IntrospectTokenResponse:
        """IntrospectToken, called by the admin."""
        self.sent.append(token)
        reply: token_pb2.IntrospectTokenResponse = self._call(
            lambda ch: token_pb2_grpc.TokenServiceStub(ch).IntrospectToken(
                token_pb2.IntrospectTokenRequest(token=token), metadata=self.admin, timeout=15
            )
        )
        return reply

    def revoke(self, token: str, *, by: str) -> grpc.StatusCode:
        """RevokeToken of ``token`` with ``by`` as the bearer."""
        self.sent.extend((token, by))
        md = (("authorization", f"Bearer {by}"),)
        return status(
            lambda: self._call(
                lambda ch: token_pb2_grpc.TokenServiceStub(ch).RevokeToken(
                    token_pb2.RevokeTokenRequest(token=token), metadata=md, timeout=15
                )
            )
        )

    def bearer_code(self, token: str) -> grpc.StatusCode:
        """The status an admin call (ListIdentities) answers with ``token`` as the bearer."""
        self.sent.append(token)
        md = (("authorization", f"Bearer {token}"),)
        return status(
            lambda: self._call(
                lambda ch: identity_pb2_grpc.IdentityServiceStub(ch).ListIdentities(
                    identity_pb2.ListIdentitiesRequest(), metadata=md, timeout=15
                )
            )
        )

    # attestations ---------------------------------------------------------------------
    def assertion(self, workload: Workload, **claims: Any) -> str:
        """A valid self-signed assertion of ``workload``, with claims overridden."""
        now = int(time.time())
        body: dict[str, Any] = {"iss": workload.id, "sub": workload.id, "aud": self.issuer, "iat": now}
        body.update(exp=now + 60, jti=f"j-{time.monotonic_ns()}")
        body.update(claims)
        return workload.sign(body)

    def token_for(self, workload: Workload, **fields: Any) -> str:
        """A broker token of ``workload`` (a fresh assertion exchanged)."""
        return self.exchange(self.assertion(workload), **fields).access_token

    def k8s_token(self, **claims: Any) -> str:
        """A valid projected service-account token of the trusted issuer for apps/web."""
        return kubernetes_token(self.k8s, namespace=K8S_NAMESPACE, service_account=K8S_ACCOUNT, **claims)

    def audit_count(self, action: str) -> int:
        """How many audit events of ``action`` the broker holds (every page)."""
        count, token = 0, ""
        while True:
            request = audit_pb2.ListAuditEventsRequest(filter=f"action={action}", page_size=1000, page_token=token)
            page = self._call(functools.partial(self._audit_page, request=request))
            count += len(page.events)
            token = page.next_page_token
            if not token:
                return count

    def _audit_page(
        self, channel: grpc.Channel, request: audit_pb2.ListAuditEventsRequest
    ) -> audit_pb2.ListAuditEventsResponse:
        page: audit_pb2.ListAuditEventsResponse = audit_pb2_grpc.AuditServiceStub(channel).ListAuditEvents(
            request, metadata=self.admin, timeout=15
        )
        return page

    # identities -----------------------------------------------------------------------
    def create_workload(
        self,
        ident: str,
        kind: identity_pb2.IdentityKind.ValueType = identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
        **fields: Any,
    ) -> Workload:
        """Register an identity with a fresh EC key."""
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        identity = identity_pb2.Identity(
            id=ident, kind=kind, public_keys=[identity_pb2.PublicKey(jwk_json=pem.decode())], **fields
        )
        self._call(
            lambda ch: identity_pb2_grpc.IdentityServiceStub(ch).CreateIdentity(
                identity_pb2.CreateIdentityRequest(identity=identity), metadata=self.admin, timeout=15
            )
        )
        return Workload(ident, key)

    def update(self, ident: str, paths: list[str], **fields: Any) -> None:
        """Change fields of an identity through the admin API (UpdateIdentity with a mask)."""
        request = identity_pb2.UpdateIdentityRequest(identity=identity_pb2.Identity(id=ident, **fields))
        request.update_mask.paths.extend(paths)
        self._call(
            lambda ch: identity_pb2_grpc.IdentityServiceStub(ch).UpdateIdentity(
                request, metadata=self.admin, timeout=15
            )
        )

    def disable(self, ident: str) -> None:
        """Disable an identity through the admin API."""
        self.update(ident, ["disabled"], disabled=True)

    def enable(self, ident: str) -> None:
        """Enable an identity again."""
        self.update(ident, ["disabled"], disabled=False)

    def delete(self, ident: str) -> None:
        """Delete an identity through the admin API."""
        self._call(
            lambda ch: identity_pb2_grpc.IdentityServiceStub(ch).DeleteIdentity(
                identity_pb2.DeleteIdentityRequest(id=ident), metadata=self.admin, timeout=15
            )
        )


@dataclass
class Actors:
    """The workloads every security test shares (never disabled or deleted)."""

    victim: Workload
    agent: Workload


@pytest.fixture(scope="package")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A broker trusting a single-use Kubernetes issuer (RS256 only, aud https://broker.example.com,
    max age 24 h) whose apps/web service account is bound to identity k8s-web."""
    proc = BrokerProcess(tmp_path_factory.mktemp("security") / "data")
    proc.start()
    try:
        admin_token = proc.admin_token()
        tgt = Target(proc, (("authorization", f"Bearer {admin_token}"),), TestIssuer(K8S_ISSUER))
        tgt.sent.append(admin_token)
        issuer = issuer_pb2.TrustedIssuer(
            issuer=K8S_ISSUER, jwks_json=tgt.k8s.jwks_json(), algorithms=["RS256"], audience=BROKER_AUDIENCE,
            single_use=True,
        )  # fmt: skip
        issuer.max_token_age.FromSeconds(24 * 3600)
        tgt._call(
            lambda ch: issuer_pb2_grpc.IssuerServiceStub(ch).CreateIssuer(
                issuer_pb2.CreateIssuerRequest(issuer=issuer), metadata=tgt.admin, timeout=15
            )
        )
        binding = identity_pb2.Binding(
            issuer=K8S_ISSUER,
            subject=f"system:serviceaccount:{K8S_NAMESPACE}:{K8S_ACCOUNT}",
            required_claims={"kubernetes.io.namespace": K8S_NAMESPACE},
        )
        tgt.create_workload("k8s-web", allowed_scopes=["web.read"], bindings=[binding])
        yield tgt
    finally:
        proc.stop()


@pytest.fixture(scope="package")
def actors(target: Target) -> Actors:
    """victim (docs.read, docs.write on docs) and helper-agent (delegates docs.read on docs)."""
    victim = target.create_workload("victim", allowed_scopes=["docs.read", "docs.write"], allowed_audiences=[DOCS])
    agent = target.create_workload(
        "helper-agent",
        kind=identity_pb2.IDENTITY_KIND_AI_AGENT,
        delegable_scopes=["docs.read"],
        allowed_audiences=[DOCS],
    )
    return Actors(victim, agent)

"""Test-owned external issuers: real key pairs, tokens shaped exactly like Kubernetes and
GitHub Actions OIDC tokens (headers and claims), and a JWKS served over real HTTP.

Shapes follow real tokens: a Kubernetes projected service-account token has the header
``{"alg": "RS256", "kid": <base64url SHA-256 of the DER public key>}`` and the claims
aud (list), exp, iat, nbf (= iat), iss, jti, the nested ``kubernetes.io`` object
(namespace, node, pod, serviceaccount) and sub ``system:serviceaccount:<ns>:<sa>``.
A GitHub Actions OIDC token has the header ``{"alg": "RS256", "kid": <uuid>, "typ":
"JWT", "x5t": <thumbprint>}``, nbf = iat - 300 and exp = iat + 6 h, and string claims
only (run_id, repository_id, ref_protected "false", ...).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
BROKER_AUDIENCE = "https://broker.example.com"


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestIssuer:
    """An issuer whose private key the test holds: it signs tokens and publishes a JWKS."""

    __test__ = False  # not a pytest test class

    def __init__(self, url: str, *, alg: str = "RS256", kid: str | None = None) -> None:
        self.url = url
        self.alg = alg
        self.private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if alg.startswith(("RS", "PS"))
            else ec.generate_private_key(ec.SECP256R1())
        )
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = kid or b64url(hashlib.sha256(der).digest())

    @property
    def public_pem(self) -> bytes:
        """The public key as PEM (what an attacker would HMAC with)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        """The public JWK as the issuer publishes it (kid, use, alg)."""
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            raw = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            raw = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**raw, "kid": self.kid, "use": "sig", "alg": self.alg}

    def jwks_json(self, *others: TestIssuer) -> str:
        """The JWK Set text, with the keys of ``others`` too (a key rotation)."""
        return json.dumps({"keys": [self.jwk(), *(o.jwk() for o in others)]})

    def sign(self, claims: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> str:
        """A compact JWS of ``claims``; ``header`` replaces the default {alg, kid}."""
        headers = dict(header) if header is not None else {"kid": self.kid}
        return jwt.encode(dict(claims), self.private, algorithm=self.alg, headers=headers)


def kubernetes_claims(
    issuer: str,
    *,
    namespace: str,
    service_account: str,
    audience: str = BROKER_AUDIENCE,
    now: float | None = None,
    lifetime: int = 3600,
) -> dict[str, Any]:
    """The claims of a projected service-account token (Kubernetes 1.30+ shape)."""
    iat = int(time.time() if now is None else now)
    return {
        "aud": [audience],
        "exp": iat + lifetime,
        "iat": iat,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": namespace,
            "node": {"name": "node-a1", "uid": str(uuid.uuid4())},
            "pod": {"name": f"{service_account}-7d9c5b8f6-x2x4q", "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": service_account, "uid": str(uuid.uuid4())},
        },
        "nbf": iat,
        "sub": f"system:serviceaccount:{namespace}:{service_account}",
    }


def kubernetes_token(issuer: TestIssuer, *, namespace: str, service_account: str, **claims: Any) -> str:
    """A Kubernetes projected service-account token signed by ``issuer``."""
    options = {k: claims.pop(k) for k in ("audience", "now", "lifetime") if k in claims}
    body = kubernetes_claims(issuer.url, namespace=namespace, service_account=service_account, **options)
    body.update(claims)
    return issuer.sign(body, {"alg": issuer.alg, "kid": issuer.kid})


def github_claims(
    *,
    repository: str,
    ref: str = "refs/heads/main",
    audience: str = BROKER_AUDIENCE,
    now: float | None = None,
    issuer: str = GITHUB_ISSUER,
) -> dict[str, Any]:
    """The claims of a GitHub Actions OIDC token for a push to ``ref`` of ``repository``."""
    iat = int(time.time() if now is None else now)
    owner = repository.split("/", maxsplit=1)[0]
    sha = hashlib.sha1(repository.encode(), usedforsecurity=False).hexdigest()
    workflow_ref = f"{repository}/.github/workflows/deploy.yml@{ref}"
    return {
        "actor": "octocat",
        "actor_id": "583231",
        "aud": audience,
        "base_ref": "",
        "event_name": "push",
        "exp": iat + 6 * 3600,
        "head_ref": "",
        "iat": iat,
        "iss": issuer,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": sha,
        "jti": str(uuid.uuid4()),
        "nbf": iat - 300,
        "ref": ref,
        "ref_protected": "true",
        "ref_type": "branch",
        "repository": repository,
        "repository_id": "957014466",
        "repository_owner": owner,
        "repository_owner_id": "43356",
        "repository_visibility": "private",
        "run_attempt": "1",
        "run_id": "14144996512",
        "run_number": "3",
        "runner_environment": "github-hosted",
        "sha": sha,
        "sub": f"repo:{repository}:ref:{ref}",
        "workflow": "Deploy",
        "workflow_ref": workflow_ref,
        "workflow_sha": sha,
    }


def github_token(issuer: TestIssuer, *, repository: str, **claims: Any) -> str:
    """A GitHub Actions OIDC token signed by ``issuer`` (header typ JWT, x5t, kid)."""
    options = {k: claims.pop(k) for k in ("ref", "audience", "now") if k in claims}
    body = github_claims(repository=repository, issuer=issuer.url, **options)
    body.update(claims)
    x5t = b64url(hashlib.sha1(issuer.public_pem, usedforsecurity=False).digest())
    return issuer.sign(body, {"typ": "JWT", "alg": issuer.alg, "x5t": x5t, "kid": issuer.kid})


class JwksServer:
    """Serves a JWK Set at ``/jwks`` over HTTP on 127.0.0.1, counting requests; the body can change."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.status = 200
        self.delay = 0.0
        self.location = ""  # set with a 3xx status: where to redirect
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if server.delay:
                    time.sleep(server.delay)
                payload = server.body.encode()
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", "application/json")
                    if server.location:
                        self.send_header("Location", server.location)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The JWKS URL."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks"

    def start(self) -> JwksServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def jwks_server(body: str) -> Iterator[JwksServer]:
    """A running JwksServer for the duration of the block."""
    server = JwksServer(body).start()
    try:
        yield server
    finally:
        server.stop()


def forge(
    header: Mapping[str, Any] | bytes,
    payload: Mapping[str, Any] | bytes,
    *,
    key: Any = None,
    hmac_secret: bytes | None = None,
    signature: bytes | None = None,
) -> str:
    """A compact JWS built by hand: any header and payload bytes (duplicate members, deep
    nesting), signed with ``key`` by the header's alg, HMAC-SHA256 with ``hmac_secret``, or
    carrying ``signature`` as given."""
    head = header if isinstance(header, bytes) else json.dumps(dict(header)).encode()
    body = payload if isinstance(payload, bytes) else json.dumps(dict(payload)).encode()
    signing_input = f"{b64url(head)}.{b64url(body)}".encode()
    if signature is None:
        if hmac_secret is not None:
            signature = hmac.new(hmac_secret, signing_input, hashlib.sha256).digest()
        else:
            alg = json.loads(head)["alg"]
            signature = jwt.get_algorithm_by_name(alg).sign(signing_input, key)
    return f"{signing_input.decode()}.{b64url(signature)}"

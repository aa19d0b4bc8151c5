"""Test helpers for code that uses the broker: a real, in-process fake broker.

``FakeBroker`` is a gRPC server on 127.0.0.1 (a free port) implementing TokenService
and SecretService, plus an HTTP JWKS endpoint, with programmable behaviour::

    with FakeBroker() as broker:
        source = TokenSource(broker.address, lambda: broker.mint("me"), scopes=["a.read"])
        broker.fail("ExchangeToken", grpc.StatusCode.UNAVAILABLE, times=1)
        with pytest.raises(TokenUnavailable):
            source.token()
        assert broker.count("ExchangeToken") == 1

It accepts any well-formed JWT as an attestation (a self-signed assertion must be
addressed to its issuer), mints ES256 tokens signed by its own key, checks the bearer
token and the ``broker.secrets.*`` scopes on SecretService like the real broker, counts
every call, fails calls on demand, and streams WatchSecret events (with the
``broker-watch-after-seq`` initial metadata and ``after_seq`` resumption). Time is the
wall clock. It is a test double: it verifies no attestation signature.
"""

from __future__ import annotations

import collections
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

import grpc
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import timestamp_pb2

from . import keys
from ._secrets import WATCH_AFTER_SEQ
from ._typing import TOKEN_TYPE_JWT
from .v1 import secret_pb2, secret_pb2_grpc, token_pb2, token_pb2_grpc

__all__ = ["FakeBroker"]

T = TypeVar("T")
_READ, _VERIFY, _ROTATE = "broker.secrets.read", "broker.secrets.verify", "broker.secrets.rotate"


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@dataclass
class _Failure:
    code: grpc.StatusCode
    details: str
    remaining: int | None


class FakeBroker:
    """A broker stand-in on 127.0.0.1 for tests (see the module docstring)."""

    def __init__(self, *, issuer: str = "https://broker.test", token_ttl: float = 300.0) -> None:
        self.issuer = issuer
        self.token_ttl = token_ttl
        #: Seconds every ExchangeToken takes (to make concurrent callers overlap).
        self.exchange_delay = 0.0
        self.signing_key: keys.PrivateKey = ec.generate_private_key(ec.SECP256R1())
        self.kid = keys.thumbprint(keys.public_jwk(self.signing_key))
        self._published: dict[str, keys.PrivateKey] = {self.kid: self.signing_key}
        self._lock = threading.Lock()
        self._calls: collections.Counter[str] = collections.Counter()
        self._failures: dict[str, _Failure] = {}
        #: Every ExchangeToken request received, in order.
        self.exchange_requests: list[token_pb2.ExchangeTokenRequest] = []
        self._secrets: dict[str, list[bytes]] = {}
        self._events: list[secret_pb2.WatchSecretResponse] = []
        self._watchers: set[queue.Queue[secret_pb2.WatchSecretResponse | _Abort | None]] = set()
        self._grpc_port = 0
        self._http_port = 0
        self._server: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeBroker:
        """Start listening (again on the same ports after a ``stop()``, like a restarted broker)."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="fake-broker"))
        # The generated bases answer UNIMPLEMENTED for the methods the fake does not play;
        # their stubs declare every method abstract, hence the Any.
        token_service: Any = _TokenService
        secret_service: Any = _SecretService
        token_pb2_grpc.add_TokenServiceServicer_to_server(token_service(self), server)
        secret_pb2_grpc.add_SecretServiceServicer_to_server(secret_service(self), server)
        self._grpc_port = server.add_insecure_port(f"127.0.0.1:{self._grpc_port}")
        server.start()
        self._server = server
        self._http = ThreadingHTTPServer(("127.0.0.1", self._http_port), _jwks_handler(self))
        self._http_port = self._http.server_address[1]
        http = self._http
        serve = threading.Thread(target=lambda: http.serve_forever(poll_interval=0.05), name="fake-broker-http")
        serve.daemon = True
        serve.start()
        return self

    def stop(self) -> None:
        """Stop both listeners; open WatchSecret streams end with UNAVAILABLE."""
        self.break_watches()
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> FakeBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """The gRPC address, ``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self._grpc_port}"

    @property
    def jwks_url(self) -> str:
        """The HTTP JWKS URL."""
        return f"http://127.0.0.1:{self._http_port}/.well-known/jwks.json"

    # behaviour ---------------------------------------------------------------------------
    def count(self, method: str) -> int:
        """How many times ``method`` was called (``jwks.json`` for HTTP JWKS fetches)."""
        with self._lock:
            return self._calls[method]

    def fail(
        self,
        method: str,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        *,
        times: int | None = None,
        details: str = "failing on purpose",
    ) -> None:
        """Make ``method`` fail with ``code``: the next ``times`` calls, or until ``heal``."""
        with self._lock:
            self._failures[method] = _Failure(code, details, times)

    def heal(self, method: str | None = None) -> None:
        """Stop failing ``method`` (every method when None)."""
        with self._lock:
            if method is None:
                self._failures.clear()
            else:
                self._failures.pop(method, None)

    def _enter(self, method: str) -> None:
        """Count a call and raise the programmed failure, if any."""
        with self._lock:
            self._calls[method] += 1
            failure = self._failures.get(method)
            if failure is None:
                return
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[method]
        raise _Abort(failure.code, failure.details)

    # tokens ------------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        """The published JWK Set."""
        with self._lock:
            published = dict(self._published)
        return {
            "keys": [
                {**keys.public_jwk(key), "kid": kid, "alg": keys.algorithm_of(key), "use": "sig"}
                for kid, key in published.items()
            ]
        }

    def rotate_signing_key(self, *, keep_old: bool = True) -> str:
        """Sign with a new key from now on; the old one stays published unless ``keep_old`` is false."""
        key = ec.generate_private_key(ec.SECP256R1())
        kid = keys.thumbprint(keys.public_jwk(key))
        with self._lock:
            if not keep_old:
                self._published.clear()
            self._published[kid] = key
            self.signing_key, self.kid = key, kid
        return kid

    def mint(
        self,
        subject: str = "workload",
        *,
        scopes: Sequence[str] = (),
        audiences: Sequence[str] = (),
        ttl: float | None = None,
        typ: str = "at+jwt",
        key: keys.PrivateKey | None = None,
        kid: str | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token like the broker's; ``key``/``kid``/``typ``/``claims`` override parts of it."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": list(audiences) if len(audiences) > 1 else (audiences[0] if audiences else self.issuer),
            "iat": now,
            "nbf": now,
            "exp": now + int(self.token_ttl if ttl is None else ttl),
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes),
            "client_id": subject,
            "kind": "service_account",
            "tenant": "",
            **(claims or {}),
        }
        with self._lock:
            signer, signer_kid = (key, kid or "unpublished") if key is not None else (self.signing_key, self.kid)
        headers = {"kid": kid or signer_kid, "typ": typ}
        return jwt.encode(body, signer, algorithm=keys.algorithm_of(signer), headers=headers)

    def _exchange(self, request: token_pb2.ExchangeTokenRequest) -> token_pb2.ExchangeTokenResponse:
        with self._lock:
            self.exchange_requests.append(request)
        if request.subject_token_type != TOKEN_TYPE_JWT:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "subject_token_type: unsupported")
        try:
            attestation = jwt.decode(request.subject_token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "invalid attestation") from None
        subject = attestation.get("sub")
        self_signed = attestation.get("iss") == subject
        if not isinstance(subject, str) or (self_signed and attestation.get("aud") != self.issuer):
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "invalid attestation")
        ttl = request.requested_ttl.ToTimedelta().total_seconds() if request.HasField("requested_ttl") else None
        time.sleep(self.exchange_delay)
        token = self.mint(subject, scopes=request.scopes, audiences=request.audiences, ttl=ttl)
        expires = timestamp_pb2.Timestamp(seconds=int(jwt.decode(token, options={"verify_signature": False})["exp"]))
        return token_pb2.ExchangeTokenResponse(
            access_token=token,
            issued_token_type="urn:ietf:params:oauth:token-type:access_token",
            token_type="Bearer",
            expires_at=expires,
            scopes=request.scopes,
            audiences=request.audiences or [self.issuer],
        )

    def _caller_scopes(self, context: grpc.ServicerContext) -> set[str]:
        """The scopes of the caller's bearer token; UNAUTHENTICATED unless it is ours, valid, for us."""
        header = dict(context.invocation_metadata()).get("authorization", "")
        scheme, _, token = str(header).partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token (authorization metadata)")
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            with self._lock:
                key = self._published.get(str(kid))
            if key is None:
                raise jwt.InvalidTokenError("unknown kid")
            claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience=self.issuer)
        except jwt.PyJWTError:
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "invalid token") from None
        return set(str(claims.get("scope", "")).split())

    # secrets -----------------------------------------------------------------------------
    def set_secret(self, secret_id: str, value: bytes) -> int:
        """Create the secret, or rotate it to ``value`` (watchers get a ROTATED event); returns the version."""
        with self._lock:
            versions = self._secrets.setdefault(secret_id, [])
            versions.append(value)
            version = len(versions)
            if version > 1:
                self._publish(secret_pb2.SECRET_EVENT_TYPE_ROTATED, secret_id, version, version)
        return version

    def delete_secret(self, secret_id: str) -> None:
        """Delete the secret (watchers get DELETED, then their stream ends)."""
        with self._lock:
            versions = self._secrets.pop(secret_id)
            self._publish(secret_pb2.SECRET_EVENT_TYPE_DELETED, secret_id, len(versions), 0)

    def break_watches(self) -> None:
        """End every open WatchSecret stream with UNAVAILABLE, as a broker restart does."""
        with self._lock:
            for watcher in self._watchers:
                watcher.put(_Abort(grpc.StatusCode.UNAVAILABLE, "broker restarting"))

    def _publish(self, kind: secret_pb2.SecretEventType.ValueType, secret_id: str, version: int, current: int) -> None:
        event = secret_pb2.WatchSecretResponse(
            secret_id=secret_id,
            event_type=kind,
            version=version,
            current_version=current,
            event_time=timestamp_pb2.Timestamp(seconds=int(time.time())),
            seq=len(self._events) + 1,
        )
        self._events.append(event)
        for watcher in self._watchers:
            watcher.put(event)

    def _require(self, context: grpc.ServicerContext, secret_id: str, *scopes: str) -> None:
        held = self._caller_scopes(context)
        if not any(f"{s}:{secret_id}" in held or f"{s}:*" in held for s in scopes):
            raise _Abort(grpc.StatusCode.PERMISSION_DENIED, f"this call needs scope {scopes[0]}:{secret_id}")

    def _versions(self, secret_id: str) -> list[bytes]:
        with self._lock:
            versions = self._secrets.get(secret_id)
            if versions is None:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"secret {secret_id} not found")
            return list(versions)

    def _watch(
        self, request: secret_pb2.WatchSecretRequest, context: grpc.ServicerContext
    ) -> Iterator[secret_pb2.WatchSecretResponse]:
        self._require(context, request.secret_id, _READ, _VERIFY, _ROTATE)
        self._versions(request.secret_id)
        inbox: queue.Queue[secret_pb2.WatchSecretResponse | _Abort | None] = queue.Queue()
        with self._lock:
            start = request.after_seq or len(self._events)
            for event in self._events[start:]:
                inbox.put(event)
            self._watchers.add(inbox)
        try:
            context.send_initial_metadata(((WATCH_AFTER_SEQ, str(start)),))
            while context.is_active():
                try:
                    item = inbox.get(timeout=0.05)
                except queue.Empty:
                    continue
                if isinstance(item, _Abort):
                    raise item
                if item is None:
                    return
                if item.secret_id == request.secret_id:
                    yield item
                    if item.event_type == secret_pb2.SECRET_EVENT_TYPE_DELETED:
                        return
        finally:
            with self._lock:
                self._watchers.discard(inbox)


def _guard(broker: FakeBroker, method: str, context: grpc.ServicerContext) -> None:
    try:
        broker._enter(method)
    except _Abort as exc:
        context.abort(exc.code, exc.details)


class _TokenService(token_pb2_grpc.TokenServiceServicer):
    def __init__(self, broker: FakeBroker) -> None:
        self._broker = broker

    def ExchangeToken(
        self, request: token_pb2.ExchangeTokenRequest, context: grpc.ServicerContext
    ) -> token_pb2.ExchangeTokenResponse:
        return _unary(context, lambda: self._broker._exchange(request), self._broker, "ExchangeToken")

    def GetJwks(self, request: token_pb2.GetJwksRequest, context: grpc.ServicerContext) -> token_pb2.GetJwksResponse:
        broker = self._broker
        return _unary(
            context,
            lambda: token_pb2.GetJwksResponse(jwks_json=json.dumps(broker.jwks()), issuer=broker.issuer),
            broker,
            "GetJwks",
        )


class _SecretService(secret_pb2_grpc.SecretServiceServicer):
    def __init__(self, broker: FakeBroker) -> None:
        self._broker = broker

    def AccessSecretVersion(
        self, request: secret_pb2.AccessSecretVersionRequest, context: grpc.ServicerContext
    ) -> secret_pb2.AccessSecretVersionResponse:
        broker = self._broker

        def access() -> secret_pb2.AccessSecretVersionResponse:
            broker._require(context, request.secret_id, _READ)
            versions = broker._versions(request.secret_id)
            number = request.version or len(versions)
            if not 0 < number <= len(versions):
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"version {number} not found")
            state = (
                secret_pb2.SECRET_VERSION_STATE_CURRENT
                if number == len(versions)
                else secret_pb2.SECRET_VERSION_STATE_PREVIOUS
            )
            return secret_pb2.AccessSecretVersionResponse(
                secret_id=request.secret_id, version=number, state=state, value=versions[number - 1]
            )

        return _unary(context, access, broker, "AccessSecretVersion")

    def VerifySecretValue(
        self, request: secret_pb2.VerifySecretValueRequest, context: grpc.ServicerContext
    ) -> secret_pb2.VerifySecretValueResponse:
        broker = self._broker

        def verify() -> secret_pb2.VerifySecretValueResponse:
            broker._require(context, request.secret_id, _VERIFY, _READ)
            versions = broker._versions(request.secret_id)
            for number in (len(versions), len(versions) - 1):
                if number > 0 and versions[number - 1] == request.value:
                    state = (
                        secret_pb2.SECRET_VERSION_STATE_CURRENT
                        if number == len(versions)
                        else secret_pb2.SECRET_VERSION_STATE_PREVIOUS
                    )
                    return secret_pb2.VerifySecretValueResponse(valid=True, version=number, state=state)
            return secret_pb2.VerifySecretValueResponse(valid=False)

        return _unary(context, verify, broker, "VerifySecretValue")

    def WatchSecret(
        self, request: secret_pb2.WatchSecretRequest, context: grpc.ServicerContext
    ) -> Iterator[secret_pb2.WatchSecretResponse]:
        _guard(self._broker, "WatchSecret", context)
        try:
            yield from self._broker._watch(request, context)
        except _Abort as exc:
            context.abort(exc.code, exc.details)


def _unary(context: grpc.ServicerContext, fn: Callable[[], T], broker: FakeBroker, method: str) -> T:
    _guard(broker, method, context)
    try:
        return fn()
    except _Abort as exc:
        context.abort(exc.code, exc.details)


def _jwks_handler(broker: FakeBroker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/.well-known/jwks.json":
                self.send_error(404)
                return
            try:
                broker._enter("jwks.json")
            except _Abort:
                self.send_error(503)
                return
            body = json.dumps(broker.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler

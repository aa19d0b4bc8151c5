"""Verifier: check broker tokens locally, against the broker's cached JWKS.

Signature first, then policy, with the clock injected:

1. the token is at most ``MAX_TOKEN_BYTES``; its header names an allowed algorithm
   (ES256, EdDSA, RS256: never ``none`` nor an HMAC), typ ``at+jwt`` or ``JWT``, a kid;
2. the kid names a key of the cached JWKS, whose algorithm is the header's; an unknown
   kid triggers one JWKS refetch, at most every ``refetch_interval`` seconds;
3. PyJWT checks the signature with that key and that algorithm only;
4. then the claims: iss, aud, exp/nbf/iat against ``now`` with a small leeway, the
   required scopes, and for a token bound to a client certificate (``cnf.x5t#S256``,
   RFC 8705) that the connection it came on presented that certificate.

No broker round-trip on the hot path: the JWKS is fetched once, refetched for an unknown
kid (rate-limited) and when older than ``max_age``; a failed refetch keeps the old keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ._channel import open_channel
from ._errors import InvalidToken, KeysUnavailable
from ._typing import Now
from .v1 import token_pb2, token_pb2_grpc

_log = logging.getLogger("broker_client")
ALGORITHMS = ("ES256", "EdDSA", "RS256")
TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt"})
MAX_TOKEN_BYTES = 16384
MAX_JWKS_BYTES = 1 << 20
#: Until the JWKS was fetched once, a failed fetch is retried this often at most.
NEVER_FETCHED_RETRY = 1.0


def certificate_thumbprint(certificate: bytes | x509.Certificate) -> str:
    """RFC 8705's ``x5t#S256`` of a certificate given as PEM, DER or a parsed certificate."""
    if isinstance(certificate, bytes):
        certificate = (
            x509.load_pem_x509_certificate(certificate)
            if certificate.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_certificate(certificate)
        )
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate JSON member")
        out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """The claims of a token that passed every check."""

    claims: Mapping[str, Any]

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub", ""))

    @property
    def client_id(self) -> str:
        return str(self.claims.get("client_id", ""))

    @property
    def scopes(self) -> frozenset[str]:
        scope = self.claims.get("scope", "")
        return frozenset(scope.split()) if isinstance(scope, str) else frozenset()

    @property
    def audiences(self) -> tuple[str, ...]:
        aud = self.claims.get("aud")
        return (aud,) if isinstance(aud, str) else tuple(a for a in aud or () if isinstance(a, str))

    @property
    def expires_at(self) -> float:
        return float(self.claims["exp"])


class Verifier:
    """Verifies broker tokens for one audience (a resource server's own name).

    ``source`` is a JWKS URL (``https://…/.well-known/jwks.json``; then ``issuer`` is
    required), a broker gRPC address or a ``grpc.Channel`` (the issuer defaults to the
    one the broker reports). ``scopes`` are required of every token. ``ssl_context``
    verifies an https JWKS URL (a private CA). ``require_certificate_binding`` refuses
    every token not bound to a client certificate.
    """

    def __init__(
        self,
        source: str | grpc.Channel,
        audience: str,
        *,
        issuer: str | None = None,
        scopes: Sequence[str] = (),
        algorithms: Sequence[str] = ALGORITHMS,
        leeway: float = 10.0,
        refetch_interval: float = 30.0,
        max_age: float = 600.0,
        timeout: float = 5.0,
        credentials: grpc.ChannelCredentials | None = None,
        ssl_context: ssl.SSLContext | None = None,
        require_certificate_binding: bool = False,
        now: Now = time.time,
    ) -> None:
        unknown = sorted(set(algorithms) - set(ALGORITHMS))
        if unknown or not algorithms:
            raise ValueError(f"algorithms must be a non-empty subset of {', '.join(ALGORITHMS)}")
        self._url: str | None = None
        self._stub: token_pb2_grpc.TokenServiceStub | None = None
        if isinstance(source, str) and source.startswith(("https://", "http://")):
            if issuer is None:
                raise ValueError("issuer is required when verifying against a JWKS URL")
            self._url = source
        else:
            channel = open_channel(source, credentials) if isinstance(source, str) else source
            self._stub = token_pb2_grpc.TokenServiceStub(channel)
        self.audience = audience
        self.issuer = issuer
        self._scopes = frozenset(scopes)
        self._algorithms = frozenset(algorithms)
        self._jws = jwt.PyJWS(algorithms=list(algorithms))
        self._leeway = leeway
        self._refetch_interval = refetch_interval
        self._max_age = max_age
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._require_binding = require_certificate_binding
        self._now = now
        self._keys: dict[str, jwt.PyJWK] = {}
        self._broker_issuer: str | None = None
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._kid_refetched_at = float("-inf")
        self._lock = threading.Lock()

    def verify(
        self,
        token: str,
        *,
        scopes: Sequence[str] = (),
        client_certificate: bytes | x509.Certificate | None = None,
    ) -> VerifiedToken:
        """The token's claims if it passes every check and grants ``scopes``; else InvalidToken.

        ``client_certificate`` is the certificate (PEM or DER) the request's connection
        presented: a token bound to a certificate passes only with that one.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("not a token of acceptable size")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        alg, typ, kid = header.get("alg"), header.get("typ"), header.get("kid")
        if alg not in self._algorithms:
            raise InvalidToken(f"algorithm {str(alg)[:20]!r} is not allowed")
        if not isinstance(typ, str) or typ.lower() not in TYPES:
            raise InvalidToken("typ must be at+jwt or JWT")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no kid")
        key = self._key(kid)
        if key.algorithm_name != alg:
            raise InvalidToken("the key's algorithm is not the token's")
        try:
            payload = self._jws.decode(token, key, algorithms=[alg])
            claims = json.loads(payload, object_pairs_hook=_unique_members)
        except jwt.PyJWTError:
            raise InvalidToken("bad signature") from None
        except ValueError:
            raise InvalidToken("claims are not a JSON object") from None
        if not isinstance(claims, dict):
            raise InvalidToken("claims are not a JSON object")
        self._check_claims(claims, self._scopes | set(scopes))
        self._check_binding(claims, client_certificate)
        return VerifiedToken(claims)

    def _check_binding(self, claims: dict[str, Any], certificate: bytes | x509.Certificate | None) -> None:
        cnf = claims.get("cnf")
        bound = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
        if bound is None:
            if self._require_binding:
                raise InvalidToken("token is not bound to a client certificate")
            return
        if certificate is None:
            raise InvalidToken("token is bound to a client certificate and none was presented")
        try:
            presented = certificate_thumbprint(certificate)
        except ValueError:
            raise InvalidToken("the presented client certificate does not parse") from None
        if not isinstance(bound, str) or not hmac.compare_digest(bound, presented):
            raise InvalidToken("token is bound to another client certificate")

    def _check_claims(self, claims: dict[str, Any], required: frozenset[str] | set[str]) -> None:
        issuer = self.issuer or self._broker_issuer
        if claims.get("iss") != issuer:
            raise InvalidToken("wrong issuer")
        aud = claims.get("aud")
        audiences = (aud,) if isinstance(aud, str) else tuple(aud) if isinstance(aud, list) else ()
        if self.audience not in audiences:
            raise InvalidToken("wrong audience")
        now = self._now()
        times = {name: claims.get(name) for name in ("exp", "nbf", "iat")}
        for name, value in times.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidToken(f"{name} is not a number")
        exp, nbf, iat = times["exp"], times["nbf"], times["iat"]
        if exp is None:
            raise InvalidToken("no exp")
        if exp <= now - self._leeway:
            raise InvalidToken("expired")
        if nbf is not None and nbf > now + self._leeway:
            raise InvalidToken("not valid yet")
        if iat is not None and iat > now + self._leeway:
            raise InvalidToken("issued in the future")
        scope = claims.get("scope", "")
        granted = set(scope.split()) if isinstance(scope, str) else set()
        missing = sorted(required - granted)
        if missing:
            raise InvalidToken(f"missing scope {missing[0]}")

    # keys --------------------------------------------------------------------------------
    def _key(self, kid: str) -> jwt.PyJWK:
        now = self._now()
        key = self._keys.get(kid)
        if key is not None and now - self._fetched_at < self._max_age:
            return key
        with self._lock:
            key = self._keys.get(kid)
            if self._fetched_at == float("-inf"):  # never fetched: try, at most every NEVER_FETCHED_RETRY
                due = now - self._attempted_at >= min(self._refetch_interval, NEVER_FETCHED_RETRY)
            elif key is None:  # unknown kid: one refetch per refetch_interval
                due = now - self._kid_refetched_at >= self._refetch_interval
                if due:
                    self._kid_refetched_at = now
            else:  # known kid, stale keys: refresh, but not more often than refetch_interval
                due = now - self._attempted_at >= self._refetch_interval
            if due:
                self._refresh(now)
                key = self._keys.get(kid)
        if key is None:
            if self._fetched_at == float("-inf"):
                raise KeysUnavailable("the broker's JWKS could not be fetched")
            raise InvalidToken("unknown kid")
        return key

    def _refresh(self, now: float) -> None:
        """Fetch the JWKS; keep the old keys if that fails."""
        self._attempted_at = now
        try:
            document = self._fetch()
        except (OSError, ValueError, grpc.RpcError) as exc:
            _log.warning("cannot fetch the broker's JWKS: %s", exc)
            return
        keys: dict[str, jwt.PyJWK] = {}
        for jwk in document.get("keys", ()):
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
                continue
            try:
                parsed = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                continue
            if parsed.algorithm_name in self._algorithms:
                keys[jwk["kid"]] = parsed
        self._keys = keys
        self._fetched_at = now

    def _fetch(self) -> dict[str, Any]:
        if self._url is not None:
            with urllib.request.urlopen(  # noqa: S310 - http(s) only
                self._url, timeout=self._timeout, context=self._ssl_context
            ) as resp:
                body = resp.read(MAX_JWKS_BYTES + 1)
            if len(body) > MAX_JWKS_BYTES:
                raise ValueError("JWKS too large")
        else:
            assert self._stub is not None
            response: token_pb2.GetJwksResponse = self._stub.GetJwks(token_pb2.GetJwksRequest(), timeout=self._timeout)
            self._broker_issuer = response.issuer
            body = response.jwks_json.encode()
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")
        return document

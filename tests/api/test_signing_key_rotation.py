"""Signing keys rotating every 3 s (on the broker's fake clock), watched by a JWKS-caching verifier."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from broker.core.clock import FakeClock
from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc
from tests.api.harness import ApiBroker
from tests.e2e.harness import bearer

ROTATION = {
    "BROKER_SIGNING_KEY_ROTATION": "3s",
    "BROKER_JWKS_CACHE_TTL": "1s",
    "BROKER_SCHEDULER_TICK": "250ms",
    "BROKER_LEADER_LEASE_TTL": "1s",
    "BROKER_MAX_TOKEN_TTL": "30s",
    "BROKER_DEFAULT_TOKEN_TTL": "30s",
}


@pytest.fixture(scope="module")
def rotating_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiBroker]:
    """A broker whose signing key rotates every 3 s and whose JWKS may be cached for 1 s.

    Its clock starts 15 s behind the wall (the tokens live 30 s), so that PyJWT (which reads the wall clock)
    never sees a token issued in its future while the test moves the broker's clock on.
    """
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=15))
    with ApiBroker(tmp_path_factory.mktemp("rotation") / "data", env=ROTATION, clock=clock) as broker:
        yield broker


class CachingVerifier:
    """A standard verifier: fetches the JWKS, keeps it for the Cache-Control max-age, never longer,
    and never refetches early (not even for an unknown kid)."""

    def __init__(self, url: str, now: Callable[[], float]) -> None:
        self.url = url
        self.now = now
        self.keys: dict[str, Any] = {}
        self.fetched = 0.0
        self.max_age = 0
        self.fetches = 0

    def _fetch(self) -> None:
        with urllib.request.urlopen(self.url, timeout=5) as resp:
            control = resp.headers["Cache-Control"]
            body = json.loads(resp.read())
        self.max_age = int(control.split("max-age=")[1])
        self.keys = {k["kid"]: jwt.PyJWK(k).key for k in body["keys"]}
        self.fetched = self.now()
        self.fetches += 1

    def verify(self, token: str, issuer: str) -> dict[str, Any]:
        if not self.fetches or self.now() - self.fetched >= self.max_age:
            self._fetch()
        kid = jwt.get_unverified_header(token)["kid"]
        if kid not in self.keys:
            raise AssertionError(f"kid {kid} signed a token but was not in a JWKS fetched {self.max_age}s ago or less")
        claims: dict[str, Any] = jwt.decode(token, self.keys[kid], algorithms=["ES256"], audience=issuer)
        return claims


def get_admin_identity(proc: ApiBroker, token: str) -> identity_pb2.Identity:
    with proc.channel() as channel:
        reply = identity_pb2_grpc.IdentityServiceStub(channel).GetIdentity(
            identity_pb2.GetIdentityRequest(id="admin"), metadata=bearer(token), timeout=10
        )
    return reply.identity


def test_keys_are_published_a_cache_lifetime_before_they_sign_and_old_tokens_keep_verifying(
    rotating_broker: ApiBroker,
) -> None:
    """8 s of tokens checked by a max-age JWKS cache: each kid was published in time; old tokens still work.

    Every 0.1 s of the broker's clock a token is minted and checked; the scheduler ticks
    every 0.25 s, as BROKER_SCHEDULER_TICK says.
    """
    verifier = CachingVerifier(f"{rotating_broker.http_url}/.well-known/jwks.json", rotating_broker.now)
    admin_key = keys.load_private_key(rotating_broker.admin_key)
    minted: list[tuple[str, str]] = []
    rotating_broker.tick()
    for step in range(80):
        token = rotating_broker.exchange("admin", admin_key, scopes=["broker.admin"]).access_token
        claims = verifier.verify(token, rotating_broker.issuer)
        assert claims["sub"] == "admin"
        minted.append((jwt.get_unverified_header(token)["kid"], token))
        rotating_broker.advance(0.1)
        if step % 5 in (1, 3):  # at 0.25 s and 0.5 s of every half second: the tick
            rotating_broker.tick()

    assert verifier.max_age == 1
    kids_in_order = list(dict.fromkeys(kid for kid, _ in minted))
    assert len(kids_in_order) >= 3, kids_in_order
    # A kid, once replaced, never signs again.
    changes = [i for i in range(1, len(minted)) if minted[i][0] != minted[i - 1][0]]
    assert len(changes) == len(kids_in_order) - 1
    fresh = CachingVerifier(verifier.url, rotating_broker.now)
    for kid in kids_in_order:
        _, oldest = next(item for item in minted if item[0] == kid)
        assert fresh.verify(oldest, rotating_broker.issuer)["sub"] == "admin"
        assert get_admin_identity(rotating_broker, oldest).id == "admin"


def test_a_token_signed_by_a_key_that_was_never_published_is_refused(
    rotating_broker: ApiBroker, tmp_path: Path
) -> None:
    """Same claims, signed by a stray key (its own kid, or a published key's kid): refused everywhere."""
    genuine = rotating_broker.admin_token()
    claims = jwt.decode(genuine, options={"verify_signature": False})
    header = jwt.get_unverified_header(genuine)
    stray = ec.generate_private_key(ec.SECP256R1())
    stray_kid = keys.thumbprint(keys.public_jwk(stray))
    for kid in (stray_kid, header["kid"]):
        forged = jwt.encode(claims, stray, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})
        with pytest.raises(grpc.RpcError) as refused:
            get_admin_identity(rotating_broker, forged)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        published = rotating_broker.http_json("/.well-known/jwks.json")
        assert isinstance(published, dict)
        assert stray_kid not in {k["kid"] for k in published["keys"]}
    assert get_admin_identity(rotating_broker, genuine).id == "admin"

"""Request payloads, built in the load generator's processes before the clock starts."""

from __future__ import annotations

from broker_client import keys
from broker_client.v1 import auth_pb2, token_pb2

TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
IDENTITY = "bench"
SCOPE = "bench.read"


def echo(count: int) -> list[bytes]:
    """Payloads the size of a typical ExchangeToken request."""
    return [b"x" * 420] * count


def login(count: int, *, username: str, password: str) -> list[bytes]:
    """The same LoginRequest every call (a person logging in over and over)."""
    return [auth_pb2.LoginRequest(username=username, password=password).SerializeToString()] * count


def exchange(count: int, *, pem: bytes, issuer: str) -> list[bytes]:
    """One serialized ExchangeTokenRequest per call, each with a fresh single-use assertion."""
    key = keys.load_private_key(pem)
    return [
        token_pb2.ExchangeTokenRequest(
            subject_token=keys.make_assertion(IDENTITY, key, issuer, lifetime=300),
            subject_token_type=TOKEN_TYPE_JWT,
            scopes=[SCOPE],
        ).SerializeToString()
        for _ in range(count)
    ]

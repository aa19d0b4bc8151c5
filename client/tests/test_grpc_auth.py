"""The token on gRPC calls: call credentials (sync) and AsyncTokenInterceptor (asyncio)."""

from __future__ import annotations

import grpc
import pytest
from _support import FakeClock

from broker_client import AsyncTokenInterceptor, AsyncTokenSource, TokenSource, token_call_credentials
from broker_client.testing import FakeBroker
from broker_client.v1 import secret_pb2, secret_pb2_grpc

READ = secret_pb2.AccessSecretVersionRequest(secret_id="db")


def test_call_credentials_attach_the_token(fake: FakeBroker, clock: FakeClock) -> None:
    """A channel with token_call_credentials is authenticated on every call (the fake checks the bearer)."""
    fake.set_secret("db", b"v")
    with TokenSource(fake.address, lambda: fake.mint("a"), scopes=["broker.secrets.read:db"], now=clock) as source:
        creds = grpc.composite_channel_credentials(grpc.local_channel_credentials(), token_call_credentials(source))
        with grpc.secure_channel(fake.address, creds) as channel:
            assert secret_pb2_grpc.SecretServiceStub(channel).AccessSecretVersion(READ, timeout=5).value == b"v"


def test_without_credentials_the_call_is_unauthenticated(fake: FakeBroker) -> None:
    """The same call on a plain channel is refused: the token really is what authenticates it."""
    fake.set_secret("db", b"v")
    with grpc.insecure_channel(fake.address) as channel, pytest.raises(grpc.RpcError) as caught:
        secret_pb2_grpc.SecretServiceStub(channel).AccessSecretVersion(READ, timeout=5)
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]


def test_call_credentials_fail_the_call_when_no_token_can_be_had(fake: FakeBroker, clock: FakeClock) -> None:
    """If the source cannot get a token the call fails (UNAVAILABLE) with the reason, and is not sent."""
    fake.fail("ExchangeToken", grpc.StatusCode.PERMISSION_DENIED, details="not allowed")
    with TokenSource(fake.address, lambda: fake.mint("a"), now=clock) as source:
        creds = grpc.composite_channel_credentials(grpc.local_channel_credentials(), token_call_credentials(source))
        with grpc.secure_channel(fake.address, creds) as channel, pytest.raises(grpc.RpcError) as caught:
            secret_pb2_grpc.SecretServiceStub(channel).AccessSecretVersion(READ, timeout=5)
    assert "not allowed" in (caught.value.details() or "")  # type: ignore[attr-defined]
    assert fake.count("AccessSecretVersion") == 0


async def test_aio_interceptor_attaches_the_token(fake: FakeBroker, clock: FakeClock) -> None:
    """An aio channel with AsyncTokenInterceptor is authenticated on unary and streaming calls."""
    fake.set_secret("db", b"v")
    source = AsyncTokenSource(fake.address, lambda: fake.mint("a"), scopes=["broker.secrets.read:db"], now=clock)
    interceptors = [AsyncTokenInterceptor(source)]
    async with source, grpc.aio.insecure_channel(fake.address, interceptors=interceptors) as channel:
        stub = secret_pb2_grpc.SecretServiceStub(channel)
        response = await stub.AccessSecretVersion(READ, timeout=5)  # type: ignore[misc]
        assert response.value == b"v"
        call = stub.WatchSecret(secret_pb2.WatchSecretRequest(secret_id="db"), timeout=5)
        assert await call.initial_metadata() is not None  # type: ignore[attr-defined]
        call.cancel()  # type: ignore[attr-defined]
    assert fake.count("WatchSecret") == 1


async def test_aio_interceptor_keeps_other_metadata(fake: FakeBroker, clock: FakeClock) -> None:
    """Metadata the caller passes is kept next to the token; a caller-side scope miss is still refused."""
    fake.set_secret("db", b"v")
    source = AsyncTokenSource(fake.address, lambda: fake.mint("a"), scopes=["other"], now=clock)
    interceptors = [AsyncTokenInterceptor(source)]
    async with source, grpc.aio.insecure_channel(fake.address, interceptors=interceptors) as channel:
        stub = secret_pb2_grpc.SecretServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.AccessSecretVersion(READ, metadata=(("x-request-id", "r1"),), timeout=5)  # type: ignore[misc]
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED

"""AsyncTokenSource against the FakeBroker: same promises as TokenSource, on asyncio."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import jwt
import pytest
from _support import FakeClock

from broker_client import AsyncTokenSource, KeyAttestor, TokenUnavailable
from broker_client.testing import FakeBroker


async def _until(condition: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_hundred_tasks_share_one_exchange(fake: FakeBroker, clock: FakeClock) -> None:
    """100 concurrent token() calls on an empty cache cause exactly one ExchangeToken."""
    fake.exchange_delay = 0.2
    async with AsyncTokenSource(fake.address, lambda: fake.mint("a"), now=clock) as source:
        tokens = await asyncio.gather(*(source.token() for _ in range(100)))
    assert len(set(tokens)) == 1
    assert fake.count("ExchangeToken") == 1


async def test_background_refresh_and_cache(fake: FakeBroker, clock: FakeClock) -> None:
    """The token is cached until ~2/3 of its life, then refreshed by the background task."""
    async with AsyncTokenSource(fake.address, lambda: fake.mint("a"), ttl=300, now=clock) as source:
        first = await source.token()
        clock.advance(100)
        assert await source.token() == first
        assert fake.count("ExchangeToken") == 1
        clock.advance(120)
        assert await source.token() == first
        await _until(lambda: fake.count("ExchangeToken") == 2)
        assert await source.authorization_header() != f"Bearer {first}"


async def test_outage_serves_cached_then_raises(fake: FakeBroker, clock: FakeClock) -> None:
    """With the broker down the valid token keeps coming; once expired, TokenUnavailable."""
    async with AsyncTokenSource(fake.address, lambda: fake.mint("a"), ttl=300, now=clock) as source:
        first = await source.token()
        fake.fail("ExchangeToken", grpc.StatusCode.UNAVAILABLE, details="down")
        clock.advance(250)
        assert await source.token() == first
        clock.advance(50)
        with pytest.raises(TokenUnavailable, match="down"):
            await source.token()
        fake.heal()
        clock.advance(20)
        assert await source.token() != first


async def test_key_attestor_works_on_asyncio(fake: FakeBroker, clock: FakeClock, key_file: Path) -> None:
    """The async source learns the issuer via GetJwks and sends a key assertion addressed to it."""
    async with AsyncTokenSource(fake.address, KeyAttestor("svc", key_file), scopes=["x"], now=clock) as source:
        claims = jwt.decode(await source.token(), options={"verify_signature": False})
    assert claims["sub"] == "svc" and claims["scope"] == "x"
    (request,) = fake.exchange_requests
    assert jwt.decode(request.subject_token, options={"verify_signature": False})["aud"] == fake.issuer


async def test_closed_async_source_refuses(fake: FakeBroker, clock: FakeClock) -> None:
    """After aclose(), a token that needs exchanging is refused."""
    source = AsyncTokenSource(fake.address, lambda: fake.mint("a"), now=clock)
    await source.aclose()
    with pytest.raises(TokenUnavailable, match="closed"):
        await source.token()

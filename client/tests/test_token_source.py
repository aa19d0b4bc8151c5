"""TokenSource against the FakeBroker: caching, background refresh, single flight, outages."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import jwt
import pytest
from _support import FakeClock, wait_until

from broker_client import KeyAttestor, TokenFileAttestor, TokenSource, TokenUnavailable
from broker_client.testing import FakeBroker


def _source(fake: FakeBroker, clock: FakeClock, **kwargs: object) -> TokenSource:
    return TokenSource(fake.address, lambda: fake.mint("attested"), now=clock, **kwargs)  # type: ignore[arg-type]


def test_token_is_exchanged_once_and_then_served_from_the_cache(fake: FakeBroker, clock: FakeClock) -> None:
    """Repeated token() calls within the token's fresh period cause a single ExchangeToken."""
    with _source(fake, clock, scopes=["a.read"], audiences=["https://api"], ttl=120) as source:
        first = source.token()
        clock.advance(30)
        assert source.token() == first
    claims = jwt.decode(first, options={"verify_signature": False})
    assert claims["scope"] == "a.read" and claims["aud"] == "https://api" and claims["exp"] - claims["iat"] == 120
    assert fake.count("ExchangeToken") == 1


def test_authorization_header_is_bearer_token(fake: FakeBroker, clock: FakeClock) -> None:
    """authorization_header() is 'Bearer ' followed by the current token."""
    with _source(fake, clock) as source:
        assert source.authorization_header() == f"Bearer {source.token()}"


def test_refresh_happens_in_the_background_at_about_two_thirds_of_life(fake: FakeBroker, clock: FakeClock) -> None:
    """Past ~2/3 of the life token() still answers at once with the old token, and a new one follows."""
    with _source(fake, clock, ttl=300) as source:
        first = source.token()
        clock.advance(180)  # before 2/3 minus jitter (185s): nothing happens
        assert source.token() == first
        assert fake.count("ExchangeToken") == 1
        clock.advance(40)  # 220s: past 2/3 plus jitter (215s)
        assert source.token() == first
        wait_until(lambda: fake.count("ExchangeToken") == 2, what="the background refresh")
        wait_until(lambda: source.token() != first, what="the new token")


def test_hundred_threads_asking_at_once_cause_exactly_one_exchange(fake: FakeBroker, clock: FakeClock) -> None:
    """100 threads calling token() together on an empty cache share one ExchangeToken."""
    fake.exchange_delay = 0.3
    barrier = threading.Barrier(100)
    results: list[str] = []

    def ask() -> None:
        barrier.wait()
        results.append(source.token())

    with _source(fake, clock) as source:
        threads = [threading.Thread(target=ask) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert len(results) == 100 and len(set(results)) == 1
    assert fake.count("ExchangeToken") == 1


def test_hundred_threads_share_one_failure_too(fake: FakeBroker, clock: FakeClock) -> None:
    """When that one exchange fails, all 100 callers get TokenUnavailable, still after one exchange."""
    fake.exchange_delay = 0.3
    fake.fail("ExchangeToken", grpc.StatusCode.UNAVAILABLE)
    barrier = threading.Barrier(100)
    errors: list[BaseException] = []

    def ask() -> None:
        barrier.wait()
        try:
            source.token()
        except TokenUnavailable as exc:
            errors.append(exc)

    with _source(fake, clock) as source:
        threads = [threading.Thread(target=ask) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert len(errors) == 100
    assert fake.count("ExchangeToken") == 1


def test_broker_down_keeps_serving_the_cached_token_until_it_expires(fake: FakeBroker, clock: FakeClock) -> None:
    """Refresh failures are invisible while the token is valid; afterwards token() raises a clear error."""
    with _source(fake, clock, ttl=300) as source:
        first = source.token()
        fake.fail("ExchangeToken", grpc.StatusCode.UNAVAILABLE, details="broker down")
        clock.advance(220)
        assert source.token() == first
        wait_until(lambda: fake.count("ExchangeToken") >= 2, what="a refresh attempt")
        clock.advance(60)  # 280s: still inside the usable window (life 299s minus 10s)
        assert source.token() == first
        clock.advance(15)  # 295s: within the last 10 seconds: never handed out
        with pytest.raises(TokenUnavailable) as caught:
            source.token()
    assert "UNAVAILABLE" in str(caught.value) and "broker down" in str(caught.value)
    assert caught.value.code == "UNAVAILABLE"
    assert first not in str(caught.value)


def test_without_a_token_callers_are_refused_during_backoff_then_recover(fake: FakeBroker, clock: FakeClock) -> None:
    """After a failed exchange, token() fails fast until the backoff has passed, then exchanges again."""
    fake.fail("ExchangeToken", grpc.StatusCode.UNAVAILABLE)
    with _source(fake, clock) as source:
        with pytest.raises(TokenUnavailable):
            source.token()
        calls = fake.count("ExchangeToken")
        with pytest.raises(TokenUnavailable, match="next attempt in"):
            source.token()
        assert fake.count("ExchangeToken") == calls
        fake.heal()
        clock.advance(1.0)  # past the first backoff (0.25..0.5s)
        assert source.token()


def test_permanent_refusal_is_reported_with_the_brokers_reason(fake: FakeBroker, clock: FakeClock) -> None:
    """A PERMISSION_DENIED exchange raises TokenUnavailable naming the code and the broker's message."""
    fake.fail("ExchangeToken", grpc.StatusCode.PERMISSION_DENIED, details="scope 'x' is not allowed for me")
    with _source(fake, clock) as source, pytest.raises(TokenUnavailable) as caught:
        source.token()
    assert caught.value.code == "PERMISSION_DENIED"
    assert "scope 'x' is not allowed for me" in str(caught.value)


def test_key_attestor_assertions_are_addressed_to_the_brokers_issuer(
    fake: FakeBroker, clock: FakeClock, key_file: Path
) -> None:
    """A KeyAttestor signs a fresh assertion per exchange with aud = the issuer GetJwks reported."""
    with TokenSource(fake.address, KeyAttestor("payments", key_file), now=clock) as source:
        token = source.token()
        clock.advance(1000)
        source.token()
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "payments"
    first, second = (jwt.decode(r.subject_token, options={"verify_signature": False}) for r in fake.exchange_requests)
    assert first["aud"] == second["aud"] == fake.issuer
    assert first["jti"] != second["jti"]
    assert fake.count("GetJwks") == 1


def test_key_attestor_with_a_wrong_audience_is_refused(fake: FakeBroker, clock: FakeClock, key_file: Path) -> None:
    """An assertion addressed to another issuer is refused (UNAUTHENTICATED), and said so."""
    attestor = KeyAttestor("payments", key_file, audience="https://elsewhere")
    with TokenSource(fake.address, attestor, now=clock) as source, pytest.raises(TokenUnavailable) as caught:
        source.token()
    assert caught.value.code == "UNAUTHENTICATED"


def test_token_file_is_read_again_at_every_exchange(fake: FakeBroker, clock: FakeClock, tmp_path: Path) -> None:
    """A TokenFileAttestor presents the file's current content each time."""
    path = tmp_path / "sa-token"
    path.write_text(fake.mint("first") + "\n")
    with TokenSource(fake.address, TokenFileAttestor(path), now=clock) as source:
        assert jwt.decode(source.token(), options={"verify_signature": False})["sub"] == "first"
        path.write_text(fake.mint("second"))
        clock.advance(1000)
        assert jwt.decode(source.token(), options={"verify_signature": False})["sub"] == "second"


def test_missing_token_file_is_an_attestation_error(fake: FakeBroker, clock: FakeClock, tmp_path: Path) -> None:
    """A token file that is missing fails the exchange with code ATTESTATION and the path, no RPC."""
    source = TokenSource(fake.address, TokenFileAttestor(tmp_path / "absent"), now=clock)
    with source, pytest.raises(TokenUnavailable) as caught:
        source.token()
    assert caught.value.code == "ATTESTATION" and "absent" in str(caught.value)
    assert fake.count("ExchangeToken") == 0


def test_an_existing_channel_can_be_passed_and_is_left_open(fake: FakeBroker, clock: FakeClock) -> None:
    """The channel seam: a source built on a caller's channel uses it and does not close it."""
    channel = grpc.insecure_channel(fake.address)
    with TokenSource(channel, lambda: fake.mint("x"), now=clock) as source:
        source.token()
    grpc.channel_ready_future(channel).result(timeout=5)  # still usable
    channel.close()


def test_closed_source_refuses(fake: FakeBroker, clock: FakeClock) -> None:
    """After close(), a token that needs exchanging is refused."""
    source = _source(fake, clock)
    source.close()
    with pytest.raises(TokenUnavailable, match="closed"):
        source.token()


def test_repr_never_shows_the_token(fake: FakeBroker, clock: FakeClock) -> None:
    """repr(source) names the broker and scopes, never the token."""
    with _source(fake, clock, scopes=["a"]) as source:
        token = source.token()
        assert token not in repr(source) and "scopes=['a']" in repr(source)

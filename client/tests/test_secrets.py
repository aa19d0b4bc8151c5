"""SecretSource against the FakeBroker: current value, rotations, reconnects, verification."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from _support import wait_until

from broker_client import SecretSource, SecretUnavailable, SecretValue, TokenSource
from broker_client.testing import FakeBroker


@pytest.fixture
def tokens(fake: FakeBroker) -> Iterator[TokenSource]:
    """A token source allowed to read and verify every secret."""
    with TokenSource(fake.address, lambda: fake.mint("app"), scopes=["broker.secrets.read:*"]) as source:
        yield source


def test_value_is_the_current_version(fake: FakeBroker, tokens: TokenSource) -> None:
    """value() returns the current value; current() also says which version."""
    fake.set_secret("db", b"one")
    fake.set_secret("db", b"two")
    with SecretSource("db", tokens) as secret:
        assert secret.value() == b"two"
        assert secret.current().version == 2


def test_rotation_updates_the_value_and_calls_on_rotate(fake: FakeBroker, tokens: TokenSource) -> None:
    """A ROTATED event makes the new value current and calls every on_rotate callback with it."""
    fake.set_secret("db", b"one")
    seen: list[SecretValue] = []
    done = threading.Event()
    with SecretSource("db", tokens) as secret:

        @secret.on_rotate
        def remember(value: SecretValue) -> None:
            seen.append(value)
            done.set()

        assert secret.value() == b"one"
        wait_until(lambda: fake.count("WatchSecret") == 1 and fake.count("AccessSecretVersion") == 2, what="watch")
        fake.set_secret("db", b"two")
        assert done.wait(5)
        assert secret.value() == b"two"
    assert [(v.version, v.value) for v in seen] == [(2, b"two")]


def test_no_callback_without_a_rotation(fake: FakeBroker, tokens: TokenSource) -> None:
    """Subscribing and resyncing the same version calls no callback."""
    fake.set_secret("db", b"one")
    seen: list[SecretValue] = []
    with SecretSource("db", tokens) as secret:
        secret.on_rotate(seen.append)
        secret.value()
        wait_until(lambda: fake.count("AccessSecretVersion") == 2, what="the watcher's resync")
    assert seen == []


def test_watch_reconnects_and_catches_up_after_a_break(fake: FakeBroker, tokens: TokenSource) -> None:
    """Streams broken by a restart are resumed; a rotation made while disconnected still arrives."""
    fake.set_secret("db", b"one")
    with SecretSource("db", tokens) as secret:
        secret.value()
        wait_until(lambda: fake.count("WatchSecret") == 1, what="the first watch")
        fake.fail("WatchSecret", grpc.StatusCode.UNAVAILABLE, times=1)
        fake.break_watches()
        fake.set_secret("db", b"two")
        wait_until(lambda: secret.value() == b"two", what="the rotation after reconnecting")
        wait_until(lambda: fake.count("WatchSecret") >= 3, what="the resubscription")
        fake.set_secret("db", b"three")
        wait_until(lambda: secret.value() == b"three", what="a rotation on the new stream")


def test_value_survives_the_broker_being_down(fake: FakeBroker, tokens: TokenSource) -> None:
    """While every call fails, value() keeps returning the last value."""
    fake.set_secret("db", b"one")
    with SecretSource("db", tokens) as secret:
        secret.value()
        for method in ("WatchSecret", "AccessSecretVersion"):
            fake.fail(method, grpc.StatusCode.UNAVAILABLE)
        fake.break_watches()
        assert secret.value() == b"one"


def test_missing_secret_is_a_clear_error(fake: FakeBroker, tokens: TokenSource) -> None:
    """A secret that does not exist raises SecretUnavailable with code NOT_FOUND."""
    with pytest.raises(SecretUnavailable, match="does not exist") as missing:
        SecretSource("nope", tokens).value()
    assert missing.value.code == "NOT_FOUND"


def test_missing_scope_is_a_clear_error(fake: FakeBroker) -> None:
    """A token that may read one secret gets PERMISSION_DENIED for another, and the value of its own."""
    fake.set_secret("db", b"one")
    fake.set_secret("other", b"two")
    with TokenSource(fake.address, lambda: fake.mint("app"), scopes=["broker.secrets.read:db"]) as tokens:
        with pytest.raises(SecretUnavailable) as denied:
            SecretSource("other", tokens).value()
        assert denied.value.code == "PERMISSION_DENIED" and "broker.secrets.read:other" in str(denied.value)
        with SecretSource("db", tokens) as secret:
            assert secret.value() == b"one"


def test_deletion_makes_value_raise(fake: FakeBroker, tokens: TokenSource) -> None:
    """After a DELETED event, value() raises SecretUnavailable instead of returning the old value."""
    fake.set_secret("db", b"one")
    with SecretSource("db", tokens) as secret:
        secret.value()
        wait_until(lambda: fake.count("WatchSecret") == 1, what="the watch")
        fake.delete_secret("db")
        wait_until(lambda: _raises(secret), what="the deletion")


def _raises(secret: SecretSource) -> bool:
    try:
        secret.value()
    except SecretUnavailable:
        return True
    return False


def test_verify_accepts_current_and_previous_values_only(fake: FakeBroker, tokens: TokenSource) -> None:
    """verify() reports CURRENT and PREVIOUS (grace) values as valid, anything else as not."""
    fake.set_secret("api-key", b"old")
    fake.set_secret("api-key", b"new")
    secret = SecretSource("api-key", tokens)
    current, previous, wrong = secret.verify("new"), secret.verify(b"old"), secret.verify("guess")
    assert current and current.state == "CURRENT" and current.version == 2
    assert previous and previous.state == "PREVIOUS" and previous.version == 1
    assert not wrong and wrong.state == ""


def test_verify_needs_only_the_verify_scope(fake: FakeBroker) -> None:
    """A token with broker.secrets.verify can verify but not read."""
    fake.set_secret("api-key", b"v")
    with TokenSource(fake.address, lambda: fake.mint("svc"), scopes=["broker.secrets.verify:api-key"]) as tokens:
        secret = SecretSource("api-key", tokens)
        assert secret.verify("v")
        with pytest.raises(SecretUnavailable) as caught:
            secret.value()
    assert caught.value.code == "PERMISSION_DENIED"


def test_values_never_appear_in_reprs(fake: FakeBroker, tokens: TokenSource) -> None:
    """Neither the source nor a SecretValue shows the value in its repr."""
    fake.set_secret("db", b"hunter2-secret")
    with SecretSource("db", tokens) as secret:
        value = secret.current()
        assert "hunter2" not in repr(secret) and "hunter2" not in repr(value)


def test_a_failing_callback_does_not_stop_the_watcher(fake: FakeBroker, tokens: TokenSource) -> None:
    """An exception in one on_rotate callback is logged; later callbacks and rotations still run."""
    fake.set_secret("db", b"one")
    seen: list[int] = []
    with SecretSource("db", tokens) as secret:
        secret.on_rotate(lambda v: 1 / 0)  # type: ignore[arg-type,return-value]
        secret.on_rotate(lambda v: seen.append(v.version))
        secret.value()
        wait_until(lambda: fake.count("AccessSecretVersion") == 2, what="the watcher's resync")
        fake.set_secret("db", b"two")
        wait_until(lambda: seen == [2], what="the first rotation")
        fake.set_secret("db", b"three")
        wait_until(lambda: seen == [2, 3], what="the second rotation")

"""A login's lifetimes on the clock: idle from the last use, absolute from the start, whichever is first."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from broker.core.sessions import REFRESH_PREFIX, RefreshFamily, SessionLifetimes, refresh_hash

START = datetime(2030, 1, 1, tzinfo=UTC)
LIFETIMES = SessionLifetimes()
FAMILY = RefreshFamily(
    id="f", username="alice", tenant="", scopes=(), audiences=("https://broker",), amr=("pwd",),
    create_time=START, last_used_time=START, expire_time=START + LIFETIMES.absolute,
)  # fmt: skip


def test_an_unused_login_lapses_after_the_idle_time() -> None:
    """Alive up to the instant before now + 12 h; not at it."""
    assert FAMILY.alive(START + LIFETIMES.idle - timedelta(microseconds=1), LIFETIMES.idle)
    assert not FAMILY.alive(START + LIFETIMES.idle, LIFETIMES.idle)


def test_use_moves_the_idle_end_but_never_past_the_absolute_end() -> None:
    """A use 6 days 20 h in gives 4 hours more, not 12: the 7 days after the login end it."""
    used = dataclasses.replace(FAMILY, last_used_time=START + timedelta(days=6, hours=20))
    assert used.expires_at(LIFETIMES.idle) == START + timedelta(days=7)
    assert used.alive(START + timedelta(days=6, hours=23), LIFETIMES.idle)
    assert not used.alive(START + timedelta(days=7), LIFETIMES.idle)


def test_an_ended_login_is_dead_at_once() -> None:
    ended = dataclasses.replace(FAMILY, end_time=START, end_reason="logout")
    assert not ended.alive(START, LIFETIMES.idle)


def test_refresh_tokens_are_kept_as_their_sha256() -> None:
    """64 hex characters, different for every token; the prefix makes a leaked one recognisable."""
    token = f"{REFRESH_PREFIX}abc"
    assert len(refresh_hash(token)) == 64 and refresh_hash(token) != refresh_hash(f"{REFRESH_PREFIX}abd")

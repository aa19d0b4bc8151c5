"""Durations as operators write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("24h", 86400), ("7d", 604800), ("500ms", 0.5)],
)
def test_parse(text: str, expected: float) -> None:
    """Units s, m, h, d, ms combine."""
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("text", ["5", "90", " 3600 "])
def test_a_bare_number_is_refused_with_the_units_it_could_mean(text: str) -> None:
    """'5' could be seconds or minutes: refused, suggesting 5s, 5m and 5h."""
    with pytest.raises(ValueError, match=rf"has no unit: write {text.strip()}s, {text.strip()}m or {text.strip()}h"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "m", "1x", "1h 30m", "-5s", "1.5h", "h1"])
def test_parse_rejects_malformed(text: str) -> None:
    """Anything else is a ValueError."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_round_trips() -> None:
    """format_duration gives the shortest text that parses back."""
    for seconds in (0, 1, 59, 60, 3600, 5400, 86400 + 61):
        assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)

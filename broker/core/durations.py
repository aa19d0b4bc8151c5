"""Durations as people write them: ``90s``, ``15m``, ``1h30m``, ``24h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta

from .errors import InvalidArgument

_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``-style text; ValueError if malformed. Every number needs its unit:
    a bare ``5`` is refused rather than guessed (five seconds? five minutes?)."""
    value = text.strip()
    if re.fullmatch(r"[0-9]+", value):
        raise ValueError(f"{text!r} has no unit: write {value}s, {value}m or {value}h")
    pos = 0
    seconds = 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(value):
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 15m, 1h30m, 7d)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest ``1h30m``-style text for whole seconds."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def whole_seconds(value: timedelta | None, field: str) -> int | None:
    """A duration as stored (whole seconds); anything finer is refused, never rounded."""
    if value is None:
        return None
    if value % timedelta(seconds=1):
        raise InvalidArgument(f"{field}: must be a whole number of seconds")
    return value // timedelta(seconds=1)


def from_seconds(seconds: int | None) -> timedelta | None:
    """A stored duration back as a timedelta."""
    return None if seconds is None else timedelta(seconds=seconds)

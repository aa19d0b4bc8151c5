"""A wrapper that keeps secret material out of reprs, logs and exception messages."""

from __future__ import annotations

import hmac
from typing import Final


class Sensitive:
    """Secret bytes: ``repr`` and ``str`` never show them; compare in constant time."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value: Final = bytes(value)

    def reveal(self) -> bytes:
        """The raw bytes. Call only where the value must leave the broker."""
        return self._value

    def matches(self, candidate: bytes) -> bool:
        """Constant-time comparison with ``candidate``."""
        return hmac.compare_digest(self._value, candidate)

    def __repr__(self) -> str:
        return "Sensitive(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(Sensitive)

    def __len__(self) -> int:
        return len(self._value)

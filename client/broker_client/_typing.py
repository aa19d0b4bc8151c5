"""Protocols and aliases shared by the client's modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

#: A clock: seconds as a float. Sources default to ``time.monotonic``, the Verifier to
#: ``time.time``; tests pass a fake to move time without sleeping.
Now = Callable[[], float]


@runtime_checkable
class Attestor(Protocol):
    """Proves the workload's identity to the broker; asked once per exchange."""

    def attest(self, audience: str) -> str:
        """A fresh subject token (a JWT); ``audience`` is the broker's issuer."""
        ...

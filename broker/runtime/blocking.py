"""A proxy that marks every call on an object as blocking I/O, for the inline fast path.

core/ does not know about the event loop. assemble.py hands the services whose reads
may happen during an inline exchange (the identity cache, the issuer list, the keyring,
external-token verification) their store, or verifier, wrapped in ``blocking``: a call
through it raises ``inline.WouldBlock`` when made inline, so the exchange is run again
on a worker thread, and is a plain call everywhere else.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar, cast

from .inline import before_io

T = TypeVar("T")


class _Blocking:
    """Forwards attribute access to the target; its methods first call ``before_io``."""

    __slots__ = ("_target",)

    def __init__(self, target: object) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            before_io()
            return attr(*args, **kwargs)

        return call

    def __repr__(self) -> str:
        return f"blocking({self._target!r})"


def blocking(target: T) -> T:
    """``target``, with every method call marked as blocking I/O (see the module docstring)."""
    return cast(T, _Blocking(target))

"""Update masks, one rule for every Update call (AIP-134's shape): name at least one field,
and only fields the resource lets change."""

from __future__ import annotations

from collections.abc import Iterable, Set

from .errors import InvalidArgument


def check_mask(paths: Iterable[str], mutable: Set[str]) -> None:
    """InvalidArgument unless ``paths`` is non-empty and within ``mutable``."""
    named = set(paths)
    if not named:
        raise InvalidArgument("update_mask: name at least one field")
    unknown = sorted(named - mutable)
    if unknown:
        raise InvalidArgument(f"update_mask: cannot update {', '.join(unknown)}")

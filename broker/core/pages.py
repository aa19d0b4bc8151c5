"""Pagination, one rule for every List call (AIP-158's shape).

A page asks the store for one item more than it returns: if that one exists, the
next page token is the key of the last item returned, else ''. ``page_size`` 0 means
the default (100); more than the maximum (1000) is cut to it; negative is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import InvalidArgument

DEFAULT_PAGE = 100
MAX_PAGE = 1000

T = TypeVar("T")


def page_size(requested: int) -> int:
    """How many items a page holds for a requested ``page_size``."""
    if requested < 0:
        raise InvalidArgument("page_size: must not be negative")
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def page(items: Sequence[T], size: int, key: Callable[[T], str]) -> tuple[list[T], str]:
    """The first ``size`` of ``items`` (read with limit size + 1) and the next page token."""
    if len(items) > size:
        return list(items[:size]), key(items[size - 1])
    return list(items), ""

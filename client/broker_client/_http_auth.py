"""Bearer auth for requests (the ``requests`` extra).

requests accepts any callable as ``auth``: it is handed the prepared request and sets
its header, so this module needs no import of requests itself.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Protocol, TypeVar

from ._token_source import TokenSource


class _HasHeaders(Protocol):
    headers: MutableMapping[str, str]


R = TypeVar("R", bound=_HasHeaders)


class RequestsAuth:
    """``requests`` auth: ``session.auth = RequestsAuth(source)`` sends the broker token."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def __call__(self, request: R) -> R:
        request.headers["Authorization"] = self._source.authorization_header()
        return request

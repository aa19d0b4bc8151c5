"""Bearer auth for httpx (the ``httpx`` extra); imported only when ``HttpxAuth`` is used."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx

from ._async_token_source import AsyncTokenSource
from ._token_source import TokenSource


class HttpxAuth(httpx.Auth):
    """httpx auth: a TokenSource for ``httpx.Client``, an AsyncTokenSource for ``httpx.AsyncClient``."""

    def __init__(self, source: TokenSource | AsyncTokenSource) -> None:
        self._source = source

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not isinstance(self._source, TokenSource):
            raise TypeError("httpx.Client needs HttpxAuth(TokenSource); AsyncTokenSource is for httpx.AsyncClient")
        request.headers["Authorization"] = self._source.authorization_header()
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if not isinstance(self._source, AsyncTokenSource):
            raise TypeError("httpx.AsyncClient needs HttpxAuth(AsyncTokenSource); TokenSource is for httpx.Client")
        request.headers["Authorization"] = await self._source.authorization_header()
        yield request

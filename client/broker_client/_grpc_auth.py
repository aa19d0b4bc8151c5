"""Attach the broker token to gRPC calls: call credentials (sync) and an interceptor (asyncio).

Call credentials need a channel with a security level: TLS, or
``grpc.local_channel_credentials()`` for a plain-text server on localhost. Do not put
them on the channel the TokenSource itself uses to reach the broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

import grpc

from ._async_token_source import AsyncTokenSource
from ._errors import TokenUnavailable
from ._token_source import TokenSource

Req = TypeVar("Req")
Resp = TypeVar("Resp")


class _TokenPlugin(grpc.AuthMetadataPlugin):
    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def __call__(self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback) -> None:
        try:
            header = self._source.authorization_header()
        except TokenUnavailable as exc:
            callback((), exc)
            return
        callback((("authorization", header),), None)


def token_call_credentials(source: TokenSource) -> grpc.CallCredentials:
    """Call credentials that send ``authorization: Bearer <token>`` with every call."""
    return grpc.metadata_call_credentials(_TokenPlugin(source), name="broker-token")


class AsyncTokenInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,
    grpc.aio.UnaryStreamClientInterceptor,
    grpc.aio.StreamUnaryClientInterceptor,
    grpc.aio.StreamStreamClientInterceptor,
):
    """Adds ``authorization: Bearer <token>`` to every call of a ``grpc.aio`` channel.

    ``grpc.aio.insecure_channel(addr, interceptors=[AsyncTokenInterceptor(source)])``.
    """

    def __init__(self, source: AsyncTokenSource) -> None:
        self._source = source

    async def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata["authorization"] = await self._source.authorization_header()
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Req], Awaitable[grpc.aio.UnaryUnaryCall[Req, Resp]]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Req,
    ) -> grpc.aio.UnaryUnaryCall[Req, Resp]:
        return await continuation(await self._details(client_call_details), request)

    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Req], Awaitable[grpc.aio.UnaryStreamCall[Req, Resp]]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Req,
    ) -> grpc.aio.UnaryStreamCall[Req, Resp]:
        return await continuation(await self._details(client_call_details), request)

    async def intercept_stream_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, AsyncIterable[Req] | Iterable[Req]],
            Awaitable[grpc.aio.StreamUnaryCall[Req, Resp]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Req] | Iterable[Req],
    ) -> grpc.aio.StreamUnaryCall[Req, Resp]:
        return await continuation(await self._details(client_call_details), request_iterator)

    async def intercept_stream_stream(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, AsyncIterable[Req] | Iterable[Req]],
            Awaitable[grpc.aio.StreamStreamCall[Req, Resp]],
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Req] | Iterable[Req],
    ) -> AsyncIterator[Resp] | grpc.aio.StreamStreamCall[Req, Resp]:
        return await continuation(await self._details(client_call_details), request_iterator)

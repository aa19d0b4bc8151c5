"""AsyncTokenSource: the asyncio counterpart of TokenSource.

Same behaviour (refresh at about two thirds of the life with jitter, capped exponential
backoff, one exchange for every caller asking at once, the cached token while it is
valid), with a background task instead of a thread. Attestors run in a worker thread,
since reading a token file or calling a user function may block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import cast

import grpc

from ._attestors import as_attestor, subject_token_type
from ._channel import open_aio_channel
from ._errors import TokenUnavailable
from ._refresh import RefreshState, as_ttl, exchange_request, lifetime_of
from ._token_source import MAX_SLEEP
from ._typing import Attestor, Now
from .v1 import token_pb2, token_pb2_grpc

_log = logging.getLogger("broker_client")


class AsyncTokenSource:
    """An asyncio source of broker tokens for one set of scopes, audiences and TTL.

    ``broker`` is the broker's gRPC address or an existing ``grpc.aio.Channel`` (which
    the source then does not close). It may be built outside an event loop; use it from
    one event loop.
    """

    def __init__(
        self,
        broker: str | grpc.aio.Channel,
        attestor: Attestor | Callable[[], str],
        *,
        scopes: Sequence[str] = (),
        audiences: Sequence[str] = (),
        ttl: float | timedelta | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        max_backoff: float = 10.0,
        now: Now = time.monotonic,
    ) -> None:
        self._owns_channel = isinstance(broker, str)
        self._channel: grpc.aio.Channel | None = None if isinstance(broker, str) else broker
        self._credentials = credentials
        self._target = broker if isinstance(broker, str) else "the broker"
        self._stub_cache: token_pb2_grpc.TokenServiceAsyncStub | None = None
        self._attestor = as_attestor(attestor)
        self._subject_token_type = subject_token_type(self._attestor)
        self.scopes = tuple(scopes)
        self.audiences = tuple(audiences)
        self._ttl = as_ttl(ttl)
        self._timeout = timeout
        self._now = now
        self._issuer: str | None = None
        self._state = RefreshState(max_backoff=max_backoff)
        self._flight: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._refresher: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel to the broker (opened on first use, inside the event loop, when given an address)."""
        if self._channel is None:
            self._channel = open_aio_channel(self._target, self._credentials)
        return self._channel

    @property
    def _stub(self) -> token_pb2_grpc.TokenServiceAsyncStub:
        if self._stub_cache is None:
            stub = token_pb2_grpc.TokenServiceStub(self.channel)
            self._stub_cache = cast("token_pb2_grpc.TokenServiceAsyncStub", stub)
        return self._stub_cache

    async def token(self) -> str:
        """A valid access token; raises TokenUnavailable when none can be had."""
        now = self._now()
        fresh = self._state.fresh(now)
        if fresh is not None:
            return fresh
        if self._closed:
            raise TokenUnavailable("the token source is closed")
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop(), name="broker-token-refresh")
        usable = self._state.usable(now)
        if usable is not None:
            self._wake.set()
            return usable
        if self._flight is None:
            refusal = self._state.refusal(now)
            if refusal is not None:
                raise refusal
            self._start_flight()
        assert self._flight is not None
        await asyncio.shield(self._flight)
        usable = self._state.usable(self._now())
        if usable is None:
            raise self._state.error()
        return usable

    async def authorization_header(self) -> str:
        """``Bearer <token>``, for an HTTP Authorization header or gRPC metadata."""
        return f"Bearer {await self.token()}"

    async def aclose(self) -> None:
        """Stop the refresher and close the channel if the source opened it."""
        self._closed = True
        for task in (self._refresher, self._flight):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._refresher = self._flight = None
        if self._owns_channel and self._channel is not None:
            await self._channel.close()

    async def __aenter__(self) -> AsyncTokenSource:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncTokenSource({self._target!r}, {self._attestor!r}, scopes={list(self.scopes)!r})"

    # internals ---------------------------------------------------------------------------
    def _start_flight(self) -> None:
        self._flight = asyncio.create_task(self._run_exchange())
        self._flight.add_done_callback(self._flight_done)

    def _flight_done(self, task: asyncio.Task[None]) -> None:
        if self._flight is task:
            self._flight = None

    async def _refresh_loop(self) -> None:
        while not self._closed:
            self._wake.clear()
            now = self._now()
            delay = self._state.next_attempt(now) - now
            if delay <= 0:
                if self._flight is None:
                    self._start_flight()
                assert self._flight is not None
                await asyncio.shield(self._flight)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(max(delay, 0.05), MAX_SLEEP))

    async def _run_exchange(self) -> None:
        sent_at = self._now()
        try:
            response = await self._exchange()
        except TokenUnavailable as exc:
            self._state.failed(exc, self._now())
            _log.warning("token exchange failed: %s", exc)
            return
        self._state.succeeded(response.access_token, lifetime_of(response), sent_at)

    async def _exchange(self) -> token_pb2.ExchangeTokenResponse:
        try:
            if self._issuer is None:
                jwks = await self._stub.GetJwks(token_pb2.GetJwksRequest(), timeout=self._timeout)
                self._issuer = jwks.issuer
            subject_token = await asyncio.to_thread(self._attestor.attest, self._issuer)
            request = exchange_request(
                subject_token, self.scopes, self.audiences, self._ttl, subject_token_type=self._subject_token_type
            )
            response = await self._stub.ExchangeToken(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            error = TokenUnavailable.from_rpc(f"token exchange with {self._target} failed", exc)
            if error.code == grpc.StatusCode.UNAUTHENTICATED.name:
                self._issuer = None
            raise error from None
        except Exception as exc:  # noqa: BLE001 - a failing attestor must not kill the refresher
            raise TokenUnavailable(f"cannot attest: {type(exc).__name__}: {exc}", code="ATTESTATION") from None
        return response

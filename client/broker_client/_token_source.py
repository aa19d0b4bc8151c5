"""TokenSource: a broker token that is always valid, for threaded programs.

``token()`` answers from the cache while the token is fresh. A background thread
exchanges a new attestation at about two thirds of the token's life; while the broker
is down it keeps retrying with capped exponential backoff and jitter, and ``token()``
keeps returning the cached token as long as it is valid. Only when no valid token is
left does ``token()`` exchange in the caller's thread, one exchange for every caller
asking at once, and raise ``TokenUnavailable`` if that fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType

import grpc

from ._attestors import as_attestor, subject_token_type
from ._channel import open_channel
from ._errors import TokenUnavailable
from ._refresh import RefreshState, as_ttl, exchange_request, lifetime_of
from ._typing import Attestor, Now
from .v1 import token_pb2, token_pb2_grpc

_log = logging.getLogger("broker_client")
#: The refresher wakes at least this often to look at the clock again.
MAX_SLEEP = 5.0


class TokenSource:
    """A thread-safe source of broker tokens for one set of scopes, audiences and TTL.

    ``broker`` is the broker's gRPC address (``host:port``; TLS when ``credentials`` is
    given) or an existing ``grpc.Channel``, which the source then does not close.
    """

    def __init__(
        self,
        broker: str | grpc.Channel,
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
        self.channel: grpc.Channel = open_channel(broker, credentials) if isinstance(broker, str) else broker
        self._target = broker if isinstance(broker, str) else "the broker"
        self._stub = token_pb2_grpc.TokenServiceStub(self.channel)
        self._attestor = as_attestor(attestor)
        self._subject_token_type = subject_token_type(self._attestor)
        self.scopes = tuple(scopes)
        self.audiences = tuple(audiences)
        self._ttl = as_ttl(ttl)
        self._timeout = timeout
        self._now = now
        self._issuer: str | None = None
        self._state = RefreshState(max_backoff=max_backoff)
        self._lock = threading.Condition()
        self._in_flight = False
        self._wake = threading.Event()
        self._closed = False
        self._refresher: threading.Thread | None = None

    # public ------------------------------------------------------------------------------
    def token(self) -> str:
        """A valid access token; raises TokenUnavailable when none can be had."""
        fresh = self._state.fresh(self._now())
        if fresh is not None:
            return fresh
        with self._lock:
            if self._closed:
                raise TokenUnavailable("the token source is closed")
            self._start_refresher()
            now = self._now()
            usable = self._state.usable(now)
            if usable is not None:
                self._wake.set()  # due for refresh: the refresher does it, the caller goes on
                return usable
            leader = not self._in_flight
            if leader:
                refusal = self._state.refusal(now)
                if refusal is not None:
                    raise refusal
                self._in_flight = True
        if leader:
            self._run_exchange()
        with self._lock:
            while self._in_flight:
                self._lock.wait()
            usable = self._state.usable(self._now())
            if usable is None:
                raise self._state.error()
            return usable

    def authorization_header(self) -> str:
        """``Bearer <token>``, for an HTTP Authorization header or gRPC metadata."""
        return f"Bearer {self.token()}"

    def close(self) -> None:
        """Stop the refresher and close the channel if the source opened it."""
        with self._lock:
            self._closed = True
            refresher, self._refresher = self._refresher, None
            self._wake.set()
            self._lock.notify_all()
        if refresher is not None and refresher is not threading.current_thread():
            refresher.join(timeout=self._timeout + 1)
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> TokenSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TokenSource({self._target!r}, {self._attestor!r}, scopes={list(self.scopes)!r})"

    # internals ---------------------------------------------------------------------------
    def _start_refresher(self) -> None:
        if self._refresher is None:
            self._refresher = threading.Thread(target=self._refresh_loop, name="broker-token-refresh", daemon=True)
            self._refresher.start()

    def _refresh_loop(self) -> None:
        while True:
            self._wake.clear()
            with self._lock:
                if self._closed:
                    return
                now = self._now()
                delay = self._state.next_attempt(now) - now
                run = delay <= 0 and not self._in_flight
                if run:
                    self._in_flight = True
            if run:
                self._run_exchange()
            else:
                self._wake.wait(min(max(delay, 0.05), MAX_SLEEP))

    def _run_exchange(self) -> None:
        """One exchange; the caller has set ``_in_flight``."""
        sent_at = self._now()
        try:
            response = self._exchange()
        except TokenUnavailable as exc:
            with self._lock:
                self._state.failed(exc, self._now())
                self._in_flight = False
                self._lock.notify_all()
            _log.warning("token exchange failed: %s", exc)
            return
        except BaseException:
            with self._lock:
                self._in_flight = False
                self._lock.notify_all()
            raise
        with self._lock:
            self._state.succeeded(response.access_token, lifetime_of(response), sent_at)
            self._in_flight = False
            self._lock.notify_all()

    def _exchange(self) -> token_pb2.ExchangeTokenResponse:
        try:
            if self._issuer is None:
                self._issuer = self._stub.GetJwks(token_pb2.GetJwksRequest(), timeout=self._timeout).issuer
            subject_token = self._attestor.attest(self._issuer)
            request = exchange_request(
                subject_token, self.scopes, self.audiences, self._ttl, subject_token_type=self._subject_token_type
            )
            response: token_pb2.ExchangeTokenResponse = self._stub.ExchangeToken(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            error = TokenUnavailable.from_rpc(f"token exchange with {self._target} failed", exc)
            if error.code == grpc.StatusCode.UNAUTHENTICATED.name:
                self._issuer = None  # learn the assertion audience again next time
            raise error from None
        except Exception as exc:  # noqa: BLE001 - a failing attestor must not kill the refresher
            raise TokenUnavailable(f"cannot attest: {type(exc).__name__}: {exc}", code="ATTESTATION") from None
        return response

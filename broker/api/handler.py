"""The one way out of every RPC: request id, authentication, error mapping, one log line.

Like SPIRE's ``MakeErr``: a domain error becomes exactly one gRPC status here, is logged
once (with its private ``detail``), and counted; nothing else in the code knows status
codes. Unexpected exceptions become INTERNAL with the request id and no other detail.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from ..core import errors
from ..core.principals import Principal
from ..core.ratelimit import RateLimited
from ..metrics import LATENCY_BUCKETS
from .auth import Authenticator
from .limits import CallLimits, retry_trailers

_log = structlog.get_logger("broker.rpc")

STATUS: dict[type[errors.BrokerError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_of(exc: errors.BrokerError) -> grpc.StatusCode:
    """The gRPC status of a domain error (its nearest mapped base class)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


class RpcMetrics:
    """Prometheus counters for RPCs, on a registry the server owns."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter("broker_rpc_total", "RPCs handled", ["method", "code"], registry=registry)
        self.latency = Histogram(
            "broker_rpc_duration_seconds",
            "RPC handling time",
            ["method"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )


@dataclass(frozen=True)
class ApiContext:
    """What every servicer shares: the authenticator, the metrics, the limits and the deadline."""

    auth: Authenticator
    metrics: RpcMetrics
    limits: CallLimits = field(default_factory=CallLimits)
    #: How long a unary RPC may take inside the broker before it answers DEADLINE_EXCEEDED.
    timeout: float = 30.0


class Servicer:
    """Base of the broker's servicers: holds the shared ApiContext."""

    def __init__(self, api: ApiContext) -> None:
        self.api = api


T = TypeVar("T")
Req = TypeVar("Req")
Resp = TypeVar("Resp")
S = TypeVar("S", bound=Servicer)
Ctx = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[S, Req, Ctx, Principal], Awaitable[Resp]]
#: What ``rpc`` makes of a handler: the method the generated servicer base declares.
Unary = Callable[[S, Req, Ctx], Awaitable[Resp]]


class Undecodable:
    """What a handler gets instead of a request whose bytes do not parse: it answers INVALID_ARGUMENT."""

    def __init__(self, message: str) -> None:
        self.message = message


def _guarded(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer``, except that bytes it cannot parse become an ``Undecodable``, not gRPC's UNKNOWN."""
    if deserializer is None:
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    name = str(getattr(descriptor, "full_name", "request"))

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError, or whatever a parser raises
            return Undecodable(name)

    return parse


class _Registrar:
    """Stands in for the server while a generated ``add_*Servicer_to_server`` registers a service,
    so that every method's request deserializer is ``_guarded``."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        """Ignored: the same methods arrive next, as a table, in add_registered_method_handlers."""

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        guarded = {
            name: handler._replace(request_deserializer=_guarded(handler.request_deserializer))
            for name, handler in handlers.items()
        }
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, guarded),))
        self._server.add_registered_method_handlers(service, guarded)


def add_servicer(server: grpc.aio.Server, add_to_server: Callable[[Any, Any], None], servicer: Any) -> None:
    """Register ``servicer`` with its generated ``add_*_to_server``; undecodable requests become INVALID_ARGUMENT."""
    add_to_server(servicer, _Registrar(server))


def _request_id(context: Ctx) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable():
            return value
    return uuid.uuid4().hex


class _Outcome:
    """Collects how an RPC ended, for the single log line and the metrics."""

    def __init__(self, method: str, request_id: str) -> None:
        self.method = method
        self.request_id = request_id
        self.code = grpc.StatusCode.OK
        self.message = ""
        self.detail: str | None = None
        self.start = time.perf_counter()

    def cancelled(self) -> None:
        self.code, self.message = grpc.StatusCode.CANCELLED, "cancelled"

    def fail(self, exc: BaseException) -> tuple[grpc.StatusCode, str]:
        if isinstance(exc, TimeoutError):
            self.code, self.message = grpc.StatusCode.DEADLINE_EXCEEDED, "the broker could not answer in time"
        elif isinstance(exc, errors.BrokerError):
            self.code, self.message, self.detail = status_of(exc), exc.message, exc.detail
        else:
            self.code = grpc.StatusCode.INTERNAL
            self.message = f"internal error (request id {self.request_id})"
            _log.exception("unhandled error", rpc=self.method, request_id=self.request_id)
        return self.code, self.message

    def finish(self, metrics: RpcMetrics) -> None:
        elapsed = time.perf_counter() - self.start
        metrics.calls.labels(self.method, self.code.name).inc()
        metrics.latency.labels(self.method).observe(elapsed)
        fields: dict[str, Any] = {"rpc": self.method, "code": self.code.name, "ms": round(elapsed * 1000, 2)}
        if self.code is not grpc.StatusCode.OK:
            fields["error"] = self.message
            if self.detail:
                fields["reason"] = self.detail
        _log.info("rpc", request_id=self.request_id, **fields)


async def _principal(
    servicer: Servicer,
    context: Ctx,
    request: object,
    scope: str | None,
    *,
    public: bool,
    request_id: str,
    limited: bool = False,
) -> Principal:
    """The caller: anonymous for a public RPC, else the holder of a valid broker token with ``scope``."""
    if isinstance(request, Undecodable):
        raise errors.InvalidArgument(f"request: not a valid {request.message} message")
    peer = context.peer() or ""
    limits = servicer.api.limits
    if limited:
        await _check(limits.blocking, limits.before_auth, peer)
    if public:
        return Principal.anonymous(request_id=request_id, peer=peer)
    principal = Principal.of_token(await servicer.api.auth.authenticate(context), request_id=request_id, peer=peer)
    if scope is not None:
        principal.require(scope)
    if limited:
        await _check(limits.blocking, limits.after_auth, principal)
    return principal


async def _check(blocking: bool, check: Callable[[T], None], arg: T) -> None:
    """Run a limit check, off the event loop when it reads the store."""
    if blocking:
        await asyncio.to_thread(check, arg)
    else:
        check(arg)


def rpc(
    *, scope: str | None = None, public: bool = False, limited: bool = False, timeout: float | None = None
) -> Callable[[Handler[S, Req, Resp]], Unary[S, Req, Resp]]:
    """Wrap a unary servicer method; the caller is passed as its fourth argument.

    ``public``: no token needed (ExchangeToken, GetJwks), the caller is anonymous.
    Otherwise a broker token whose aud holds the issuer is required, plus ``scope`` when
    given; finer checks (per resource) are the core services' own. ``limited``: the
    client address's and the caller's rate limits apply (api/limits.py). The whole call
    has ``timeout`` seconds, by default ``ApiContext.timeout``.
    """

    def decorate(fn: Handler[S, Req, Resp]) -> Unary[S, Req, Resp]:
        method = fn.__name__

        @functools.wraps(fn)
        async def handler(self: S, request: Req, context: Ctx) -> Resp:
            outcome = _Outcome(method, _request_id(context))
            structlog.contextvars.bind_contextvars(request_id=outcome.request_id)
            trailers: tuple[tuple[str, bytes], ...] = ()
            try:
                async with asyncio.timeout(timeout or self.api.timeout):
                    principal = await _principal(
                        self, context, request, scope, public=public, request_id=outcome.request_id, limited=limited
                    )
                    return await fn(self, request, context, principal)
            except asyncio.CancelledError:
                outcome.cancelled()
                raise
            except Exception as exc:  # noqa: BLE001 - the one place errors leave
                code, message = outcome.fail(exc)
                if isinstance(exc, RateLimited):
                    trailers = retry_trailers(exc, message)
            finally:
                outcome.finish(self.api.metrics)
                structlog.contextvars.unbind_contextvars("request_id")
            await context.abort(code, message, trailing_metadata=trailers)

        return handler

    return decorate


StreamHandler = Callable[[S, Req, Ctx, Principal], AsyncIterator[Resp]]
Streaming = Callable[[S, Req, Ctx], AsyncIterator[Resp]]


def stream_rpc(*, scope: str | None = None) -> Callable[[StreamHandler[S, Req, Resp]], Streaming[S, Req, Resp]]:
    """Like ``rpc`` for server-streaming methods (authentication happens before the first message)."""

    def decorate(fn: StreamHandler[S, Req, Resp]) -> Streaming[S, Req, Resp]:
        method = fn.__name__

        @functools.wraps(fn)
        async def handler(self: S, request: Req, context: Ctx) -> AsyncIterator[Resp]:
            outcome = _Outcome(method, _request_id(context))
            try:
                principal = await _principal(self, context, request, scope, public=False, request_id=outcome.request_id)
                async for item in fn(self, request, context, principal):
                    yield item
                return
            except asyncio.CancelledError:
                outcome.cancelled()
                raise
            except Exception as exc:  # noqa: BLE001 - the one place errors leave
                code, message = outcome.fail(exc)
            finally:
                outcome.finish(self.api.metrics)
            await context.abort(code, message)

        return handler

    return decorate

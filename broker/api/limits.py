"""Rate limits at the API edge: per client address before anything else is done, per
caller once authenticated; and the google.rpc.RetryInfo a refusal carries."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from ..core.principals import Principal
from ..core.ratelimit import Limiter, RateLimited

#: The trailing metadata key of a rich error status (gRPC's convention).
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class CallLimits:
    """The limits of the RPCs marked ``limited`` (ExchangeToken and the secret reads)."""

    by_address: Limiter | None = None
    by_caller: Limiter | None = None

    @property
    def blocking(self) -> bool:
        """True when a check reads the store (run it off the event loop)."""
        return any(limiter is not None and limiter.shared for limiter in (self.by_address, self.by_caller))

    def before_auth(self, peer: str) -> None:
        """Spend one call of the client's address (its port dropped); RateLimited when spent."""
        if self.by_address is not None:
            address = peer.rpartition(":")[0] or peer
            self.by_address.take(address, what=f"client address {address}")

    def after_auth(self, principal: Principal) -> None:
        """Spend one call of an authenticated caller (anonymous callers are limited in core)."""
        if self.by_caller is not None and principal.token is not None:
            self.by_caller.take(principal.actor, what=f"caller {principal.actor!r}")


def retry_trailers(exc: RateLimited, message: str) -> tuple[tuple[str, bytes], ...]:
    """``grpc-status-details-bin``: a google.rpc.Status with RetryInfo(retry_delay)."""
    delay = duration_pb2.Duration()
    delay.FromTimedelta(exc.retry_after)
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)

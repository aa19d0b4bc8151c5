"""The client's exceptions, all under one base class.

::

    BrokerClientError                 anything this library raises on purpose
    ├── TokenUnavailable              no valid token is left: the exchange failed (see ``code``)
    ├── SecretUnavailable             a secret's value cannot be had (broker refused, or it was deleted)
    ├── InvalidToken                  Verifier: the presented token fails a check (see ``reason``)
    └── KeysUnavailable               Verifier: the broker's public keys cannot be fetched

gRPC and OS exceptions are translated at the boundary (``from_rpc``); no message ever
carries a token or a secret value.
"""

from __future__ import annotations

from typing import Self

import grpc


def rpc_status(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    """The status code and details of a failed call (sync or asyncio)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code(), exc.details() or ""
    if isinstance(exc, grpc.Call):
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.UNKNOWN, ""


class BrokerClientError(Exception):
    """Base of every error the client raises on purpose."""


class _RpcFailure(BrokerClientError):
    """An error that may come from a failed RPC: carries the gRPC status name in ``code``."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_rpc(cls, what: str, exc: grpc.RpcError) -> Self:
        """``what`` failed because of ``exc``: '<what>: <CODE>: <details>'."""
        code, details = rpc_status(exc)
        return cls(f"{what}: {code.name}: {details or 'no details'}", code=code.name)


class TokenUnavailable(_RpcFailure):
    """No valid token is left and the broker did not give a new one."""


class SecretUnavailable(_RpcFailure):
    """A secret's value cannot be fetched, or the secret was deleted."""


class InvalidToken(BrokerClientError):
    """A presented token fails verification; ``reason`` says which check, for logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid token: {reason}")
        self.reason = reason


class KeysUnavailable(BrokerClientError):
    """The broker's JWKS cannot be fetched and none is cached."""

"""Thin client for the identity broker.

Three lines and a workload never thinks about token expiry again::

    from broker_client import KeyAttestor, TokenSource

    source = TokenSource("127.0.0.1:50051", KeyAttestor("payments", "payments.pem"), scopes=["payments.read"])
    headers = {"Authorization": source.authorization_header()}

The names below are the whole public surface. Submodules: ``broker_client.keys`` (raw
key operations: self-signed assertions, thumbprints), ``broker_client.v1`` (generated
messages and stubs), ``broker_client.testing`` (an in-process fake broker for tests),
``broker_client.sidecar`` (the ``broker-sidecar`` command). ``HttpxAuth`` needs the
``httpx`` extra and is imported on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._async_token_source import AsyncTokenSource
from ._attestors import CallableAttestor, ClientCertificateAttestor, KeyAttestor, TokenFileAttestor
from ._channel import tls_credentials, tls_credentials_from_env
from ._errors import BrokerClientError, InvalidToken, KeysUnavailable, SecretUnavailable, TokenUnavailable
from ._grpc_auth import AsyncTokenInterceptor, token_call_credentials
from ._http_auth import RequestsAuth
from ._secrets import SecretCheck, SecretSource, SecretValue
from ._token_source import TokenSource
from ._typing import Attestor
from ._verifier import VerifiedToken, Verifier

if TYPE_CHECKING:
    from ._httpx_auth import HttpxAuth

__version__ = "0.1.0"

# A library logs to "broker_client" and leaves handlers to the application.
logging.getLogger("broker_client").addHandler(logging.NullHandler())

__all__ = [
    "AsyncTokenInterceptor",
    "AsyncTokenSource",
    "Attestor",
    "BrokerClientError",
    "CallableAttestor",
    "ClientCertificateAttestor",
    "HttpxAuth",
    "InvalidToken",
    "KeyAttestor",
    "KeysUnavailable",
    "RequestsAuth",
    "SecretCheck",
    "SecretSource",
    "SecretUnavailable",
    "SecretValue",
    "TokenFileAttestor",
    "TokenSource",
    "TokenUnavailable",
    "VerifiedToken",
    "Verifier",
    "tls_credentials",
    "tls_credentials_from_env",
    "token_call_credentials",
]


def __getattr__(name: str) -> Any:
    if name == "HttpxAuth":
        from ._httpx_auth import HttpxAuth  # noqa: PLC0415 - httpx is an optional extra

        return HttpxAuth
    raise AttributeError(f"module 'broker_client' has no attribute {name!r}")

"""Channels the client opens itself: short reconnect backoff, so a restarted broker is found fast."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import grpc

#: gRPC's defaults back off up to two minutes between reconnects; a restarted broker
#: should be found within seconds.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 3000),
)


def open_channel(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    """A channel to ``address``: TLS with ``credentials``, plain text without."""
    if credentials is None:
        return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.secure_channel(address, credentials, options=CHANNEL_OPTIONS)


def open_aio_channel(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    """The asyncio counterpart of ``open_channel``."""
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)


def tls_credentials(
    ca_file: str | os.PathLike[str] | None = None,
    *,
    cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> grpc.ChannelCredentials:
    """Channel credentials for a broker serving TLS.

    ``ca_file`` is the PEM bundle that signed the broker's certificate (the system's roots
    when omitted); ``cert_file`` and ``key_file`` are this workload's client certificate
    and key, for a broker that requires mTLS.
    """
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file go together")
    return grpc.ssl_channel_credentials(
        root_certificates=Path(ca_file).read_bytes() if ca_file else None,
        private_key=Path(key_file).read_bytes() if key_file else None,
        certificate_chain=Path(cert_file).read_bytes() if cert_file else None,
    )


def tls_credentials_from_env(environ: Mapping[str, str] = os.environ) -> grpc.ChannelCredentials | None:
    """``tls_credentials`` from BROKER_CA_FILE, BROKER_CLIENT_CERT_FILE and BROKER_CLIENT_KEY_FILE,
    as the CLI and the sidecar read them; None (plain text) when none of them is set."""
    ca, cert, key = (
        environ.get(name) or None for name in ("BROKER_CA_FILE", "BROKER_CLIENT_CERT_FILE", "BROKER_CLIENT_KEY_FILE")
    )
    if ca is None and cert is None and key is None:
        return None
    if (cert is None) != (key is None):
        raise ValueError("BROKER_CLIENT_CERT_FILE and BROKER_CLIENT_KEY_FILE go together")
    return tls_credentials(ca, cert_file=cert, key_file=key)

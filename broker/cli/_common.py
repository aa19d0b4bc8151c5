"""What every command group shares: the channel, one deadline rule, inputs, output, errors.

Every RPC the CLI makes goes through one channel whose interceptor gives it the same
deadline (``RPC_TIMEOUT``, longer than any store timeout inside the broker, so a hung
store reads as UNAVAILABLE, not DEADLINE_EXCEEDED) and this run's ``x-request-id``, which
an error about a refused credential prints: the broker's log has the reason under it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import grpc
import jwt
from google.protobuf import duration_pb2, json_format

from broker_client import keys, tls_credentials
from broker_client.v1 import token_pb2, token_pb2_grpc

from ..core.durations import format_duration, parse_duration
from ..core.tokens import TOKEN_TYPE_JWT
from . import session

DEFAULT_ADDR = "127.0.0.1:50051"
#: The deadline of every RPC the CLI makes, in seconds.
RPC_TIMEOUT = 10.0
#: This run's request id, sent with every call.
REQUEST_ID = uuid.uuid4().hex

Metadata = tuple[tuple[str, str], ...]
Req = TypeVar("Req")
Resp = TypeVar("Resp")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Sequence[tuple[str, str | bytes]] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _Defaults(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Gives every call the CLI's deadline (unless it set one) and this run's request id."""

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = [*(details.metadata or ()), ("x-request-id", REQUEST_ID)]
        return _CallDetails(
            details.method,
            RPC_TIMEOUT if details.timeout is None else details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._details(client_call_details), request)


def address() -> str:
    """The daemon's gRPC address (BROKER_ADDR)."""
    return os.environ.get("BROKER_ADDR", DEFAULT_ADDR)


def channel() -> grpc.Channel:
    """A channel to the daemon on which every call has the CLI's deadline and request id.

    TLS when BROKER_CA_FILE names the CA that signed the broker's certificate, with
    BROKER_CLIENT_CERT_FILE and BROKER_CLIENT_KEY_FILE as the client certificate for mTLS.
    """
    ca_file = os.environ.get("BROKER_CA_FILE")
    if not ca_file:
        return grpc.intercept_channel(grpc.insecure_channel(address()), _Defaults())
    try:
        credentials = tls_credentials(
            ca_file,
            cert_file=os.environ.get("BROKER_CLIENT_CERT_FILE") or None,
            key_file=os.environ.get("BROKER_CLIENT_KEY_FILE") or None,
        )
    except OSError as exc:
        raise SystemExit(f"broker: cannot read {exc.filename}: {exc.strerror}") from None
    except ValueError:
        raise SystemExit("broker: BROKER_CLIENT_CERT_FILE and BROKER_CLIENT_KEY_FILE go together") from None
    return grpc.intercept_channel(grpc.secure_channel(address(), credentials), _Defaults())


def error_line(exc: grpc.RpcError) -> str:
    """The one line an RPC error prints; a refused credential adds where to find the reason."""
    code = exc.code()
    line = f"{code.name}: {exc.details()}"
    if code is grpc.StatusCode.UNAUTHENTICATED:
        line += f" (request id {REQUEST_ID}; the broker's log has the reason)"
    return line


# inputs ---------------------------------------------------------------------------------
def duration(text: str) -> duration_pb2.Duration:
    """A protobuf Duration from ``90s``-style text (a unit is required)."""
    d = duration_pb2.Duration()
    d.FromTimedelta(parse_delta(text))
    return d


def parse_delta(text: str) -> timedelta:
    """A timedelta from ``90s``-style text, or CliError."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def read_text(path: str) -> str:
    """A file's text, or CliError naming it."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def read_public_key(path: str) -> str:
    """A public key file's text; a private key is refused here, before it could leave this host."""
    text = read_text(path)
    private = "PRIVATE KEY-----" in text
    if not private and text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        private = isinstance(document, dict) and any(m in document for m in ("d", "p", "q", "k"))
    if private:
        raise CliError(
            f"{path} holds a private key; give its public key (e.g. the .pub.pem `broker key generate` wrote)"
        )
    return text


def read_token(path: str) -> str:
    """A token from a file ('-': standard input), whitespace stripped; never from the command line."""
    text = sys.stdin.read() if path == "-" else read_text(path)
    token = text.strip()
    if not token:
        raise CliError(f"{path}: no token in it")
    return token


def read_value(path: str) -> bytes:
    """A secret value from a file ('-': standard input), byte for byte; never from the command line."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    if not data:
        raise CliError(f"{path}: empty")
    return data


def load_key(path: str) -> keys.PrivateKey:
    """A private key file, or CliError."""
    try:
        return keys.load_private_key(path)
    except (OSError, ValueError, TypeError) as exc:
        raise CliError(f"cannot load private key {path}: {exc}") from None


# output -----------------------------------------------------------------------------------
def print_message(message: Any) -> None:
    """A protobuf message as indented JSON, proto field names."""
    print(json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2))


def print_all_pages(list_page: Callable[[str], Any], field: str) -> None:
    """Follow ``next_page_token`` to the end and print every item of ``field`` as one JSON list."""
    print(json.dumps(list(all_pages(list_page, field)), indent=2))


def all_pages(list_page: Callable[[str], Any], field: str) -> Iterator[dict[str, Any]]:
    """Every item of ``field`` over all pages, as JSON-ready dicts."""
    token = ""
    while True:
        page = list_page(token)
        for item in getattr(page, field):
            yield json_format.MessageToDict(item, preserving_proto_field_name=True)
        token = page.next_page_token
        if not token:
            return


def whole_numbers(value: Any) -> Any:
    """A JSON value with integral floats (protobuf Struct numbers) written as integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def note_ttl(requested: str | None, token: str) -> None:
    """Tell (on stderr) when the lifetime granted (the token's exp - iat) is shorter than the one asked for."""
    if not requested:
        return
    wanted = parse_delta(requested)
    try:
        claims = jwt.decode(token, options={"verify_signature": False})  # only read, to say what was granted
        granted = timedelta(seconds=int(claims["exp"]) - int(claims["iat"]))
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
        return
    if granted < wanted:
        print(
            f"broker: note: granted {format_duration(granted)}, not the {requested} asked for (the identity's or "
            "the broker's maximum, or the presented token's expiry)",
            file=sys.stderr,
        )


# tokens -------------------------------------------------------------------------------------
def login_token(chan: grpc.Channel) -> str | None:
    """The access token of the person logged in to BROKER_ADDR (``broker login``), refreshed
    when due; None when nobody is."""
    try:
        return session.access_token(chan, address())
    except session.SessionError as exc:
        raise CliError(str(exc)) from None


def broker_issuer(chan: grpc.Channel) -> str:
    """The broker's issuer URL (the aud of assertions)."""
    issuer: str = token_pb2_grpc.TokenServiceStub(chan).GetJwks(token_pb2.GetJwksRequest()).issuer
    return issuer


def exchange_with_key(
    chan: grpc.Channel,
    identity_id: str,
    key_file: str,
    *,
    scopes: Sequence[str] = (),
    audiences: Sequence[str] = (),
    ttl: str | None = None,
    token_type: str = "",
) -> token_pb2.ExchangeTokenResponse:
    """Sign an assertion with ``key_file`` and exchange it for a broker token."""
    private = load_key(key_file)
    request = token_pb2.ExchangeTokenRequest(
        subject_token=keys.make_assertion(identity_id, private, broker_issuer(chan)),
        subject_token_type=TOKEN_TYPE_JWT,
        scopes=scopes,
        audiences=audiences,
        requested_token_type=token_type,
    )
    if ttl:
        request.requested_ttl.CopyFrom(duration(ttl))
    response: token_pb2.ExchangeTokenResponse = token_pb2_grpc.TokenServiceStub(chan).ExchangeToken(request)
    return response


def admin_key_file() -> str:
    """BROKER_ADMIN_KEY_FILE (default data/admin.key)."""
    return os.environ.get("BROKER_ADMIN_KEY_FILE", "data/admin.key")


def admin_metadata(chan: grpc.Channel, key_file: str | None = None) -> Metadata:
    """Metadata for ``broker admin``: a person's saved login (``broker login``), unless
    BROKER_ADMIN_KEY_FILE names the admin key; else a fresh five-minute admin token signed
    for with the admin key (data/admin.key by default)."""
    if key_file is None and "BROKER_ADMIN_KEY_FILE" not in os.environ:
        token = login_token(chan)
        if token is not None:
            return (("authorization", f"Bearer {token}"),)
    path = key_file or admin_key_file()
    if not Path(path).exists():
        raise CliError(f"admin key {path} not found; set BROKER_ADMIN_KEY_FILE, or log in with `broker login`")
    token = exchange_with_key(chan, "admin", path, scopes=["broker.admin"], ttl="5m").access_token
    return (("authorization", f"Bearer {token}"),)


#: One ``broker admin <service> <command>``: (arguments, service stub, admin metadata when first asked
#: for). A command reads and checks its local inputs first, so a bad one fails before anything is sent.
AdminMetadata = Callable[[], Metadata]
AdminCommand = Callable[[argparse.Namespace, Any, AdminMetadata], None]


def admin_runner(
    stub_class: Callable[[grpc.Channel], Any], command: AdminCommand
) -> Callable[[argparse.Namespace], None]:
    """A handler that runs ``command`` on the service's stub; the admin token is fetched (with the admin
    key) when the command first asks for its metadata, and reused."""

    def run(args: argparse.Namespace) -> None:
        with channel() as chan:
            cached: list[Metadata] = []

            def metadata() -> Metadata:
                if not cached:
                    cached.append(admin_metadata(chan))
                return cached[0]

            command(args, stub_class(chan), metadata)

    return run

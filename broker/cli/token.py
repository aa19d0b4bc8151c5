"""``broker token ...``: get broker tokens as a workload or an agent.

``exchange`` signs an assertion with the workload's key; ``exchange-jwt`` trades a
trusted issuer's JWT (a Kubernetes or CI token); ``exchange-cert`` is proved by the mTLS
client certificate (BROKER_CLIENT_CERT_FILE) alone; ``downscope`` narrows a broker token;
``delegate`` makes an agent's token acting for the subject of a broker token.
"""

from __future__ import annotations

import argparse
from typing import Any

from broker_client import keys
from broker_client.v1 import token_pb2, token_pb2_grpc

from ..core.certificates import TOKEN_TYPE_CLIENT_CERTIFICATE
from ..core.tokens import TOKEN_TYPE_ACCESS, TOKEN_TYPE_JWT
from ._common import (
    CliError,
    broker_issuer,
    channel,
    duration,
    exchange_with_key,
    load_key,
    note_ttl,
    read_token,
)


def _exchange(args: argparse.Namespace) -> None:
    with channel() as chan:
        response = exchange_with_key(
            chan,
            args.identity,
            args.key_file,
            scopes=args.scope,
            audiences=args.audience,
            ttl=args.ttl,
            token_type=TOKEN_TYPE_JWT if args.svid else "",
        )
    note_ttl(args.ttl, response.access_token)
    print(response.access_token)


def _actor_token(chan: Any, args: argparse.Namespace) -> str:
    """The agent's attestation: a token file, or an assertion signed with its key."""
    if args.actor_token_file:
        return read_token(args.actor_token_file)
    if not (args.identity and args.key_file):
        raise CliError("name the agent: --identity and --key-file, or --actor-token-file")
    return keys.make_assertion(args.identity, load_key(args.key_file), broker_issuer(chan))


def _presented(args: argparse.Namespace) -> None:
    """``exchange-jwt``, ``exchange-cert``, ``downscope`` and ``delegate``: exchange a token held
    in a file, or the connection's client certificate."""
    with channel() as chan:
        request = token_pb2.ExchangeTokenRequest(
            scopes=args.scope,
            audiences=args.audience,
            requested_token_type=TOKEN_TYPE_JWT if args.svid else "",
        )
        if args.token_command == "exchange-jwt":
            request.subject_token, request.subject_token_type = read_token(args.token_file), TOKEN_TYPE_JWT
        elif args.token_command == "exchange-cert":
            request.subject_token_type = TOKEN_TYPE_CLIENT_CERTIFICATE
        elif args.token_command == "downscope":
            request.subject_token, request.subject_token_type = read_token(args.token_file), TOKEN_TYPE_ACCESS
        else:
            request.subject_token, request.subject_token_type = read_token(args.subject_token_file), TOKEN_TYPE_ACCESS
            request.actor_token, request.actor_token_type = _actor_token(chan, args), TOKEN_TYPE_JWT
        if args.ttl:
            request.requested_ttl.CopyFrom(duration(args.ttl))
        response = token_pb2_grpc.TokenServiceStub(chan).ExchangeToken(request)
    note_ttl(args.ttl, response.access_token)
    print(response.access_token)


def _request_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--scope", action="append", default=[], help="a scope to ask for (repeatable; default: all)")
    command.add_argument(
        "--audience", action="append", default=[], help="an audience to ask for (repeatable; default: the broker)"
    )
    command.add_argument("--ttl", help="the token's lifetime, with a unit (e.g. 5m); capped by the maximum")
    command.add_argument("--svid", action="store_true", help="typ JWT (a JWT-SVID with a trust domain)")


def register(sub: Any) -> None:
    """Add ``broker token`` and its commands."""
    token = sub.add_parser("token", help="get tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    exchange = token_sub.add_parser("exchange", help="exchange a key-signed assertion for a token")
    exchange.add_argument("--identity", required=True, help="the workload's identity id")
    exchange.add_argument("--key-file", required=True, help="the workload's private key (PEM)")
    _request_options(exchange)
    exchange.set_defaults(run=_exchange)

    jwt_cmd = token_sub.add_parser("exchange-jwt", help="exchange a trusted issuer's JWT (Kubernetes, CI OIDC)")
    jwt_cmd.add_argument("--token-file", required=True, help="the JWT, e.g. a projected service-account token")
    cert_cmd = token_sub.add_parser(
        "exchange-cert", help="exchange the mTLS client certificate (BROKER_CLIENT_CERT_FILE, an x509 binding)"
    )
    down = token_sub.add_parser("downscope", help="a narrower token from a broker token")
    down.add_argument("--token-file", required=True, help="the broker token to narrow ('-': stdin)")
    delegate = token_sub.add_parser("delegate", help="an agent acting for the subject of a broker token")
    delegate.add_argument("--subject-token-file", required=True, help="the principal's broker token ('-': stdin)")
    delegate.add_argument("--identity", help="the agent's identity id (signs an assertion with --key-file)")
    delegate.add_argument("--key-file", help="the agent's private key")
    delegate.add_argument("--actor-token-file", help="or: the agent's attestation (a trusted issuer's JWT)")
    for command in (jwt_cmd, cert_cmd, down, delegate):
        _request_options(command)
        command.set_defaults(run=_presented)

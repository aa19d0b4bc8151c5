"""``broker admin token introspect|revoke``: look at or kill a broker token."""

from __future__ import annotations

import argparse
import json
from typing import Any

from google.protobuf import json_format

from broker_client.v1 import token_pb2, token_pb2_grpc

from ._common import AdminMetadata, admin_runner, read_token, whole_numbers


def _introspect(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    reply = stub.IntrospectToken(token_pb2.IntrospectTokenRequest(token=read_token(args.token_file)), metadata=md())
    claims = whole_numbers(json_format.MessageToDict(reply.claims)) if reply.active else {}
    print(json.dumps({"active": reply.active, **claims}, indent=2))


def _revoke(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    stub.RevokeToken(token_pb2.RevokeTokenRequest(token=read_token(args.token_file)), metadata=md())
    print("revoked")


def register(admin_sub: Any) -> None:
    """Add ``broker admin token`` and its commands."""
    token = admin_sub.add_parser("token", help="inspect or revoke a broker token")
    sub = token.add_subparsers(dest="admin_token_command", required=True)
    for name, text, command in (
        ("introspect", "is it active, and its claims", _introspect),
        ("revoke", "make it dead for good (and every check of it)", _revoke),
    ):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("--token-file", required=True, help="the token ('-': stdin)")
        parser.set_defaults(run=admin_runner(token_pb2_grpc.TokenServiceStub, command))

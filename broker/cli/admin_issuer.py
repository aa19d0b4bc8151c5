"""``broker admin issuer ...``: trusted external issuers (Kubernetes, CI OIDC, agent runtimes)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from broker_client.v1 import issuer_pb2, issuer_pb2_grpc

from ..core.algorithms import EXTERNAL_ALGORITHMS
from ._common import AdminMetadata, admin_runner, duration, print_all_pages, print_message, read_text


def _create(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    issuer = issuer_pb2.TrustedIssuer(
        issuer=args.issuer,
        jwks_url=args.jwks_url or "",
        jwks_file=args.jwks_file or "",
        jwks_json=read_text(args.jwks_inline_from) if args.jwks_inline_from else "",
        algorithms=args.alg,
        audience=args.audience,
        single_use=args.single_use,
    )
    if args.max_token_age:
        issuer.max_token_age.CopyFrom(duration(args.max_token_age))
    reply = stub.CreateIssuer(issuer_pb2.CreateIssuerRequest(issuer=issuer), metadata=md())
    print_message(reply.issuer)
    for warning in reply.warnings:
        print(f"broker: warning: {warning}", file=sys.stderr)


def _list(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_all_pages(
        lambda token: stub.ListIssuers(issuer_pb2.ListIssuersRequest(page_size=100, page_token=token), metadata=md()),
        "issuers",
    )


def _get(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_message(stub.GetIssuer(issuer_pb2.GetIssuerRequest(issuer=args.issuer), metadata=md()).issuer)


def _delete(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    stub.DeleteIssuer(issuer_pb2.DeleteIssuerRequest(issuer=args.issuer), metadata=md())
    print(f"deleted {args.issuer}")


def register(admin_sub: Any) -> None:
    """Add ``broker admin issuer`` and its commands."""
    stub = issuer_pb2_grpc.IssuerServiceStub
    issuer = admin_sub.add_parser("issuer", help="trusted external issuers (Kubernetes, CI OIDC, ...)")
    sub = issuer.add_subparsers(dest="issuer_command", required=True)
    create = sub.add_parser("create", help="trust an issuer's JWTs as attestations")
    create.add_argument("issuer", help="the issuer URL, exactly as in its tokens' iss claim")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--jwks-url", help="fetch the JWK Set from this URL (cached 5 minutes, refetched on an unknown kid)"
    )
    source.add_argument("--jwks-file", help="read the JWK Set from this absolute path on the broker's host")
    source.add_argument("--jwks-inline-from", metavar="FILE", help="store the JWK Set in FILE inline")
    create.add_argument("--audience", required=True, help="the aud the issuer's tokens carry for this broker")
    create.add_argument(
        "--alg",
        action="append",
        default=[],
        choices=EXTERNAL_ALGORITHMS,
        help=f"an allowed algorithm (repeatable; one of {', '.join(EXTERNAL_ALGORITHMS)}; default ES256 and RS256)",
    )
    create.add_argument("--single-use", action="store_true", help="accept each jti once")
    create.add_argument("--max-token-age", default="", help="refuse tokens living longer (exp - iat), e.g. 1h")
    create.set_defaults(run=admin_runner(stub, _create))
    sub.add_parser("list", help="list trusted issuers").set_defaults(run=admin_runner(stub, _list))
    for name, text, command in (("get", "show one issuer", _get), ("delete", "stop trusting an issuer", _delete)):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("issuer")
        parser.set_defaults(run=admin_runner(stub, command))

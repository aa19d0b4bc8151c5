"""The ``broker`` command: serve, admin, token, key, version.

``broker admin ...`` authenticates with the admin key (BROKER_ADMIN_KEY_FILE, default
data/admin.key): it signs a one-minute assertion and exchanges it for a five-minute
admin token, so no long-lived bearer secret exists. BROKER_ADDR names the daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from google.protobuf import duration_pb2, json_format

from broker_client import keys
from broker_client.v1 import identity_pb2, identity_pb2_grpc, token_pb2, token_pb2_grpc

from . import __version__
from .config import SettingsError, load_settings
from .core.durations import parse_duration
from .core.jwk import generate_private_key, private_key_to_pem

DEFAULT_ADDR = "127.0.0.1:50051"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
KINDS = {
    "service-account": identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
    "ai-agent": identity_pb2.IDENTITY_KIND_AI_AGENT,
}


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _addr() -> str:
    return os.environ.get("BROKER_ADDR", DEFAULT_ADDR)


def _channel() -> grpc.Channel:
    return grpc.insecure_channel(_addr())


def _duration(text: str) -> duration_pb2.Duration:
    try:
        delta = parse_duration(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    d = duration_pb2.Duration()
    d.FromTimedelta(delta)
    return d


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def _print_message(message: Any) -> None:
    print(json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2))


def exchange_with_key(
    channel: grpc.Channel,
    identity_id: str,
    key_file: str,
    *,
    scopes: Sequence[str] = (),
    audiences: Sequence[str] = (),
    ttl: str | None = None,
    token_type: str = "",
) -> token_pb2.ExchangeTokenResponse:
    """Sign an assertion with ``key_file`` and exchange it for a broker token."""
    try:
        private = keys.load_private_key(key_file)
    except (OSError, ValueError, TypeError) as exc:
        raise CliError(f"cannot load private key {key_file}: {exc}") from None
    stub = token_pb2_grpc.TokenServiceStub(channel)
    issuer = stub.GetJwks(token_pb2.GetJwksRequest(), timeout=10).issuer
    request = token_pb2.ExchangeTokenRequest(
        subject_token=keys.make_assertion(identity_id, private, issuer),
        subject_token_type=TOKEN_TYPE_JWT,
        scopes=scopes,
        audiences=audiences,
        requested_token_type=token_type,
    )
    if ttl:
        request.requested_ttl.CopyFrom(_duration(ttl))
    response: token_pb2.ExchangeTokenResponse = stub.ExchangeToken(request, timeout=10)
    return response


def _admin_metadata(channel: grpc.Channel) -> list[tuple[str, str]]:
    key_file = os.environ.get("BROKER_ADMIN_KEY_FILE", "data/admin.key")
    if not Path(key_file).exists():
        raise CliError(f"admin key {key_file} not found; set BROKER_ADMIN_KEY_FILE")
    token = exchange_with_key(channel, "admin", key_file, scopes=["broker.admin"], ttl="5m").access_token
    return [("authorization", f"Bearer {token}")]


# identity commands ---------------------------------------------------------------------
def _identity_create(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    identity = identity_pb2.Identity(
        id=args.id,
        kind=KINDS[args.kind],
        tenant=args.tenant,
        display_name=args.display_name,
        allowed_scopes=args.scope,
        allowed_audiences=args.audience,
        delegable_scopes=args.delegable_scope,
    )
    if args.max_ttl:
        identity.max_token_ttl.CopyFrom(_duration(args.max_ttl))
    for path in args.public_key_file:
        identity.public_keys.add(jwk_json=_read(path))
    _print_message(stub.CreateIdentity(identity_pb2.CreateIdentityRequest(identity=identity), metadata=md).identity)


def _identity_list(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    token = ""
    items: list[dict[str, Any]] = []
    while True:
        page = stub.ListIdentities(
            identity_pb2.ListIdentitiesRequest(page_size=100, page_token=token, filter=args.filter), metadata=md
        )
        items.extend(json_format.MessageToDict(i, preserving_proto_field_name=True) for i in page.identities)
        token = page.next_page_token
        if not token:
            break
    print(json.dumps(items, indent=2))


def _identity_get(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    _print_message(stub.GetIdentity(identity_pb2.GetIdentityRequest(id=args.id), metadata=md).identity)


def _identity_delete(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    stub.DeleteIdentity(identity_pb2.DeleteIdentityRequest(id=args.id, etag=args.etag), metadata=md)
    print(f"deleted {args.id}")


def _identity_add_key(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    request = identity_pb2.AddIdentityKeyRequest(
        identity_id=args.id, public_key=_read(args.public_key_file), kid=args.kid
    )
    response = stub.AddIdentityKey(request, metadata=md)
    print(f"added key {response.kid} to {args.id}")


def _identity_remove_key(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    stub.RemoveIdentityKey(identity_pb2.RemoveIdentityKeyRequest(identity_id=args.id, kid=args.kid), metadata=md)
    print(f"removed key {args.kid} from {args.id}")


def _identity_update(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    identity = identity_pb2.Identity(id=args.id, etag=args.etag)
    paths = []
    if args.scope is not None:
        identity.allowed_scopes.extend(args.scope)
        paths.append("allowed_scopes")
    if args.audience is not None:
        identity.allowed_audiences.extend(args.audience)
        paths.append("allowed_audiences")
    if args.delegable_scope is not None:
        identity.delegable_scopes.extend(args.delegable_scope)
        paths.append("delegable_scopes")
    if args.max_ttl is not None:
        identity.max_token_ttl.CopyFrom(_duration(args.max_ttl))
        paths.append("max_token_ttl")
    if args.disabled is not None:
        identity.disabled = args.disabled
        paths.append("disabled")
    if args.display_name is not None:
        identity.display_name = args.display_name
        paths.append("display_name")
    request = identity_pb2.UpdateIdentityRequest(identity=identity)
    request.update_mask.paths.extend(paths)
    _print_message(stub.UpdateIdentity(request, metadata=md).identity)


IDENTITY_COMMANDS: dict[str, Callable[[argparse.Namespace, Any, list[tuple[str, str]]], None]] = {
    "create": _identity_create,
    "list": _identity_list,
    "get": _identity_get,
    "delete": _identity_delete,
    "add-key": _identity_add_key,
    "remove-key": _identity_remove_key,
    "update": _identity_update,
}


def _run_identity(args: argparse.Namespace) -> None:
    with _channel() as channel:
        md = _admin_metadata(channel)
        IDENTITY_COMMANDS[args.identity_command](args, identity_pb2_grpc.IdentityServiceStub(channel), md)


def _run_token_exchange(args: argparse.Namespace) -> None:
    token_type = TOKEN_TYPE_JWT if args.svid else ""
    with _channel() as channel:
        response = exchange_with_key(
            channel,
            args.identity,
            args.key_file,
            scopes=args.scope,
            audiences=args.audience,
            ttl=args.ttl,
            token_type=token_type,
        )
    print(response.access_token)


def _run_key_generate(args: argparse.Namespace) -> None:
    private = generate_private_key(args.alg)
    out = Path(args.private_key_file)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(f"{out} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_to_pem(private))
    public_path = out.with_name(out.name.removesuffix(".pem") + ".pub.pem")
    public_path.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    print(f"private key {out} (mode 0600), public key {public_path}")


def _run_serve(args: argparse.Namespace) -> int:
    from .server import run  # noqa: PLC0415 - the daemon's dependencies load only for `serve`

    try:
        settings = load_settings(Path(args.config) if args.config else None)
    except SettingsError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 2
    return run(settings)


def _parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one flat table of commands reads best
    parser = argparse.ArgumentParser(prog="broker", description="Machine-identity and secrets broker.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the daemon")
    serve.add_argument("--config", help="YAML settings file (BROKER_* variables win)")
    sub.add_parser("version", help="print the version")

    admin = sub.add_parser("admin", help="administer the broker (needs the admin key)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    identity = admin_sub.add_parser("identity", help="service accounts and AI agents")
    id_sub = identity.add_subparsers(dest="identity_command", required=True)
    create = id_sub.add_parser("create", help="create an identity")
    create.add_argument("id")
    create.add_argument("--kind", choices=sorted(KINDS), required=True)
    create.add_argument("--scope", action="append", default=[])
    create.add_argument("--audience", action="append", default=[])
    create.add_argument("--delegable-scope", action="append", default=[])
    create.add_argument("--max-ttl", default="")
    create.add_argument("--tenant", default="")
    create.add_argument("--display-name", default="")
    create.add_argument("--public-key-file", action="append", default=[])
    listing = id_sub.add_parser("list", help="list identities")
    listing.add_argument("--filter", default="", help="e.g. kind=ai_agent tenant=acme")
    get = id_sub.add_parser("get", help="show one identity")
    get.add_argument("id")
    delete = id_sub.add_parser("delete", help="delete an identity")
    delete.add_argument("id")
    delete.add_argument("--etag", default="")
    add_key = id_sub.add_parser("add-key", help="register a public key (PEM or JWK)")
    add_key.add_argument("id")
    add_key.add_argument("--public-key-file", required=True)
    add_key.add_argument("--kid", default="")
    remove_key = id_sub.add_parser("remove-key", help="unregister a key")
    remove_key.add_argument("id")
    remove_key.add_argument("kid")
    update = id_sub.add_parser("update", help="change fields of an identity")
    update.add_argument("id")
    update.add_argument("--etag", default="")
    update.add_argument("--scope", action="append")
    update.add_argument("--audience", action="append")
    update.add_argument("--delegable-scope", action="append")
    update.add_argument("--max-ttl")
    update.add_argument("--display-name")
    toggle = update.add_mutually_exclusive_group()
    toggle.add_argument("--disable", dest="disabled", action="store_const", const=True)
    toggle.add_argument("--enable", dest="disabled", action="store_const", const=False)

    token = sub.add_parser("token", help="get tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    exchange = token_sub.add_parser("exchange", help="exchange a key-signed assertion for a token")
    exchange.add_argument("--identity", required=True)
    exchange.add_argument("--key-file", required=True)
    exchange.add_argument("--scope", action="append", default=[])
    exchange.add_argument("--audience", action="append", default=[])
    exchange.add_argument("--ttl")
    exchange.add_argument("--svid", action="store_true", help="typ JWT (a JWT-SVID with a trust domain)")

    key = sub.add_parser("key", help="workload keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    gen = key_sub.add_parser("generate", help="write a new private key (0600) and its public key")
    gen.add_argument("private_key_file")
    gen.add_argument("--alg", choices=("ES256", "EdDSA", "RS256"), default="ES256")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _run_serve(args)
        if args.command == "version":
            print(__version__)
        elif args.command == "admin":
            _run_identity(args)
        elif args.command == "token":
            _run_token_exchange(args)
        elif args.command == "key":
            _run_key_generate(args)
    except CliError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:
        print(f"broker: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

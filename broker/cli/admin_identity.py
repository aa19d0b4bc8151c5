"""``broker admin identity ...``: service accounts and AI agents."""

from __future__ import annotations

import argparse
from typing import Any

from broker_client.v1 import identity_pb2, identity_pb2_grpc

from ._common import AdminMetadata, CliError, admin_runner, duration, print_all_pages, print_message, read_public_key

KINDS = {
    "service-account": identity_pb2.IDENTITY_KIND_SERVICE_ACCOUNT,
    "ai-agent": identity_pb2.IDENTITY_KIND_AI_AGENT,
}


def _create(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
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
        identity.max_token_ttl.CopyFrom(duration(args.max_ttl))
    for path in args.public_key_file:
        identity.public_keys.add(jwk_json=read_public_key(path))
    identity.bindings.extend(args.bindings or [])
    print_message(stub.CreateIdentity(identity_pb2.CreateIdentityRequest(identity=identity), metadata=md()).identity)


def _list(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_all_pages(
        lambda token: stub.ListIdentities(
            identity_pb2.ListIdentitiesRequest(page_size=100, page_token=token, filter=args.filter), metadata=md()
        ),
        "identities",
    )


def _get(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_message(stub.GetIdentity(identity_pb2.GetIdentityRequest(id=args.id), metadata=md()).identity)


def _delete(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    stub.DeleteIdentity(identity_pb2.DeleteIdentityRequest(id=args.id, etag=args.etag), metadata=md())
    print(f"deleted {args.id}")


def _add_key(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    request = identity_pb2.AddIdentityKeyRequest(
        identity_id=args.id, public_key=read_public_key(args.public_key_file), kid=args.kid
    )
    response = stub.AddIdentityKey(request, metadata=md())
    print(f"added key {response.kid} to {args.id}")


def _remove_key(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    if len(args.kid) != 1:
        raise CliError("remove-key takes one KID (the thumbprint `add-key` printed)")
    kid = args.kid[0]
    stub.RemoveIdentityKey(identity_pb2.RemoveIdentityKeyRequest(identity_id=args.id, kid=kid), metadata=md())
    print(f"removed key {kid} from {args.id}")


def _update(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    identity = identity_pb2.Identity(id=args.id, etag=args.etag)
    paths = []
    for flag, field in (("scope", "allowed_scopes"), ("audience", "allowed_audiences")):
        if getattr(args, flag) is not None:
            getattr(identity, field).extend(getattr(args, flag))
            paths.append(field)
    if args.delegable_scope is not None:
        identity.delegable_scopes.extend(args.delegable_scope)
        paths.append("delegable_scopes")
    if args.max_ttl is not None:
        identity.max_token_ttl.CopyFrom(duration(args.max_ttl))
        paths.append("max_token_ttl")
    if args.disabled is not None:
        identity.disabled = args.disabled
        paths.append("disabled")
    if args.display_name is not None:
        identity.display_name = args.display_name
        paths.append("display_name")
    if args.bindings is not None:
        identity.bindings.extend(args.bindings)
        paths.append("bindings")
    request = identity_pb2.UpdateIdentityRequest(identity=identity)
    request.update_mask.paths.extend(paths)
    print_message(stub.UpdateIdentity(request, metadata=md()).identity)


class _BindingAction(argparse.Action):
    """``--bind ISSUER SUBJECT`` starts a binding; ``--require-claim PATH=VALUE`` adds to the last one."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        bindings: list[identity_pb2.Binding] = list(getattr(namespace, "bindings", None) or [])
        if option == "--bind":
            bindings.append(identity_pb2.Binding(issuer=values[0], subject=values[1]))
        else:
            path, sep, value = str(values).partition("=")
            if not bindings:
                parser.error("--require-claim must follow a --bind")
            if not sep or not path:
                parser.error("--require-claim takes PATH=VALUE, e.g. kubernetes.io.namespace=payments")
            bindings[-1].required_claims[path] = value
        namespace.bindings = bindings


def _binding_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--bind", nargs=2, metavar=("ISSUER", "SUBJECT"), dest="bindings", action=_BindingAction,
        help="accept tokens of the trusted ISSUER whose sub is exactly SUBJECT, or with ISSUER x509 mTLS client "
        "certificates whose SPIFFE ID or subject DN is SUBJECT (repeatable; on update: replaces all)",
    )  # fmt: skip
    command.add_argument(
        "--require-claim", metavar="PATH=VALUE", dest="bindings", action=_BindingAction,
        help="the preceding --bind also needs this claim (dotted path into nested claims)",
    )  # fmt: skip


def register(admin_sub: Any) -> None:
    """Add ``broker admin identity`` and its commands."""
    stub = identity_pb2_grpc.IdentityServiceStub
    identity = admin_sub.add_parser("identity", help="service accounts and AI agents")
    sub = identity.add_subparsers(dest="identity_command", required=True)

    create = sub.add_parser("create", help="create an identity")
    create.add_argument("id", help="a DNS label: lowercase letters, digits and '-'")
    create.add_argument("--kind", choices=sorted(KINDS), required=True)
    create.add_argument("--scope", action="append", default=[], help="a scope it may ask for (repeatable)")
    create.add_argument("--audience", action="append", default=[], help="an audience it may ask for (repeatable)")
    create.add_argument(
        "--delegable-scope", action="append", default=[], help="an agent: a scope it may use acting for others"
    )
    create.add_argument("--max-ttl", default="", help="the longest token it gets, e.g. 15m")
    create.add_argument("--tenant", default="")
    create.add_argument("--display-name", default="")
    create.add_argument(
        "--public-key-file", action="append", default=[], help="its public key, PEM or JWK (repeatable)"
    )
    _binding_options(create)
    create.set_defaults(run=admin_runner(stub, _create))

    listing = sub.add_parser("list", help="list identities")
    listing.add_argument("--filter", default="", help="e.g. kind=ai_agent tenant=acme")
    listing.set_defaults(run=admin_runner(stub, _list))
    get = sub.add_parser("get", help="show one identity")
    get.add_argument("id")
    get.set_defaults(run=admin_runner(stub, _get))
    delete = sub.add_parser("delete", help="delete an identity (its tokens die with it)")
    delete.add_argument("id")
    delete.add_argument("--etag", default="")
    delete.set_defaults(run=admin_runner(stub, _delete))
    add_key = sub.add_parser("add-key", help="register a public key (PEM or JWK)")
    add_key.add_argument("id")
    add_key.add_argument("--public-key-file", required=True)
    add_key.add_argument("--kid", default="", help="default: the key's RFC 7638 thumbprint")
    add_key.set_defaults(run=admin_runner(stub, _add_key))
    remove_key = sub.add_parser("remove-key", help="unregister a key (tokens issued before are refused)")
    remove_key.add_argument("id")
    # REMAINDER: a thumbprint may start with '-' and must not be read as an option.
    remove_key.add_argument("kid", nargs=argparse.REMAINDER, metavar="KID")
    remove_key.set_defaults(run=admin_runner(stub, _remove_key))

    update = sub.add_parser("update", help="change fields of an identity")
    update.add_argument("id")
    update.add_argument("--etag", default="")
    update.add_argument("--scope", action="append", help="replaces the scopes (repeatable)")
    update.add_argument("--audience", action="append", help="replaces the audiences (repeatable)")
    update.add_argument("--delegable-scope", action="append", help="replaces the delegable scopes (repeatable)")
    update.add_argument("--max-ttl")
    update.add_argument("--display-name")
    toggle = update.add_mutually_exclusive_group()
    toggle.add_argument("--disable", dest="disabled", action="store_const", const=True, help="its tokens die now")
    toggle.add_argument("--enable", dest="disabled", action="store_const", const=False)
    _binding_options(update)
    update.set_defaults(run=admin_runner(stub, _update))

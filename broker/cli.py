"""The ``broker`` command: serve, admin, token, key, version.

``broker admin ...`` authenticates with the admin key (BROKER_ADMIN_KEY_FILE, default
data/admin.key): it signs a one-minute assertion and exchanges it for a five-minute
admin token, so no long-lived bearer secret exists. BROKER_ADDR names the daemon.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization
from google.protobuf import duration_pb2, json_format

from broker_client import keys
from broker_client.v1 import (
    identity_pb2,
    identity_pb2_grpc,
    issuer_pb2,
    issuer_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)

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


#: One ``broker admin <service> <command>``: (arguments, service stub, admin metadata).
AdminCommand = Callable[[argparse.Namespace, Any, list[tuple[str, str]]], None]


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


def _print_all_pages(list_page: Callable[[str], Any], field: str) -> None:
    """Follow ``next_page_token`` to the end and print every item of ``field`` as one JSON list."""
    token = ""
    items: list[dict[str, Any]] = []
    while True:
        page = list_page(token)
        items.extend(json_format.MessageToDict(i, preserving_proto_field_name=True) for i in getattr(page, field))
        token = page.next_page_token
        if not token:
            break
    print(json.dumps(items, indent=2))


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
    identity.bindings.extend(args.bindings or [])
    _print_message(stub.CreateIdentity(identity_pb2.CreateIdentityRequest(identity=identity), metadata=md).identity)


def _identity_list(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    _print_all_pages(
        lambda token: stub.ListIdentities(
            identity_pb2.ListIdentitiesRequest(page_size=100, page_token=token, filter=args.filter), metadata=md
        ),
        "identities",
    )


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
    if args.bindings is not None:
        identity.bindings.extend(args.bindings)
        paths.append("bindings")
    request = identity_pb2.UpdateIdentityRequest(identity=identity)
    request.update_mask.paths.extend(paths)
    _print_message(stub.UpdateIdentity(request, metadata=md).identity)


IDENTITY_COMMANDS: dict[str, AdminCommand] = {
    "create": _identity_create,
    "list": _identity_list,
    "get": _identity_get,
    "delete": _identity_delete,
    "add-key": _identity_add_key,
    "remove-key": _identity_remove_key,
    "update": _identity_update,
}


def _run_admin_service(args: argparse.Namespace, commands: Mapping[str, AdminCommand], stub: Any, name: str) -> None:
    """Get an admin token with the admin key, then run command ``name`` of a service's table."""
    with _channel() as channel:
        md = _admin_metadata(channel)
        commands[name](args, stub(channel), md)


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


# bindings, issuers, token exchange of presented tokens, introspection, revocation -----------
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"


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


def _add_binding_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--bind", nargs=2, metavar=("ISSUER", "SUBJECT"), dest="bindings", action=_BindingAction,
        help="accept tokens of ISSUER whose sub is exactly SUBJECT (repeatable; on update: replaces all)",
    )  # fmt: skip
    command.add_argument(
        "--require-claim", metavar="PATH=VALUE", dest="bindings", action=_BindingAction,
        help="the preceding --bind also needs this claim (dotted path into nested claims)",
    )  # fmt: skip


def _read_token(path: str) -> str:
    """A token from a file ('-': standard input), whitespace stripped; never from the command line."""
    text = sys.stdin.read() if path == "-" else _read(path)
    token = text.strip()
    if not token:
        raise CliError(f"{path}: no token in it")
    return token


def _issuer_create(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    issuer = issuer_pb2.TrustedIssuer(
        issuer=args.issuer,
        jwks_url=args.jwks_url or "",
        jwks_file=args.jwks_file or "",
        jwks_json=_read(args.jwks_inline_from) if args.jwks_inline_from else "",
        algorithms=args.alg,
        audience=args.audience,
        single_use=args.single_use,
    )
    if args.max_token_age:
        issuer.max_token_age.CopyFrom(_duration(args.max_token_age))
    _print_message(stub.CreateIssuer(issuer_pb2.CreateIssuerRequest(issuer=issuer), metadata=md).issuer)


def _issuer_list(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    _print_all_pages(
        lambda token: stub.ListIssuers(issuer_pb2.ListIssuersRequest(page_size=100, page_token=token), metadata=md),
        "issuers",
    )


def _issuer_get(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    _print_message(stub.GetIssuer(issuer_pb2.GetIssuerRequest(issuer=args.issuer), metadata=md).issuer)


def _issuer_delete(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    stub.DeleteIssuer(issuer_pb2.DeleteIssuerRequest(issuer=args.issuer), metadata=md)
    print(f"deleted {args.issuer}")


ISSUER_COMMANDS: dict[str, AdminCommand] = {
    "create": _issuer_create,
    "list": _issuer_list,
    "get": _issuer_get,
    "delete": _issuer_delete,
}


def _run_admin_token(args: argparse.Namespace) -> None:
    token = _read_token(args.token_file)
    with _channel() as channel:
        md = _admin_metadata(channel)
        stub = token_pb2_grpc.TokenServiceStub(channel)
        if args.admin_token_command == "introspect":
            reply = stub.IntrospectToken(token_pb2.IntrospectTokenRequest(token=token), metadata=tuple(md), timeout=10)
            claims = json_format.MessageToDict(reply.claims) if reply.active else {}
            print(json.dumps({"active": reply.active, **claims}, indent=2))
        else:
            stub.RevokeToken(token_pb2.RevokeTokenRequest(token=token), metadata=tuple(md), timeout=10)
            print("revoked")


def _actor_token(channel: grpc.Channel, args: argparse.Namespace) -> str:
    """The agent's attestation: a token file, or an assertion signed with its key."""
    if args.actor_token_file:
        return _read_token(args.actor_token_file)
    if not (args.identity and args.key_file):
        raise CliError("name the agent: --identity and --key-file, or --actor-token-file")
    try:
        private = keys.load_private_key(args.key_file)
    except (OSError, ValueError, TypeError) as exc:
        raise CliError(f"cannot load private key {args.key_file}: {exc}") from None
    issuer = token_pb2_grpc.TokenServiceStub(channel).GetJwks(token_pb2.GetJwksRequest(), timeout=10).issuer
    return keys.make_assertion(args.identity, private, issuer)


def _run_token_presented(args: argparse.Namespace) -> None:
    """``exchange-jwt``, ``downscope`` and ``delegate``: exchange a token held in a file."""
    with _channel() as channel:
        request = token_pb2.ExchangeTokenRequest(
            scopes=args.scope,
            audiences=args.audience,
            requested_token_type=TOKEN_TYPE_JWT if args.svid else "",
        )
        if args.token_command == "exchange-jwt":
            request.subject_token, request.subject_token_type = _read_token(args.token_file), TOKEN_TYPE_JWT
        elif args.token_command == "downscope":
            request.subject_token, request.subject_token_type = _read_token(args.token_file), TOKEN_TYPE_ACCESS
        else:
            request.subject_token, request.subject_token_type = _read_token(args.subject_token_file), TOKEN_TYPE_ACCESS
            request.actor_token, request.actor_token_type = _actor_token(channel, args), TOKEN_TYPE_JWT
        if args.ttl:
            request.requested_ttl.CopyFrom(_duration(args.ttl))
        response = token_pb2_grpc.TokenServiceStub(channel).ExchangeToken(request, timeout=10)
    print(response.access_token)


def _add_issuer_commands(admin_sub: Any) -> None:
    issuer = admin_sub.add_parser("issuer", help="trusted external issuers (Kubernetes, CI OIDC, ...)")
    iss_sub = issuer.add_subparsers(dest="issuer_command", required=True)
    create = iss_sub.add_parser("create", help="trust an issuer's JWTs as attestations")
    create.add_argument("issuer", help="the issuer URL, exactly as in its tokens' iss claim")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--jwks-url", help="fetch the JWK Set from this URL (cached, refetched on an unknown kid)")
    source.add_argument("--jwks-file", help="read the JWK Set from this absolute path on the broker's host")
    source.add_argument("--jwks-inline-from", metavar="FILE", help="store the JWK Set in FILE inline")
    create.add_argument("--audience", required=True, help="the aud the issuer's tokens carry for this broker")
    create.add_argument("--alg", action="append", default=[], help="allowed algorithm (repeatable; ES256, RS256)")
    create.add_argument("--single-use", action="store_true", help="accept each jti once")
    create.add_argument("--max-token-age", default="", help="refuse tokens living longer (exp - iat), e.g. 1h")
    iss_sub.add_parser("list", help="list trusted issuers")
    for name, text in (("get", "show one issuer"), ("delete", "stop trusting an issuer")):
        iss_sub.add_parser(name, help=text).add_argument("issuer")
    token = admin_sub.add_parser("token", help="inspect or revoke a broker token")
    token_sub = token.add_subparsers(dest="admin_token_command", required=True)
    for name, text in (("introspect", "is it active, and its claims"), ("revoke", "make it dead until its exp")):
        token_sub.add_parser(name, help=text).add_argument("--token-file", required=True, help="'-': stdin")


def _add_token_commands(token_sub: Any) -> None:
    jwt_cmd = token_sub.add_parser("exchange-jwt", help="exchange a trusted issuer's JWT (Kubernetes, CI OIDC)")
    jwt_cmd.add_argument("--token-file", required=True, help="the JWT, e.g. a projected service-account token")
    down = token_sub.add_parser("downscope", help="a narrower token from a broker token")
    down.add_argument("--token-file", required=True, help="the broker token to narrow ('-': stdin)")
    delegate = token_sub.add_parser("delegate", help="an agent acting for the subject of a broker token")
    delegate.add_argument("--subject-token-file", required=True, help="the principal's broker token ('-': stdin)")
    delegate.add_argument("--identity", help="the agent's identity id (signs an assertion with --key-file)")
    delegate.add_argument("--key-file", help="the agent's private key")
    delegate.add_argument("--actor-token-file", help="or: the agent's attestation (a trusted issuer's JWT)")
    for command in (jwt_cmd, down, delegate):
        command.add_argument("--scope", action="append", default=[])
        command.add_argument("--audience", action="append", default=[])
        command.add_argument("--ttl")
        command.add_argument("--svid", action="store_true", help="typ JWT (a JWT-SVID with a trust domain)")


# rotating secrets ------------------------------------------------------------------------------
GENERATORS = {
    "api-key": secret_pb2.SECRET_GENERATOR_API_KEY,
    "password": secret_pb2.SECRET_GENERATOR_PASSWORD,
    "random-bytes": secret_pb2.SECRET_GENERATOR_RANDOM_BYTES,
}


def _read_value(path: str) -> bytes:
    """A secret value from a file ('-': standard input), byte for byte; never from the command line."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    if not data:
        raise CliError(f"{path}: empty")
    return data


def _secret_create(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    generator = GENERATORS[args.generator] if args.generator else secret_pb2.SECRET_GENERATOR_EXTERNAL
    secret = secret_pb2.Secret(id=args.id, generator=generator, length=args.length)
    for flag, field in (("rotate_every", "interval"), ("grace", "grace_period"), ("retention", "retention")):
        if getattr(args, flag):
            getattr(secret.rotation, field).CopyFrom(_duration(getattr(args, flag)))
    request = secret_pb2.CreateSecretRequest(
        secret_id=args.id, secret=secret, initial_value=_read_value(args.value_file) if args.value_file else b""
    )
    _print_message(stub.CreateSecret(request, metadata=md, timeout=10).secret)


def _secret_list(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    _print_all_pages(
        lambda token: stub.ListSecrets(secret_pb2.ListSecretsRequest(page_size=100, page_token=token), metadata=md),
        "secrets",
    )


def _secret_get(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    _print_message(stub.GetSecret(secret_pb2.GetSecretRequest(secret_id=args.id), metadata=md, timeout=10).secret)


def _secret_versions(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    token = ""
    items: list[dict[str, Any]] = []
    while True:
        request = secret_pb2.ListSecretVersionsRequest(secret_id=args.id, page_size=100, page_token=token)
        page = stub.ListSecretVersions(request, metadata=md, timeout=10)
        items.extend(json_format.MessageToDict(v, preserving_proto_field_name=True) for v in page.versions)
        token = page.next_page_token
        if not token:
            break
    print(json.dumps(items, indent=2))


def _secret_rotate(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    value = _read_value(args.value_file) if args.value_file else b""
    reply = stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id=args.id, value=value), metadata=md, timeout=10)
    _print_message(reply.version)


def _secret_update(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    secret = secret_pb2.Secret(id=args.id, etag=args.etag)
    paths = []
    if args.manual:
        paths.append("rotation.interval")  # left unset: by hand only
    for flag, field in (("rotate_every", "interval"), ("grace", "grace_period"), ("retention", "retention")):
        if getattr(args, flag) is not None:
            getattr(secret.rotation, field).CopyFrom(_duration(getattr(args, flag)))
            paths.append(f"rotation.{field}")
    if args.length is not None:
        secret.length = args.length
        paths.append("length")
    request = secret_pb2.UpdateSecretRequest(secret=secret)
    request.update_mask.paths.extend(paths)
    _print_message(stub.UpdateSecret(request, metadata=md, timeout=10).secret)


def _secret_delete(args: argparse.Namespace, stub: Any, md: list[tuple[str, str]]) -> None:
    stub.DeleteSecret(secret_pb2.DeleteSecretRequest(secret_id=args.id, etag=args.etag), metadata=md, timeout=10)
    print(f"deleted {args.id}")


SECRET_COMMANDS: dict[str, AdminCommand] = {
    "create": _secret_create,
    "list": _secret_list,
    "get": _secret_get,
    "versions": _secret_versions,
    "rotate": _secret_rotate,
    "update": _secret_update,
    "delete": _secret_delete,
}


def _run_secret(args: argparse.Namespace) -> None:
    """``broker secret get|verify``: as a workload, with a one-minute token for just this secret."""
    action = "read" if args.secret_command == "get" else "verify"
    with _channel() as channel:
        token = exchange_with_key(
            channel, args.identity, args.key_file, scopes=[f"broker.secrets.{action}:{args.id}"], ttl="1m"
        ).access_token
        md: tuple[tuple[str, str | bytes], ...] = (("authorization", f"Bearer {token}"),)
        stub = secret_pb2_grpc.SecretServiceStub(channel)
        if args.secret_command == "get":
            request = secret_pb2.AccessSecretVersionRequest(secret_id=args.id, version=args.version)
            value = stub.AccessSecretVersion(request, metadata=md, timeout=10).value
            if args.base64:
                print(base64.b64encode(value).decode("ascii"))
                return
            sys.stdout.flush()
            sys.stdout.buffer.write(value + (b"\n" if sys.stdout.isatty() else b""))
            sys.stdout.buffer.flush()
            return
        check = secret_pb2.VerifySecretValueRequest(secret_id=args.id, value=_read_value(args.value_file))
        reply = stub.VerifySecretValue(check, metadata=md, timeout=10)
    print(
        json_format.MessageToJson(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True, indent=None
        )
    )
    if not reply.valid:
        raise CliError("the value is not accepted")


def _add_secret_commands(admin_sub: Any, sub: Any) -> None:
    secret = admin_sub.add_parser("secret", help="rotating secrets: create, rotate, policy (never reads values)")
    sec_sub = secret.add_subparsers(dest="secret_command", required=True)
    create = sec_sub.add_parser("create", help="create a secret: generated, or a value from a file")
    create.add_argument("id")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--generator", choices=sorted(GENERATORS))
    source.add_argument("--value-file", help="a value from outside, byte for byte ('-': stdin); rotated by hand")
    create.add_argument("--length", type=int, default=0, help="bytes (random-bytes) or characters")
    create.add_argument("--rotate-every", default="", help="rotation interval, e.g. 24h (unset: by hand only)")
    create.add_argument("--grace", default="", help="how long the previous value keeps working, e.g. 1h")
    create.add_argument("--retention", default="", help="how long expired material is kept, e.g. 7d")
    sec_sub.add_parser("list", help="list secrets")
    for name, text in (("get", "show metadata (never the value)"), ("versions", "list versions and their states")):
        sec_sub.add_parser(name, help=text).add_argument("id")
    rotate = sec_sub.add_parser("rotate", help="rotate now; the old value keeps working for the grace period")
    rotate.add_argument("id")
    rotate.add_argument("--value-file", help="the new value of an external secret ('-': stdin)")
    update = sec_sub.add_parser("update", help="change the rotation policy or length")
    update.add_argument("id")
    update.add_argument("--etag", default="")
    schedule = update.add_mutually_exclusive_group()
    schedule.add_argument("--rotate-every", help="new rotation interval (reschedules from the last rotation)")
    schedule.add_argument("--manual", action="store_true", help="stop rotating on a schedule")
    update.add_argument("--grace")
    update.add_argument("--retention")
    update.add_argument("--length", type=int)
    delete = sec_sub.add_parser("delete", help="delete a secret and every version")
    delete.add_argument("id")
    delete.add_argument("--etag", default="")

    workload = sub.add_parser("secret", help="read or verify a secret as a workload")
    work_sub = workload.add_subparsers(dest="secret_command", required=True)
    get = work_sub.add_parser("get", help="write the value to stdout (needs scope broker.secrets.read:ID)")
    get.add_argument("id")
    get.add_argument("--version", type=int, default=0, help="a version still in its grace (default: current)")
    get.add_argument("--base64", action="store_true", help="print base64 (for binary values)")
    verify = work_sub.add_parser("verify", help="check a presented value (needs scope broker.secrets.verify:ID)")
    verify.add_argument("id")
    verify.add_argument("--value-file", required=True, help="the presented value ('-': stdin)")
    for command in (get, verify):
        command.add_argument("--identity", required=True, help="the workload's identity id")
        command.add_argument("--key-file", required=True, help="the workload's private key")


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
    _add_binding_options(create)
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
    _add_binding_options(update)
    _add_issuer_commands(admin_sub)

    token = sub.add_parser("token", help="get tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    exchange = token_sub.add_parser("exchange", help="exchange a key-signed assertion for a token")
    exchange.add_argument("--identity", required=True)
    exchange.add_argument("--key-file", required=True)
    exchange.add_argument("--scope", action="append", default=[])
    exchange.add_argument("--audience", action="append", default=[])
    exchange.add_argument("--ttl")
    exchange.add_argument("--svid", action="store_true", help="typ JWT (a JWT-SVID with a trust domain)")
    _add_token_commands(token_sub)

    key = sub.add_parser("key", help="workload keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    gen = key_sub.add_parser("generate", help="write a new private key (0600) and its public key")
    gen.add_argument("private_key_file")
    gen.add_argument("--alg", choices=("ES256", "EdDSA", "RS256"), default="ES256")
    _add_secret_commands(admin_sub, sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _run_serve(args)
        if args.command == "version":
            print(__version__)
        elif args.command == "admin" and args.admin_command == "issuer":
            _run_admin_service(args, ISSUER_COMMANDS, issuer_pb2_grpc.IssuerServiceStub, args.issuer_command)
        elif args.command == "admin" and args.admin_command == "token":
            _run_admin_token(args)
        elif args.command == "admin" and args.admin_command == "secret":
            _run_admin_service(args, SECRET_COMMANDS, secret_pb2_grpc.SecretServiceStub, args.secret_command)
        elif args.command == "admin":
            _run_admin_service(args, IDENTITY_COMMANDS, identity_pb2_grpc.IdentityServiceStub, args.identity_command)
        elif args.command == "token" and args.token_command != "exchange":
            _run_token_presented(args)
        elif args.command == "token":
            _run_token_exchange(args)
        elif args.command == "key":
            _run_key_generate(args)
        elif args.command == "secret":
            _run_secret(args)
    except CliError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:
        print(f"broker: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``broker admin secret ...`` (metadata, policy, rotation; never a value) and ``broker secret get|verify``
(a workload reading or checking a value with a one-minute token for just that secret)."""

from __future__ import annotations

import argparse
import base64
import sys
from typing import Any

from google.protobuf import json_format

from broker_client.v1 import secret_pb2, secret_pb2_grpc

from ._common import (
    AdminMetadata,
    CliError,
    admin_runner,
    channel,
    duration,
    exchange_with_key,
    print_all_pages,
    print_message,
    read_value,
)

GENERATORS = {
    "api-key": secret_pb2.SECRET_GENERATOR_API_KEY,
    "password": secret_pb2.SECRET_GENERATOR_PASSWORD,
    "random-bytes": secret_pb2.SECRET_GENERATOR_RANDOM_BYTES,
}
_POLICY_FLAGS = (("rotate_every", "interval"), ("grace", "grace_period"), ("retention", "retention"))


def _create(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    generator = GENERATORS[args.generator] if args.generator else secret_pb2.SECRET_GENERATOR_EXTERNAL
    secret = secret_pb2.Secret(id=args.id, generator=generator, length=args.length)
    for flag, field in _POLICY_FLAGS:
        if getattr(args, flag):
            getattr(secret.rotation, field).CopyFrom(duration(getattr(args, flag)))
    request = secret_pb2.CreateSecretRequest(
        secret_id=args.id, secret=secret, initial_value=read_value(args.value_file) if args.value_file else b""
    )
    print_message(stub.CreateSecret(request, metadata=md()).secret)


def _list(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_all_pages(
        lambda token: stub.ListSecrets(secret_pb2.ListSecretsRequest(page_size=100, page_token=token), metadata=md()),
        "secrets",
    )


def _get(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_message(stub.GetSecret(secret_pb2.GetSecretRequest(secret_id=args.id), metadata=md()).secret)


def _versions(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    def page(token: str) -> Any:
        request = secret_pb2.ListSecretVersionsRequest(secret_id=args.id, page_size=100, page_token=token)
        return stub.ListSecretVersions(request, metadata=md())

    print_all_pages(page, "versions")


def _rotate(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    value = read_value(args.value_file) if args.value_file else b""
    reply = stub.RotateSecret(secret_pb2.RotateSecretRequest(secret_id=args.id, value=value), metadata=md())
    print_message(reply.version)


def _update(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    secret = secret_pb2.Secret(id=args.id, etag=args.etag)
    paths = []
    if args.manual:
        paths.append("rotation.interval")  # left unset: by hand only
    for flag, field in _POLICY_FLAGS:
        if getattr(args, flag) is not None:
            getattr(secret.rotation, field).CopyFrom(duration(getattr(args, flag)))
            paths.append(f"rotation.{field}")
    if args.length is not None:
        secret.length = args.length
        paths.append("length")
    request = secret_pb2.UpdateSecretRequest(secret=secret)
    request.update_mask.paths.extend(paths)
    print_message(stub.UpdateSecret(request, metadata=md()).secret)


def _delete(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    stub.DeleteSecret(secret_pb2.DeleteSecretRequest(secret_id=args.id, etag=args.etag), metadata=md())
    print(f"deleted {args.id}")


def _workload(args: argparse.Namespace) -> None:
    """``broker secret get|verify``: as a workload, with a one-minute token for just this secret."""
    action = "read" if args.secret_command == "get" else "verify"
    with channel() as chan:
        token = exchange_with_key(
            chan, args.identity, args.key_file, scopes=[f"broker.secrets.{action}:{args.id}"], ttl="1m"
        ).access_token
        md = (("authorization", f"Bearer {token}"),)
        stub = secret_pb2_grpc.SecretServiceStub(chan)
        if args.secret_command == "get":
            request = secret_pb2.AccessSecretVersionRequest(secret_id=args.id, version=args.version)
            value = stub.AccessSecretVersion(request, metadata=md).value
            if args.base64:
                print(base64.b64encode(value).decode("ascii"))
                return
            sys.stdout.flush()
            sys.stdout.buffer.write(value + (b"\n" if sys.stdout.isatty() else b""))
            sys.stdout.buffer.flush()
            return
        check = secret_pb2.VerifySecretValueRequest(secret_id=args.id, value=read_value(args.value_file))
        reply = stub.VerifySecretValue(check, metadata=md)
    print(
        json_format.MessageToJson(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True, indent=None
        )
    )
    if not reply.valid:
        raise CliError("the value is not accepted")


def register(admin_sub: Any, sub: Any) -> None:
    """Add ``broker admin secret`` and ``broker secret``."""
    stub = secret_pb2_grpc.SecretServiceStub
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
    create.set_defaults(run=admin_runner(stub, _create))
    sec_sub.add_parser("list", help="list secrets").set_defaults(run=admin_runner(stub, _list))
    for name, text, command in (
        ("get", "show metadata (never the value)", _get),
        ("versions", "list versions and their states", _versions),
    ):
        parser = sec_sub.add_parser(name, help=text)
        parser.add_argument("id")
        parser.set_defaults(run=admin_runner(stub, command))
    rotate = sec_sub.add_parser("rotate", help="rotate now; the old value keeps working for the grace period")
    rotate.add_argument("id")
    rotate.add_argument("--value-file", help="the new value of an external secret ('-': stdin)")
    rotate.set_defaults(run=admin_runner(stub, _rotate))
    update = sec_sub.add_parser("update", help="change the rotation policy or length")
    update.add_argument("id")
    update.add_argument("--etag", default="")
    schedule = update.add_mutually_exclusive_group()
    schedule.add_argument("--rotate-every", help="new rotation interval (reschedules from the last rotation)")
    schedule.add_argument("--manual", action="store_true", help="stop rotating on a schedule")
    update.add_argument("--grace")
    update.add_argument("--retention")
    update.add_argument("--length", type=int)
    update.set_defaults(run=admin_runner(stub, _update))
    delete = sec_sub.add_parser("delete", help="delete a secret and every version")
    delete.add_argument("id")
    delete.add_argument("--etag", default="")
    delete.set_defaults(run=admin_runner(stub, _delete))

    workload = sub.add_parser("secret", help="read or verify a secret as a workload")
    work_sub = workload.add_subparsers(dest="secret_command", required=True)
    get = work_sub.add_parser("get", help="write the value to stdout (needs scope broker.secrets.read:ID or :*)")
    get.add_argument("id")
    get.add_argument("--version", type=int, default=0, help="a version still in its grace (default: current)")
    get.add_argument("--base64", action="store_true", help="print base64 (for binary values)")
    verify = work_sub.add_parser("verify", help="check a presented value (needs scope broker.secrets.verify:ID)")
    verify.add_argument("id")
    verify.add_argument("--value-file", required=True, help="the presented value ('-': stdin)")
    for command in (get, verify):
        command.add_argument("--identity", required=True, help="the workload's identity id")
        command.add_argument("--key-file", required=True, help="the workload's private key")
        command.set_defaults(run=_workload)

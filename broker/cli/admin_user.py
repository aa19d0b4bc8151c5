"""``broker admin user ...``: people (UserService). Passwords come from standard input only."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from broker_client.v1 import auth_pb2, auth_pb2_grpc

from ._common import AdminMetadata, CliError, admin_runner, print_all_pages, print_message


def _password_from_stdin() -> str:
    """The first line of standard input (the newline dropped)."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("--password-stdin: no password on standard input")
    return password


def _create(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    password = _password_from_stdin() if args.password_stdin else ""
    user = auth_pb2.User(
        username=args.name,
        display_name=args.display_name,
        tenant=args.tenant,
        allowed_scopes=args.scope,
        allowed_audiences=args.audience,
        mfa_required=args.require_mfa,
    )
    created = stub.CreateUser(auth_pb2.CreateUserRequest(user=user, password=password), metadata=md())
    print_message(created.user)
    if created.setup_code:
        print(f"broker: {args.name} has no password yet; give them this setup code (one use, 24 h) for "
              f"`broker login --setup-code`:\n{created.setup_code}", file=sys.stderr)  # fmt: skip


def _list(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_all_pages(
        lambda token: stub.ListUsers(
            auth_pb2.ListUsersRequest(page_size=100, page_token=token, filter=args.filter), metadata=md()
        ),
        "users",
    )


def _get(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_message(stub.GetUser(auth_pb2.GetUserRequest(username=args.name), metadata=md()).user)


def _update(args: argparse.Namespace, stub: Any, md: AdminMetadata, *, disabled: bool | None = None) -> None:
    user = auth_pb2.User(username=args.name, etag=getattr(args, "etag", ""))
    paths = []
    for flag, field in (("scope", "allowed_scopes"), ("audience", "allowed_audiences")):
        if getattr(args, flag, None) is not None:
            getattr(user, field).extend(getattr(args, flag))
            paths.append(field)
    if getattr(args, "display_name", None) is not None:
        user.display_name = args.display_name
        paths.append("display_name")
    if disabled is not None:
        user.disabled = disabled
        paths.append("disabled")
    if getattr(args, "require_mfa", None) is not None:
        user.mfa_required = args.require_mfa
        paths.append("mfa_required")
    request = auth_pb2.UpdateUserRequest(user=user)
    request.update_mask.paths.extend(paths)
    print_message(stub.UpdateUser(request, metadata=md()).user)


def _reset_password(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    password = _password_from_stdin()
    request = auth_pb2.UpdateUserRequest(user=auth_pb2.User(username=args.name), password=password)
    stub.UpdateUser(request, metadata=md())
    print(f"password of {args.name} reset; every login of {args.name} has ended")


def _delete(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    stub.DeleteUser(auth_pb2.DeleteUserRequest(username=args.name, etag=args.etag), metadata=md())
    print(f"deleted {args.name}")


def _reset_mfa(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    stub.ResetUserMfa(auth_pb2.ResetUserMfaRequest(username=args.name), metadata=md())
    print(f"removed the second factor of {args.name}; they may enrol again")


def _export(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    print_message(stub.ExportUser(auth_pb2.ExportUserRequest(username=args.name), metadata=md()))


def _unlock(args: argparse.Namespace, stub: Any, md: AdminMetadata) -> None:
    stub.UnlockUser(auth_pb2.UnlockUserRequest(username=args.name), metadata=md())
    print(f"unlocked {args.name}")


def register(admin_sub: Any) -> None:
    """Add ``broker admin user`` and its commands."""
    stub = auth_pb2_grpc.UserServiceStub
    group = admin_sub.add_parser("user", help="people who log in")
    sub = group.add_subparsers(dest="user_command", required=True)

    create = sub.add_parser("create", help="create a person")
    create.add_argument("name", help="user name: lowercase letters, digits and '._@+-'")
    create.add_argument("--scope", action="append", default=[], help="a scope their logins may carry (repeatable)")
    create.add_argument("--audience", action="append", default=[], help="an audience they may ask for (repeatable)")
    create.add_argument("--display-name", default="")
    create.add_argument("--tenant", default="")
    create.add_argument("--password-stdin", action="store_true", help="read the first password from stdin")
    create.add_argument("--require-mfa", action="store_true", help="logins need a second factor")
    create.set_defaults(run=admin_runner(stub, _create))

    listing = sub.add_parser("list", help="list people")
    listing.add_argument("--filter", default="", help="e.g. disabled=true")
    listing.set_defaults(run=admin_runner(stub, _list))
    for name, text, command in (
        ("get", "show one person", _get),
        ("unlock", "clear a lockout after failed logins", _unlock),
        ("reset-mfa", "remove a person's second factor (they enrol again)", _reset_mfa),
        ("export", "everything held about a person, as JSON (profile, logins, audit events)", _export),
        ("reset-password", "set a new password from stdin (ends every login)", _reset_password),
        ("disable", "disable a person (every token of theirs dies now)",
         lambda a, s, m: _update(a, s, m, disabled=True)),
        ("enable", "enable a person again (old tokens stay dead)", lambda a, s, m: _update(a, s, m, disabled=False)),
    ):  # fmt: skip
        one = sub.add_parser(name, help=text)
        one.add_argument("name")
        one.set_defaults(run=admin_runner(stub, command))
    update = sub.add_parser("update", help="change fields of a person")
    update.add_argument("name")
    update.add_argument("--etag", default="")
    update.add_argument("--scope", action="append", help="replaces the scopes (repeatable)")
    update.add_argument("--audience", action="append", help="replaces the audiences (repeatable)")
    update.add_argument("--display-name")
    mfa = update.add_mutually_exclusive_group()
    mfa.add_argument("--require-mfa", dest="require_mfa", action="store_const", const=True,
                     help="logins need a second factor (tokens of logins without one die now)")  # fmt: skip
    mfa.add_argument("--no-require-mfa", dest="require_mfa", action="store_const", const=False)
    update.set_defaults(run=admin_runner(stub, _update))
    delete = sub.add_parser("delete", help="delete a person (their logins end)")
    delete.add_argument("name")
    delete.add_argument("--etag", default="")
    delete.set_defaults(run=admin_runner(stub, _delete))

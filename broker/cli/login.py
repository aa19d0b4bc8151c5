"""``broker login | whoami | logout | passwd | mfa``: a person's session on the CLI (session.py keeps it).

Prompts go to the terminal (the password without echo). When standard input is not a
terminal, the answers are read from it one per line, in prompt order, so scripts and
tests can pipe them in; nothing secret is ever taken from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any

import grpc
import segno
from google.protobuf import json_format

from broker_client.v1 import auth_pb2, auth_pb2_grpc, token_pb2, token_pb2_grpc

from . import session
from ._common import CliError, address, channel, login_token, whole_numbers


class _Answers:
    """Answers to prompts: from the terminal, or line by line from a piped standard input."""

    def __init__(self) -> None:
        self._tty = sys.stdin.isatty()

    def ask(self, prompt: str, *, secret: bool = False) -> str:
        if self._tty:
            answer = getpass.getpass(prompt) if secret else input(prompt)
        else:
            line = sys.stdin.readline()
            if not line:
                raise CliError(f"no answer on standard input for {prompt.strip().rstrip(':')!r}")
            answer = line.rstrip("\r\n")
        if not answer:
            raise CliError(f"{prompt.strip().rstrip(':')}: empty")
        return answer


def _login(args: argparse.Namespace) -> None:
    answers = _Answers()
    username = args.user or answers.ask("user name: ")
    if args.setup_code:
        _redeem(answers, username)
        return
    password = answers.ask("password: ", secret=True)
    request = auth_pb2.LoginRequest(username=username, password=password, scopes=args.scope)
    with channel() as chan:
        stub = auth_pb2_grpc.AuthServiceStub(chan)
        try:
            response = stub.Login(request)
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.FAILED_PRECONDITION:
                raise
            request.otp = answers.ask("one-time code: ", secret=True)  # the right password, and MFA is on
            response = stub.Login(request)
    _keep(response, username)


def _redeem(answers: _Answers, username: str) -> None:
    """``broker login --setup-code``: the code an admin gave, a new password (twice), logged in."""
    code = answers.ask("setup code: ", secret=True)
    password = answers.ask("choose a password: ", secret=True)
    if answers.ask("the password again: ", secret=True) != password:
        raise CliError("the passwords differ; the setup code is still good")
    request = auth_pb2.RedeemSetupCodeRequest(username=username, setup_code=code, new_password=password)
    with channel() as chan:
        response = auth_pb2_grpc.AuthServiceStub(chan).RedeemSetupCode(request)
    _keep(response, username)


def _keep(response: auth_pb2.LoginResponse | auth_pb2.RedeemSetupCodeResponse, username: str) -> None:
    try:
        session.save(address(), response, username)
    except OSError as exc:
        raise CliError(f"logged in, but cannot save the login under {session.session_file().parent}: {exc}") from None
    print(f"logged in as {username} (the login is kept in {session.session_file()})")


def _own_token(chan: grpc.Channel) -> str:
    """The access token of the person logged in (refreshed when due), or CliError."""
    token = login_token(chan)
    if token is None:
        raise CliError("not logged in; run `broker login`")
    return token


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def _whoami(args: argparse.Namespace) -> None:
    with channel() as chan:
        token = _own_token(chan)
        if args.token:
            print(token)
            return
        reply = token_pb2_grpc.TokenServiceStub(chan).IntrospectToken(
            token_pb2.IntrospectTokenRequest(token=token), metadata=_bearer(token)
        )
    claims: Any = whole_numbers(json_format.MessageToDict(reply.claims))
    print(json.dumps(claims, indent=2, sort_keys=True))


def _logout(args: argparse.Namespace) -> None:
    found = session.forget(address())
    if found is None:
        print("not logged in")
        return
    with channel() as chan:
        auth_pb2_grpc.AuthServiceStub(chan).Logout(auth_pb2.LogoutRequest(refresh_token=found["refresh_token"]))
    print(f"logged out {found.get('username', '')}".rstrip())


def _passwd(args: argparse.Namespace) -> None:
    answers = _Answers()
    with channel() as chan:
        token = _own_token(chan)
        current = answers.ask("current password: ", secret=True)
        new = answers.ask("new password: ", secret=True)
        if answers.ask("new password again: ", secret=True) != new:
            raise CliError("the new passwords differ; nothing changed")
        auth_pb2_grpc.AuthServiceStub(chan).ChangePassword(
            auth_pb2.ChangePasswordRequest(current_password=current, new_password=new), metadata=_bearer(token)
        )
    session.forget(address())
    print("password changed; every login has ended, run `broker login` again")


def _mfa_enroll(args: argparse.Namespace) -> None:
    with channel() as chan:
        token = _own_token(chan)
        stub = auth_pb2_grpc.AuthServiceStub(chan)
        uri = stub.EnrollMfa(auth_pb2.EnrollMfaRequest(), metadata=_bearer(token)).otpauth_uri
        if not sys.stdin.isatty():  # a script: it confirms with `broker mfa confirm`
            print(uri)
            return
        segno.make(uri, error="m").terminal(compact=True)
        print(f"scan this with an authenticator app, or enter: {uri}")
        _confirm(stub, token)


def _mfa_confirm(args: argparse.Namespace) -> None:
    with channel() as chan:
        _confirm(auth_pb2_grpc.AuthServiceStub(chan), _own_token(chan))


def _confirm(stub: auth_pb2_grpc.AuthServiceStub, token: str) -> None:
    """Ask for the app's first code, turn MFA on with it, and show the recovery codes."""
    request = auth_pb2.ConfirmMfaRequest(code=_Answers().ask("first code from the app: "))
    _print_recovery_codes(stub.ConfirmMfa(request, metadata=_bearer(token)).recovery_codes)


def _print_recovery_codes(codes: Sequence[str]) -> None:
    """The recovery codes on stdout (one per line), what they are on stderr: shown this once."""
    print("MFA is on. Recovery codes, each good once instead of a code (keep them safe; not shown again):",
          file=sys.stderr)  # fmt: skip
    for code in codes:
        print(code)


def register(sub: Any) -> None:
    """Add ``broker login``, ``whoami``, ``logout`` and ``passwd``."""
    login = sub.add_parser("login", help="log in as a person (prompts; or one answer per line on stdin)")
    login.add_argument("--user", default="", help="the user name (else prompted)")
    login.add_argument("--scope", action="append", default=[], help="ask for fewer scopes (repeatable)")
    login.add_argument(
        "--setup-code", action="store_true", help="first login: the setup code an admin gave you, then a new password"
    )
    login.set_defaults(run=_login)
    whoami = sub.add_parser("whoami", help="the claims of your login's access token")
    whoami.add_argument("--token", action="store_true", help="print the access token itself (e.g. a subject token)")
    whoami.set_defaults(run=_whoami)
    sub.add_parser("logout", help="end your login").set_defaults(run=_logout)
    sub.add_parser("passwd", help="change your password (ends every login)").set_defaults(run=_passwd)
    mfa = sub.add_parser("mfa", help="your second factor (TOTP)")
    mfa_sub = mfa.add_subparsers(dest="mfa_command", required=True)
    mfa_sub.add_parser(
        "enroll", help="start TOTP: a QR code and the first code on a terminal; else prints the otpauth URI"
    ).set_defaults(run=_mfa_enroll)
    mfa_sub.add_parser("confirm", help="turn TOTP on with the first code (prints the recovery codes)").set_defaults(
        run=_mfa_confirm
    )

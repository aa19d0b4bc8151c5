"""The ``broker`` command: one module per command group, each registering its parsers.

::

    serve.py           broker serve, broker version
    admin_identity.py  broker admin identity ...    (the admin key signs for a five-minute admin token)
    admin_issuer.py    broker admin issuer ...
    admin_token.py     broker admin token introspect|revoke
    admin_audit.py     broker admin audit list|export|verify
    admin_key.py       broker admin key rotate
    admin_user.py      broker admin user ...       (people)
    login.py           broker login|whoami|logout|passwd (session.py keeps the login)
    secret.py          broker admin secret ..., broker secret get|verify
    token.py           broker token exchange|exchange-jwt|downscope|delegate
    key.py             broker key generate
    _common.py         the channel (one deadline, a request id), inputs, output, errors

``broker admin ...`` authenticates as the person logged in with ``broker login`` (who
needs scope broker.admin), or, when nobody is or BROKER_ADMIN_KEY_FILE is set, with the
admin key (default data/admin.key): it signs a one-minute assertion and exchanges it for
a five-minute admin token, so no long-lived bearer secret exists. BROKER_ADDR names the
daemon.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc

from . import (
    admin_audit,
    admin_identity,
    admin_issuer,
    admin_key,
    admin_token,
    admin_user,
    key,
    login,
    secret,
    serve,
    token,
)
from ._common import CliError, error_line

__all__ = ["main"]


def parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    top = argparse.ArgumentParser(prog="broker", description="Machine-identity and secrets broker.")
    sub = top.add_subparsers(dest="command", required=True)
    serve.register(sub)
    admin = sub.add_parser("admin", help="administer the broker (a login with broker.admin, or the admin key)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    admin_identity.register(admin_sub)
    admin_issuer.register(admin_sub)
    admin_token.register(admin_sub)
    admin_key.register(admin_sub)
    admin_audit.register(admin_sub)
    admin_user.register(admin_sub)
    login.register(sub)
    token.register(sub)
    key.register(sub)
    secret.register(admin_sub, sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        status = args.run(args)
    except CliError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:
        print(f"broker: {error_line(exc)}", file=sys.stderr)
        return 1
    return int(status or 0)

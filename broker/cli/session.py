"""The CLI's saved login: a person's token pair, kept 0600 under the user's config directory.

``broker login`` saves the pair for the daemon it talked to (BROKER_ADDR) in
``$XDG_CONFIG_HOME/broker/session.json`` (default ``~/.config/broker/``); every later
command that needs a bearer token takes the access token from there, refreshing it
(and saving the new pair) when it has less than a minute left. A refresh the broker
refuses ends the saved login. The file holds bearer secrets: it is written by a
temporary file renamed into place, readable by its owner only, in a 0700 directory.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from broker_client.v1 import auth_pb2, auth_pb2_grpc

#: Refresh an access token with less than this many seconds left.
REFRESH_MARGIN = 60


class SessionError(Exception):
    """The saved login cannot be used (unreadable, or ended); the message says what to do."""


def session_file() -> Path:
    """Where logins are kept."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "broker" / "session.json"


def _read_all() -> dict[str, Any]:
    path = session_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SessionError(f"cannot read the saved login {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _write_all(data: dict[str, Any]) -> None:
    path = session_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".session-")  # created 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def saved(addr: str) -> dict[str, Any] | None:
    """The saved login for the daemon at ``addr``, if any."""
    found = _read_all().get(addr)
    return found if isinstance(found, dict) and found.get("refresh_token") else None


TokenPair = auth_pb2.LoginResponse | auth_pb2.RefreshTokenResponse | auth_pb2.RedeemSetupCodeResponse


def save(addr: str, response: TokenPair, username: str) -> None:
    """Keep a token pair for the daemon at ``addr``."""
    data = _read_all()
    data[addr] = {
        "username": username,
        "access_token": response.access_token,
        "refresh_token": response.refresh_token,
        "expires_at": response.expires_at.ToSeconds(),
        "refresh_expires_at": response.refresh_expires_at.ToSeconds(),
    }
    _write_all(data)


def forget(addr: str) -> dict[str, Any] | None:
    """Remove the saved login for the daemon at ``addr``; returns it."""
    data = _read_all()
    found = data.pop(addr, None)
    if found is not None:
        _write_all(data)
    return found if isinstance(found, dict) else None


def access_token(chan: grpc.Channel, addr: str) -> str | None:
    """A live access token of the saved login, refreshed when it is about to expire; None without one."""
    login = saved(addr)
    if login is None:
        return None
    if int(login.get("expires_at", 0)) - REFRESH_MARGIN > time.time():
        return str(login["access_token"])
    try:
        response = auth_pb2_grpc.AuthServiceStub(chan).RefreshToken(
            auth_pb2.RefreshTokenRequest(refresh_token=login["refresh_token"])
        )
    except grpc.RpcError as exc:
        if exc.code() is grpc.StatusCode.UNAUTHENTICATED:
            forget(addr)
            raise SessionError("your login has ended (logged out, expired or revoked); run `broker login`") from None
        raise
    save(addr, response, str(login.get("username", "")))
    return response.access_token

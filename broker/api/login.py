"""AuthService: people log in, refresh, log out, change their password, redeem a setup code
(core/sessions.py) and enrol a second factor (core/enrolment.py).

Login, RefreshToken, Logout and RedeemSetupCode are public: the password, the refresh
token or the setup code is the credential; the others need the person's own token.
Argon2id hashing takes over a hundred milliseconds of CPU and 64 MiB each, so it runs
on ``PasswordWork``'s own low-priority threads, at most its number at once; the others
wait on the loop, where waiting costs nothing, and a login flood can take neither the
threads, the memory nor the CPU that ExchangeToken needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from broker_client.v1 import auth_pb2, auth_pb2_grpc

from ..core.enrolment import MfaEnrolment
from ..core.principals import Principal
from ..core.sessions import Logins, TokenPair
from . import convert
from .handler import ApiContext, Ctx, Servicer, rpc

T = TypeVar("T")


class PasswordWork:
    """Runs password hashing on its own threads, at most ``slots`` at once, at a low CPU
    priority (Linux: nice 19 for those threads and the ones Argon2 starts): a login flood
    takes the CPU the token path leaves idle, not the CPU it needs."""

    def __init__(self, slots: int) -> None:
        self._slots = asyncio.Semaphore(max(1, slots))
        self._pool = ThreadPoolExecutor(max(1, slots), thread_name_prefix="password", initializer=_lower_priority)

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a password thread once a slot is free (the caller's context goes with it)."""
        async with self._slots:
            call = functools.partial(contextvars.copy_context().run, fn)
            return await asyncio.get_running_loop().run_in_executor(self._pool, call)


def _lower_priority() -> None:
    """Give the calling thread (and the threads it starts) the lowest CPU priority, where the OS allows."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _pair(pair: TokenPair) -> dict[str, Any]:
    """The fields LoginResponse and RefreshTokenResponse share."""
    return {
        "access_token": pair.access.token,
        "refresh_token": pair.refresh_token,
        "expires_at": convert.timestamp(pair.access.expires_at),
        "refresh_expires_at": convert.timestamp(pair.refresh_expires_at),
    }


class AuthServicer(Servicer, auth_pb2_grpc.AuthServiceServicer):
    """Thin adapter from AuthService to Logins."""

    def __init__(self, api: ApiContext, logins: Logins, enrolment: MfaEnrolment, work: PasswordWork) -> None:
        super().__init__(api)
        self._logins = logins
        self._enrolment = enrolment
        self._work = work

    @rpc(public=True, limited=True)
    async def Login(self, request: auth_pb2.LoginRequest, context: Ctx, principal: Principal) -> auth_pb2.LoginResponse:
        pair = await self._work.run(
            lambda: self._logins.login(
                request.username,
                request.password,
                scopes=request.scopes,
                audiences=request.audiences,
                otp=request.otp,
                by=principal,
            )
        )
        return auth_pb2.LoginResponse(**_pair(pair))

    @rpc(public=True, limited=True)
    async def RefreshToken(
        self, request: auth_pb2.RefreshTokenRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.RefreshTokenResponse:
        pair = await asyncio.to_thread(self._logins.refresh, request.refresh_token, by=principal)
        return auth_pb2.RefreshTokenResponse(**_pair(pair))

    @rpc(public=True, limited=True)
    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.LogoutResponse:
        await asyncio.to_thread(self._logins.logout, request.refresh_token, by=principal)
        return auth_pb2.LogoutResponse()

    @rpc(limited=True)
    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.ChangePasswordResponse:
        await self._work.run(
            lambda: self._logins.change_password(request.current_password, request.new_password, by=principal)
        )
        return auth_pb2.ChangePasswordResponse()

    @rpc(public=True, limited=True)
    async def RedeemSetupCode(
        self, request: auth_pb2.RedeemSetupCodeRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.RedeemSetupCodeResponse:
        pair = await self._work.run(
            lambda: self._logins.redeem_setup_code(
                request.username, request.setup_code, request.new_password, by=principal
            )
        )
        return auth_pb2.RedeemSetupCodeResponse(**_pair(pair))

    @rpc(limited=True)
    async def EnrollMfa(
        self, request: auth_pb2.EnrollMfaRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.EnrollMfaResponse:
        uri = await asyncio.to_thread(self._enrolment.start, by=principal)
        return auth_pb2.EnrollMfaResponse(otpauth_uri=uri)

    @rpc(limited=True)
    async def ConfirmMfa(
        self, request: auth_pb2.ConfirmMfaRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.ConfirmMfaResponse:
        codes = await asyncio.to_thread(self._enrolment.confirm, request.code, by=principal)
        return auth_pb2.ConfirmMfaResponse(recovery_codes=codes)

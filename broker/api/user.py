"""UserService: people, managed by admins (scope broker.admin; core/people.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from broker_client.v1 import auth_pb2, auth_pb2_grpc

from ..core.enrolment import MfaEnrolment
from ..core.people import PeopleRegistry, Person
from ..core.principals import ADMIN_SCOPE, Principal
from ..core.privacy import PersonalData
from ..core.sessions import Logins, RefreshFamily
from ..core.throttle import LoginThrottle
from . import convert
from .audit import event_to_proto
from .handler import ApiContext, Ctx, Servicer, rpc
from .login import PasswordWork


def user_to_proto(person: Person, *, locked: bool = False) -> auth_pb2.User:
    """The wire form of a person (never the password hash)."""
    return auth_pb2.User(
        username=person.username,
        display_name=person.display_name,
        tenant=person.tenant,
        allowed_scopes=person.allowed_scopes,
        allowed_audiences=person.allowed_audiences,
        disabled=person.disabled,
        create_time=convert.timestamp(person.create_time),
        update_time=convert.timestamp(person.update_time),
        etag=person.etag,
        locked=locked,
        has_password=bool(person.password_hash),
        mfa_enabled=person.mfa.enrolled,
        mfa_required=person.mfa_required,
    )


def session_to_proto(family: RefreshFamily) -> auth_pb2.Session:
    """The wire form of a login."""
    return auth_pb2.Session(
        id=family.id,
        scopes=family.scopes,
        audiences=family.audiences,
        amr=family.amr,
        create_time=convert.timestamp(family.create_time),
        last_used_time=convert.timestamp(family.last_used_time),
        expire_time=convert.timestamp(family.expire_time),
        end_time=convert.timestamp(family.end_time),
        end_reason=family.end_reason,
    )


def _field_values(msg: auth_pb2.User) -> dict[str, Callable[[], Any]]:
    return {
        "tenant": lambda: msg.tenant,
        "display_name": lambda: msg.display_name,
        "allowed_scopes": lambda: tuple(msg.allowed_scopes),
        "allowed_audiences": lambda: tuple(msg.allowed_audiences),
        "disabled": lambda: msg.disabled,
        "mfa_required": lambda: msg.mfa_required,
    }


def user_changes(msg: auth_pb2.User, paths: Sequence[str]) -> dict[str, Any]:
    """The fields an update mask names, converted; unknown paths are refused."""
    return convert.masked_changes(_field_values(msg), paths)


class UserServicer(Servicer, auth_pb2_grpc.UserServiceServicer):
    """Thin adapter from UserService to the PeopleRegistry."""

    def __init__(
        self,
        api: ApiContext,
        people: PeopleRegistry,
        logins: Logins,
        enrolment: MfaEnrolment,
        personal: PersonalData,
        throttle: LoginThrottle,
        work: PasswordWork,
    ) -> None:
        super().__init__(api)
        self._people = people
        self._logins = logins
        self._enrolment = enrolment
        self._personal = personal
        self._throttle = throttle
        self._work = work

    def _proto(self, person: Person) -> auth_pb2.User:
        return user_to_proto(person, locked=self._throttle.locked(person.username))

    @rpc(scope=ADMIN_SCOPE)
    async def CreateUser(
        self, request: auth_pb2.CreateUserRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.CreateUserResponse:
        def create() -> auth_pb2.CreateUserResponse:
            values = {name: get() for name, get in _field_values(request.user).items()}
            person = Person(username=request.user.username, **values)
            created, setup_code = self._people.create(person, password=request.password, by=principal)
            return auth_pb2.CreateUserResponse(user=self._proto(created), setup_code=setup_code)

        return await self._work.run(create)

    @rpc(scope=ADMIN_SCOPE)
    async def GetUser(
        self, request: auth_pb2.GetUserRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.GetUserResponse:
        def get() -> auth_pb2.GetUserResponse:
            return auth_pb2.GetUserResponse(user=self._proto(self._people.get(request.username)))

        return await asyncio.to_thread(get)

    @rpc(scope=ADMIN_SCOPE)
    async def ListUsers(
        self, request: auth_pb2.ListUsersRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.ListUsersResponse:
        def list_page() -> auth_pb2.ListUsersResponse:
            items, next_token = self._people.list(
                page_size=request.page_size, page_token=request.page_token, filter_text=request.filter
            )
            return auth_pb2.ListUsersResponse(users=[self._proto(p) for p in items], next_page_token=next_token)

        return await asyncio.to_thread(list_page)

    @rpc(scope=ADMIN_SCOPE)
    async def UpdateUser(
        self, request: auth_pb2.UpdateUserRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.UpdateUserResponse:
        def update() -> auth_pb2.UpdateUserResponse:
            changes = user_changes(request.user, request.update_mask.paths)
            updated = self._people.update(
                request.user.username, changes, by=principal, etag=request.user.etag, password=request.password
            )
            return auth_pb2.UpdateUserResponse(user=self._proto(updated))

        return await self._work.run(update)

    @rpc(scope=ADMIN_SCOPE)
    async def DeleteUser(
        self, request: auth_pb2.DeleteUserRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.DeleteUserResponse:
        await asyncio.to_thread(self._personal.erase, request.username, by=principal, etag=request.etag)
        return auth_pb2.DeleteUserResponse()

    @rpc(scope=ADMIN_SCOPE)
    async def UnlockUser(
        self, request: auth_pb2.UnlockUserRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.UnlockUserResponse:
        await asyncio.to_thread(self._logins.unlock, request.username, by=principal)
        return auth_pb2.UnlockUserResponse()

    @rpc(scope=ADMIN_SCOPE)
    async def ExportUser(
        self, request: auth_pb2.ExportUserRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.ExportUserResponse:
        def export() -> auth_pb2.ExportUserResponse:
            found = self._personal.export(request.username, by=principal)
            return auth_pb2.ExportUserResponse(
                user=self._proto(found.person),
                sessions=[session_to_proto(f) for f in found.sessions],
                audit_events=[event_to_proto(e) for e in found.events],
                truncated=found.truncated,
            )

        return await asyncio.to_thread(export)

    @rpc(scope=ADMIN_SCOPE)
    async def ResetUserMfa(
        self, request: auth_pb2.ResetUserMfaRequest, context: Ctx, principal: Principal
    ) -> auth_pb2.ResetUserMfaResponse:
        await asyncio.to_thread(self._enrolment.reset, request.username, by=principal)
        return auth_pb2.ResetUserMfaResponse()

"""IdentityService: service accounts and AI agents (scope broker.admin)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from broker_client.v1 import identity_pb2, identity_pb2_grpc

from ..core.audit import Auditor
from ..core.identities import ADMIN_SCOPE, IdentityRegistry
from ..core.tokens import AccessClaims
from . import convert
from .handler import ApiContext, Servicer, rpc

Ctx = grpc.aio.ServicerContext[Any, Any]


class IdentityServicer(Servicer, identity_pb2_grpc.IdentityServiceServicer):
    """Thin adapter from IdentityService to the IdentityRegistry."""

    def __init__(self, api: ApiContext, registry: IdentityRegistry, auditor: Auditor) -> None:
        super().__init__(api)
        self._registry = registry
        self._auditor = auditor

    def _audit(self, action: str, principal: AccessClaims | None, target: str) -> None:
        self._auditor.record(action, actor=principal.client_id if principal else "", target=target)

    @rpc(scope=ADMIN_SCOPE)
    async def CreateIdentity(
        self, request: identity_pb2.CreateIdentityRequest, context: Ctx, principal: AccessClaims | None
    ) -> identity_pb2.CreateIdentityResponse:
        def create() -> identity_pb2.CreateIdentityResponse:
            keys = tuple(
                self._registry.make_key(
                    k.jwk_json,
                    kid=k.kid,
                    expire_time=convert.from_timestamp(
                        k.expire_time, k.HasField("expire_time"), "public_keys.expire_time"
                    ),
                )
                for k in request.identity.public_keys
            )
            created = self._registry.create(convert.identity_from_proto(request.identity, keys))
            self._audit("identity.create", principal, created.id)
            return identity_pb2.CreateIdentityResponse(identity=convert.identity_to_proto(created))

        return await asyncio.to_thread(create)

    @rpc(scope=ADMIN_SCOPE)
    async def GetIdentity(
        self, request: identity_pb2.GetIdentityRequest, context: Ctx, principal: AccessClaims | None
    ) -> identity_pb2.GetIdentityResponse:
        identity = await asyncio.to_thread(self._registry.get, request.id)
        return identity_pb2.GetIdentityResponse(identity=convert.identity_to_proto(identity))

    @rpc(scope=ADMIN_SCOPE)
    async def ListIdentities(
        self, request: identity_pb2.ListIdentitiesRequest, context: Ctx, principal: AccessClaims | None
    ) -> identity_pb2.ListIdentitiesResponse:
        items, next_token = await asyncio.to_thread(
            self._registry.list,
            page_size=request.page_size,
            page_token=request.page_token,
            filter_text=request.filter,
        )
        return identity_pb2.ListIdentitiesResponse(
            identities=[convert.identity_to_proto(i) for i in items], next_page_token=next_token
        )

    @rpc(scope=ADMIN_SCOPE)
    async def UpdateIdentity(
        self, request: identity_pb2.UpdateIdentityRequest, context: Ctx, principal: AccessClaims | None
    ) -> identity_pb2.UpdateIdentityResponse:
        def update() -> identity_pb2.UpdateIdentityResponse:
            changes = convert.identity_changes(request.identity, request.update_mask.paths)
            updated = self._registry.update(request.identity.id, changes, etag=request.identity.etag)
            self._audit("identity.update", principal, updated.id)
            return identity_pb2.UpdateIdentityResponse(identity=convert.identity_to_proto(updated))

        return await asyncio.to_thread(update)

    @rpc(scope=ADMIN_SCOPE)
    async def DeleteIdentity(
        self, request: identity_pb2.DeleteIdentityRequest, context: Ctx, principal: AccessClaims | None
    ) -> identity_pb2.DeleteIdentityResponse:
        def delete() -> None:
            self._registry.delete(request.id, etag=request.etag)
            self._audit("identity.delete", principal, request.id)

        await asyncio.to_thread(delete)
        return identity_pb2.DeleteIdentityResponse()

    @rpc(scope=ADMIN_SCOPE)
    async def AddIdentityKey(
        self, request: identity_pb2.AddIdentityKeyRequest, context: Ctx, principal: AccessClaims | None
    ) -> identity_pb2.AddIdentityKeyResponse:
        def add() -> identity_pb2.AddIdentityKeyResponse:
            key = self._registry.make_key(
                request.public_key,
                kid=request.kid,
                expire_time=convert.from_timestamp(request.expire_time, request.HasField("expire_time"), "expire_time"),
            )
            updated = self._registry.add_key(request.identity_id, key)
            self._audit("identity.add_key", principal, f"{updated.id}/{key.kid}")
            return identity_pb2.AddIdentityKeyResponse(identity=convert.identity_to_proto(updated), kid=key.kid)

        return await asyncio.to_thread(add)

    @rpc(scope=ADMIN_SCOPE)
    async def RemoveIdentityKey(
        self, request: identity_pb2.RemoveIdentityKeyRequest, context: Ctx, principal: AccessClaims | None
    ) -> identity_pb2.RemoveIdentityKeyResponse:
        def remove() -> identity_pb2.RemoveIdentityKeyResponse:
            updated = self._registry.remove_key(request.identity_id, request.kid)
            self._audit("identity.remove_key", principal, f"{updated.id}/{request.kid}")
            return identity_pb2.RemoveIdentityKeyResponse(identity=convert.identity_to_proto(updated))

        return await asyncio.to_thread(remove)

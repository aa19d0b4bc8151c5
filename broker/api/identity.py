"""IdentityService: service accounts and AI agents (scope broker.admin)."""

from __future__ import annotations

import asyncio

from broker_client.v1 import identity_pb2, identity_pb2_grpc

from ..core.identities import IdentityRegistry
from ..core.principals import ADMIN_SCOPE, Principal
from . import convert
from .handler import ApiContext, Ctx, Servicer, rpc


class IdentityServicer(Servicer, identity_pb2_grpc.IdentityServiceServicer):
    """Thin adapter from IdentityService to the IdentityRegistry."""

    def __init__(self, api: ApiContext, registry: IdentityRegistry) -> None:
        super().__init__(api)
        self._registry = registry

    @rpc(scope=ADMIN_SCOPE)
    async def CreateIdentity(
        self, request: identity_pb2.CreateIdentityRequest, context: Ctx, principal: Principal
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
            created = self._registry.create(convert.identity_from_proto(request.identity, keys), by=principal)
            return identity_pb2.CreateIdentityResponse(identity=convert.identity_to_proto(created))

        return await asyncio.to_thread(create)

    @rpc(scope=ADMIN_SCOPE)
    async def GetIdentity(
        self, request: identity_pb2.GetIdentityRequest, context: Ctx, principal: Principal
    ) -> identity_pb2.GetIdentityResponse:
        identity = await asyncio.to_thread(self._registry.get, request.id)
        return identity_pb2.GetIdentityResponse(identity=convert.identity_to_proto(identity))

    @rpc(scope=ADMIN_SCOPE)
    async def ListIdentities(
        self, request: identity_pb2.ListIdentitiesRequest, context: Ctx, principal: Principal
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
        self, request: identity_pb2.UpdateIdentityRequest, context: Ctx, principal: Principal
    ) -> identity_pb2.UpdateIdentityResponse:
        def update() -> identity_pb2.UpdateIdentityResponse:
            changes = convert.identity_changes(request.identity, request.update_mask.paths)
            updated = self._registry.update(request.identity.id, changes, by=principal, etag=request.identity.etag)
            return identity_pb2.UpdateIdentityResponse(identity=convert.identity_to_proto(updated))

        return await asyncio.to_thread(update)

    @rpc(scope=ADMIN_SCOPE)
    async def DeleteIdentity(
        self, request: identity_pb2.DeleteIdentityRequest, context: Ctx, principal: Principal
    ) -> identity_pb2.DeleteIdentityResponse:
        await asyncio.to_thread(self._registry.delete, request.id, by=principal, etag=request.etag)
        return identity_pb2.DeleteIdentityResponse()

    @rpc(scope=ADMIN_SCOPE)
    async def AddIdentityKey(
        self, request: identity_pb2.AddIdentityKeyRequest, context: Ctx, principal: Principal
    ) -> identity_pb2.AddIdentityKeyResponse:
        def add() -> identity_pb2.AddIdentityKeyResponse:
            key = self._registry.make_key(
                request.public_key,
                kid=request.kid,
                expire_time=convert.from_timestamp(request.expire_time, request.HasField("expire_time"), "expire_time"),
            )
            updated = self._registry.add_key(request.identity_id, key, by=principal)
            return identity_pb2.AddIdentityKeyResponse(identity=convert.identity_to_proto(updated), kid=key.kid)

        return await asyncio.to_thread(add)

    @rpc(scope=ADMIN_SCOPE)
    async def RemoveIdentityKey(
        self, request: identity_pb2.RemoveIdentityKeyRequest, context: Ctx, principal: Principal
    ) -> identity_pb2.RemoveIdentityKeyResponse:
        updated = await asyncio.to_thread(self._registry.remove_key, request.identity_id, request.kid, by=principal)
        return identity_pb2.RemoveIdentityKeyResponse(identity=convert.identity_to_proto(updated))

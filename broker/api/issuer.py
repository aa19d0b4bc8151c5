"""IssuerService: trusted external issuers (scope broker.admin)."""

from __future__ import annotations

import asyncio

from broker_client.v1 import issuer_pb2, issuer_pb2_grpc

from ..core.issuers import IssuerRegistry, TrustedIssuer
from ..core.principals import ADMIN_SCOPE, Principal
from . import convert
from .handler import ApiContext, Ctx, Servicer, rpc


def issuer_to_proto(issuer: TrustedIssuer) -> issuer_pb2.TrustedIssuer:
    """The wire form of a trusted issuer."""
    return issuer_pb2.TrustedIssuer(
        issuer=issuer.issuer,
        jwks_json=issuer.jwks_json,
        jwks_file=issuer.jwks_file,
        jwks_url=issuer.jwks_url,
        algorithms=issuer.algorithms,
        audience=issuer.audience,
        single_use=issuer.single_use,
        max_token_age=convert.duration(issuer.max_token_age),
        create_time=convert.timestamp(issuer.create_time),
        etag=issuer.etag,
    )


def issuer_from_proto(msg: issuer_pb2.TrustedIssuer) -> TrustedIssuer:
    """A new domain issuer from the wire (validated by the registry)."""
    return TrustedIssuer(
        issuer=msg.issuer,
        jwks_json=msg.jwks_json,
        jwks_file=msg.jwks_file,
        jwks_url=msg.jwks_url,
        algorithms=tuple(msg.algorithms),
        audience=msg.audience,
        single_use=msg.single_use,
        max_token_age=convert.from_duration(msg.max_token_age, msg.HasField("max_token_age"), "max_token_age"),
    )


class IssuerServicer(Servicer, issuer_pb2_grpc.IssuerServiceServicer):
    """Thin adapter from IssuerService to the IssuerRegistry."""

    def __init__(self, api: ApiContext, registry: IssuerRegistry) -> None:
        super().__init__(api)
        self._registry = registry

    @rpc(scope=ADMIN_SCOPE)
    async def CreateIssuer(
        self, request: issuer_pb2.CreateIssuerRequest, context: Ctx, principal: Principal
    ) -> issuer_pb2.CreateIssuerResponse:
        def create() -> issuer_pb2.CreateIssuerResponse:
            created = self._registry.create(issuer_from_proto(request.issuer), by=principal)
            warning = self._registry.key_warning(created)
            return issuer_pb2.CreateIssuerResponse(
                issuer=issuer_to_proto(created), warnings=[warning] if warning else []
            )

        return await asyncio.to_thread(create)

    @rpc(scope=ADMIN_SCOPE)
    async def GetIssuer(
        self, request: issuer_pb2.GetIssuerRequest, context: Ctx, principal: Principal
    ) -> issuer_pb2.GetIssuerResponse:
        issuer = await asyncio.to_thread(self._registry.get, request.issuer)
        return issuer_pb2.GetIssuerResponse(issuer=issuer_to_proto(issuer))

    @rpc(scope=ADMIN_SCOPE)
    async def ListIssuers(
        self, request: issuer_pb2.ListIssuersRequest, context: Ctx, principal: Principal
    ) -> issuer_pb2.ListIssuersResponse:
        items, next_token = await asyncio.to_thread(
            self._registry.list, page_size=request.page_size, page_token=request.page_token
        )
        return issuer_pb2.ListIssuersResponse(issuers=[issuer_to_proto(i) for i in items], next_page_token=next_token)

    @rpc(scope=ADMIN_SCOPE)
    async def DeleteIssuer(
        self, request: issuer_pb2.DeleteIssuerRequest, context: Ctx, principal: Principal
    ) -> issuer_pb2.DeleteIssuerResponse:
        await asyncio.to_thread(self._registry.delete, request.issuer, by=principal)
        return issuer_pb2.DeleteIssuerResponse()

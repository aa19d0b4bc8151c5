"""AuditService: read the audit log and verify its chain (scope broker.admin)."""

from __future__ import annotations

import asyncio
import json

from google.protobuf import struct_pb2

from broker_client.v1 import audit_pb2, audit_pb2_grpc

from ..core.audit import AuditEvent, AuditFilter, Auditor
from ..core.audit_chain import AuditChain, ChainReport
from ..core.errors import InvalidArgument
from ..core.principals import ADMIN_SCOPE, Principal
from . import convert
from .handler import ApiContext, Ctx, Servicer, rpc

_FILTER_FIELDS = ("action", "actor", "subject", "target", "outcome")
#: Seconds a whole-chain walk may take (the CLI waits 300 s by default, --timeout longer).
VERIFY_TIMEOUT = 3600.0


def parse_filter(text: str) -> AuditFilter:
    """``action=token.delegate outcome=failure`` -> AuditFilter."""
    values: dict[str, str] = {}
    for term in text.split():
        if term == "AND":
            continue
        name, sep, value = term.partition("=")
        if not sep or name not in _FILTER_FIELDS or not value:
            raise InvalidArgument(
                f"filter: {term[:80]!r} is not one of {', '.join(f + '=VALUE' for f in _FILTER_FIELDS)}"
            )
        values[name] = value
    return AuditFilter(**values)


def event_to_proto(event: AuditEvent) -> audit_pb2.AuditEvent:
    """The wire form of an audit event."""
    details = struct_pb2.Struct()
    details.update(json.loads(json.dumps(dict(event.details), default=str)))
    return audit_pb2.AuditEvent(
        id=event.id,
        event_time=convert.timestamp(event.event_time),
        action=event.action,
        actor=event.actor,
        subject=event.subject,
        target=event.target,
        outcome=event.outcome,
        request_id=event.request_id,
        details=details,
        client_address=event.client_address,
        replica=event.replica,
        seq=event.seq,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def report_to_proto(report: ChainReport) -> audit_pb2.VerifyAuditChainResponse:
    """The wire form of a chain verification."""
    return audit_pb2.VerifyAuditChainResponse(
        ok=report.ok,
        events=report.events,
        first_seq=report.first_seq,
        last_seq=report.last_seq,
        checkpoints=report.checkpoints,
        unchecked_checkpoints=report.unchecked_checkpoints,
        pseudonymized=report.pseudonymized,
        problem_count=report.problem_count,
        problems=[audit_pb2.ChainProblem(seq=p.seq, kind=p.kind, message=p.message) for p in report.problems],
        last_checkpoint_time=convert.timestamp(report.last_checkpoint_time),
    )


class AuditServicer(Servicer, audit_pb2_grpc.AuditServiceServicer):
    """Thin adapter from AuditService to the Auditor."""

    def __init__(self, api: ApiContext, auditor: Auditor, chain: AuditChain) -> None:
        super().__init__(api)
        self._auditor = auditor
        self._chain = chain

    @rpc(scope=ADMIN_SCOPE)
    async def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: Ctx, principal: Principal
    ) -> audit_pb2.ListAuditEventsResponse:
        events, next_token = await asyncio.to_thread(
            self._auditor.list,
            page_size=request.page_size,
            page_token=request.page_token,
            flt=parse_filter(request.filter),
        )
        return audit_pb2.ListAuditEventsResponse(events=[event_to_proto(e) for e in events], next_page_token=next_token)

    @rpc(scope=ADMIN_SCOPE, timeout=VERIFY_TIMEOUT)
    async def VerifyAuditChain(
        self, request: audit_pb2.VerifyAuditChainRequest, context: Ctx, principal: Principal
    ) -> audit_pb2.VerifyAuditChainResponse:
        report = await asyncio.to_thread(self._chain.verify)
        return report_to_proto(report)

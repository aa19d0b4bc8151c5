"""The Principal: per-resource scopes, and core services that authorize and audit for themselves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.core.audit import AuditFilter, Auditor
from broker.core.clock import FakeClock
from broker.core.errors import PermissionDenied
from broker.core.generators import Generator
from broker.core.identities import Identity, IdentityKind, IdentityRegistry
from broker.core.principals import ADMIN_SCOPE, Principal
from broker.core.secrets import RotationPolicy, SecretManager
from broker.core.tokens import AccessClaims
from broker.scheduler import SCHEDULER
from broker.store.sql import SqlStore
from tests.unit.conftest import OPERATOR

POLICY = RotationPolicy(interval=None, grace_period=timedelta(minutes=5))


def _caller(*scopes: str, request_id: str = "req-1") -> Principal:
    claims = AccessClaims({"sub": "svc", "client_id": "svc", "kind": "service_account", "scope": " ".join(scopes)})
    return Principal.of_token(claims, request_id=request_id, peer="ipv4:127.0.0.1:5000")


def test_a_scope_for_one_resource_or_for_all_is_required() -> None:
    """read:db covers db only, read:* covers every id; broker.admin counts only where the call allows it."""
    one, every, admin = _caller("broker.secrets.read:db"), _caller("broker.secrets.read:*"), _caller(ADMIN_SCOPE)
    one.require_on("db", "broker.secrets.read")
    every.require_on("anything", "broker.secrets.read")
    admin.require_on("db", "broker.secrets.rotate", admin=True)
    with pytest.raises(PermissionDenied, match=r"broker\.secrets\.read:other"):
        one.require_on("other", "broker.secrets.read")
    with pytest.raises(PermissionDenied, match=r"broker\.secrets\.read:db$"):
        admin.require_on("db", "broker.secrets.read")  # the admin manages secrets, never reads them


def test_a_token_principal_names_the_acting_client_and_keeps_the_token() -> None:
    """The actor is client_id (the agent, in a delegation); scopes, tenant, peer and request id come along."""
    claims = AccessClaims({"sub": "alice", "client_id": "helper", "kind": "ai_agent", "tenant": "t1", "scope": "a b"})
    principal = Principal.of_token(claims, request_id="r", peer="p")
    assert (principal.actor, principal.subject, principal.tenant) == ("helper", "alice", "t1")
    assert principal.scopes == {"a", "b"} and principal.token is claims and not principal.is_admin


def test_the_scheduler_may_rotate_but_not_manage(registry: IdentityRegistry) -> None:
    """The broker's own jobs hold only what they need: the scheduler cannot create an identity."""
    with pytest.raises(PermissionDenied, match=ADMIN_SCOPE):
        registry.create(Identity(id="sneaky", kind=IdentityKind.SERVICE_ACCOUNT), by=SCHEDULER)


def test_a_refused_read_writes_nothing_and_an_allowed_one_is_audited_with_the_callers_request(
    store: SqlStore, clock: FakeClock, auditor: Auditor
) -> None:
    """The service checks the caller before it looks anything up, and audits with the principal's own request id."""
    manager = SecretManager(store, clock, auditor)
    manager.create("db", generator=Generator.API_KEY, policy=POLICY, by=OPERATOR)
    with pytest.raises(PermissionDenied):
        manager.access("db", by=_caller("broker.secrets.verify:db", request_id="denied"))
    manager.access("db", by=_caller("broker.secrets.read:db", request_id="allowed"))
    events, _ = auditor.list(page_size=10, page_token="", flt=AuditFilter(action="secret.access"))
    assert [(e.actor, e.request_id, e.details["version"]) for e in events] == [("svc", "allowed", 1)]

"""Checkpoints of the audit chain: signed over the head, verified even when events were
appended while one was signed; a forged or misplaced checkpoint is named."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from broker.core.audit import Auditor, ChainHead
from broker.core.audit_chain import CHECKPOINT_ACTION, AuditChain
from broker.core.clock import FakeClock
from broker.core.tokens import TokenCore
from broker.store.sql import SqlStore
from tests.unit.conftest import OPERATOR


class RacingAuditor(Auditor):
    """Another request's event lands right after the checkpoint read the head."""

    def head(self) -> ChainHead:
        read = super().head()
        self.record("identity.create", by=OPERATOR, target="meanwhile")
        return read


def test_a_checkpoint_with_events_appended_while_it_signed_still_verifies(
    store: SqlStore, clock: FakeClock, tokens: TokenCore
) -> None:
    """The checkpoint names the head it read, one event back: verified, no problem."""
    auditor = RacingAuditor(store, clock)
    chain = AuditChain(store, auditor, tokens, interval=timedelta(minutes=1))
    auditor.record("identity.create", by=OPERATOR, target="first")
    checkpoint = chain.checkpoint(clock.now())
    assert checkpoint is not None and checkpoint.details["covers_seq"] == checkpoint.seq - 2
    report = chain.verify()
    assert report.ok and report.checkpoints == 1, report.problems


def test_a_checkpoint_that_names_another_hash_is_reported(store: SqlStore, clock: FakeClock, tokens: TokenCore) -> None:
    """A checkpoint signed over a different chain (as after a rewrite) is a problem at its seq."""
    auditor = Auditor(store, clock)
    chain = AuditChain(store, auditor, tokens, interval=timedelta(minutes=1))
    auditor.record("identity.create", by=OPERATOR, target="first")
    forged = tokens.sign_statement(
        {"iss": tokens.issuer, "seq": 1, "hash": "0" * 64, "iat": 0}, typ="broker-audit-checkpoint+jws"
    )
    event = auditor.record(CHECKPOINT_ACTION, by=OPERATOR, target="seq 1", covers_seq=1, signature=forged)
    report = chain.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(event.seq, "checkpoint")]
    assert dataclasses.asdict(report.problems[0])["message"] == f"checkpoint {event.seq} signed a different event 1"

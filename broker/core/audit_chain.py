"""Signed checkpoints of the audit chain, and the walk that verifies it.

The chain (core/audit.py) shows an event that was edited (its hash no longer matches
it), removed (a gap in the sequence numbers) or inserted, replaced or moved (an event
whose ``prev_hash`` is not its predecessor's hash). What a chain alone cannot show is
a chain rewritten whole by someone who can write the store: so the leader appends, at
most once per ``BROKER_AUDIT_CHECKPOINT_INTERVAL`` and only when the chain has grown, a
checkpoint event whose details hold a JWS, signed with the broker's signing key, over the
seq and hash of the chain's head as it read it (the event just before the checkpoint, or
one a few before when others were appended while it signed). Rewriting the chain before a checkpoint then needs
the signing key. A checkpoint whose key has been retired (keys stay published for a
token lifetime after their successor takes over) still counts for its hash link, and
the report says its signature could not be checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .audit import AuditEvent, AuditLog, Auditor, chain_hash
from .errors import BrokerError
from .principals import Principal
from .tokens import TokenCore

CHECKPOINT_ACTION = "audit.checkpoint"
CHECKPOINT_TYP = "broker-audit-checkpoint+jws"
#: Events read from the store per round trip while verifying.
VERIFY_PAGE = 500
#: The event of a person's erasure (core/privacy.py): ``rewritten`` maps each seq it
#: pseudonymized to the hash of the event's new content.
PSEUDONYMIZE_ACTION = "user.pseudonymize"
#: Problems a report lists; the count goes on past it.
MAX_PROBLEMS = 100
#: How far back a checkpoint may name its event (events appended while it was signed).
RECENT = 10_000


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """One place where the stored chain is not what the broker wrote."""

    seq: int
    kind: str
    """``edited``, ``missing``, ``out_of_order`` or ``checkpoint``."""
    message: str


@dataclass(slots=True)
class ChainReport:
    """What a verification walked and what it found."""

    events: int = 0
    first_seq: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    """Checkpoints whose signature verified and whose hash matched."""
    unchecked_checkpoints: int = 0
    """Checkpoints signed by a key no longer published: their signature was not checked."""
    pseudonymized: int = 0
    """Events a person's erasure rewrote, each matching the hash its ``user.pseudonymize`` recorded."""
    last_checkpoint_time: datetime | None = None
    problem_count: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is exactly as written."""
        return self.problem_count == 0

    def add(self, seq: int, kind: str, message: str) -> None:
        """Record one problem (the first ``MAX_PROBLEMS`` are listed)."""
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(ChainProblem(seq, kind, message))


class AuditChain:
    """Writes checkpoints of the chain and verifies it, with the broker's token core as notary."""

    def __init__(self, store: AuditLog, auditor: Auditor, tokens: TokenCore, *, interval: timedelta) -> None:
        self._store = store
        self._auditor = auditor
        self._tokens = tokens
        self._interval = interval
        self._last: tuple[int, datetime] | None = None

    def checkpoint(self, now: datetime) -> AuditEvent | None:
        """Append a signed checkpoint of the head, unless one is due later or nothing was added since."""
        if self._last is not None and now < self._last[1]:
            return None  # not due: no store read either
        head = self._auditor.head()
        if head.seq == 0 or (self._last is not None and head.seq == self._last[0]):
            return None
        statement = self._tokens.sign_statement(
            {"iss": self._tokens.issuer, "seq": head.seq, "hash": head.hash, "iat": int(now.timestamp())},
            typ=CHECKPOINT_TYP,
        )
        event = self._auditor.record(
            CHECKPOINT_ACTION,
            by=Principal.broker("audit-checkpoint"),
            target=f"seq {head.seq}",
            covers_seq=head.seq,
            covers_hash=head.hash,
            signature=statement,
        )
        self._last = (event.seq, now + self._interval)
        return event

    def verify(self) -> ChainReport:
        """Walk the whole chain in seq order and report every break in it."""
        report = ChainReport()
        previous: AuditEvent | None = None
        recent: dict[int, str] = {}  # seq -> hash of the last RECENT events, for checkpoints
        mismatched: list[AuditEvent] = []
        erasures: list[AuditEvent] = []
        for event in self._events():
            recent[event.seq] = event.hash
            recent.pop(event.seq - RECENT, None)
            report.events += 1
            if previous is None:
                report.first_seq = event.seq
            report.last_seq = event.seq
            if chain_hash(event) != event.hash:
                mismatched.append(event)
            if event.action == PSEUDONYMIZE_ACTION:
                erasures.append(event)
            if previous is not None:
                _check_link(previous, event, report)
            if event.action == CHECKPOINT_ACTION:
                self._check_checkpoint(recent, event, report)
            previous = event
        _judge_mismatches(mismatched, erasures, report)
        return report

    def _events(self) -> Iterator[AuditEvent]:
        after = 0
        while True:
            page = self._store.read_audit_chain(after=after, limit=VERIFY_PAGE)
            yield from page
            if len(page) < VERIFY_PAGE:
                return
            after = page[-1].seq

    def _check_checkpoint(self, recent: dict[int, str], event: AuditEvent, report: ChainReport) -> None:
        """The signature verifies and the event it names is in the chain with the hash it signed.
        That is the one just before, or a few before when others were appended meanwhile."""
        try:
            payload = self._tokens.verify_statement(str(event.details.get("signature", "")), typ=CHECKPOINT_TYP)
        except BrokerError as exc:
            report.add(event.seq, "checkpoint", f"checkpoint {event.seq}: signature does not verify ({exc.detail})")
            return
        if payload is None:
            report.unchecked_checkpoints += 1
            return
        seq, signed = payload.get("seq"), payload.get("hash")
        if not isinstance(seq, int) or seq >= event.seq:
            report.add(event.seq, "checkpoint", f"checkpoint {event.seq} names event {seq}, not one before it")
            return
        if seq not in recent:
            if seq <= event.seq - RECENT:
                report.add(event.seq, "checkpoint", f"checkpoint {event.seq} names event {seq}, too far back")
            return  # else the event it names was purged by retention, or is missing (reported as such)
        if recent[seq] != signed:
            report.add(event.seq, "checkpoint", f"checkpoint {event.seq} signed a different event {seq}")
            return
        report.checkpoints += 1
        report.last_checkpoint_time = event.event_time


def _judge_mismatches(mismatched: list[AuditEvent], erasures: list[AuditEvent], report: ChainReport) -> None:
    """An event that no longer matches its hash was edited, unless a trusted later erasure
    recorded the hash of exactly what it holds now. Trust runs back from the end: an erasure
    is trusted when it matches its own hash or what a trusted later erasure recorded for it
    (erasing the admin who erased someone rewrites that record too)."""
    vouched: dict[int, str] = {}
    bad = {event.seq for event in mismatched}
    for erasure in sorted(erasures, key=lambda e: e.seq, reverse=True):
        if erasure.seq in bad and vouched.get(erasure.seq) != chain_hash(erasure):
            continue
        rewritten = erasure.details.get("rewritten")
        for seq, recorded in rewritten.items() if isinstance(rewritten, dict) else ():
            if str(seq).isdigit() and int(seq) < erasure.seq:
                vouched.setdefault(int(seq), str(recorded))
    for event in mismatched:
        if vouched.get(event.seq) == chain_hash(event):
            report.pseudonymized += 1
        else:
            report.add(event.seq, "edited", f"event {event.seq} ({event.id}) no longer matches its hash: edited")


def _check_link(previous: AuditEvent, event: AuditEvent, report: ChainReport) -> None:
    if event.seq <= previous.seq:
        report.add(event.seq, "out_of_order", f"event {event.seq} comes after event {previous.seq}: moved")
    elif event.seq != previous.seq + 1:
        gap = f"{previous.seq + 1}" if event.seq == previous.seq + 2 else f"{previous.seq + 1}..{event.seq - 1}"
        report.add(previous.seq + 1, "missing", f"event {gap} missing: removed")
    elif event.prev_hash != previous.hash:
        report.add(
            event.seq, "out_of_order", f"event {event.seq} does not follow event {previous.seq}: inserted or moved"
        )

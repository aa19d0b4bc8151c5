"""A person's data rights (GDPR): access (art. 15) and erasure (art. 17).

``broker admin user export NAME`` gathers the profile (without the password hash or the
TOTP seed: only whether they are set), the person's logins (refresh families, live or
ended), and every audit event naming them as actor, subject or target, oldest first.

``broker admin user delete NAME`` erases the person, their second factor and their
logins (people.py), then replaces their name in the audit events naming them with one
pseudonym (``user:~<random>``, the same in every event, so what one person did still
reads as one person's). Rewriting an event changes its content, not its stored hash, so
the erasure is itself an event, ``user.pseudonymize``, recording for each rewritten seq
the hash of its new content: verification (audit_chain.py) accepts an event that no
longer matches its hash only when a trusted later erasure vouches for exactly what it
holds now. The chain stays verifiable, and any other edit still shows.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

from .audit import AuditEvent, AuditFilter, AuditLog, Auditor, chain_hash
from .audit_chain import PSEUDONYMIZE_ACTION
from .people import SUBJECT_PREFIX, PeopleRegistry, Person, normalise_username
from .principals import ADMIN_SCOPE, Principal
from .sessions import RefreshFamily, SessionStore

#: The most audit events one export carries (the newest are kept; ``truncated`` says so).
MAX_EXPORTED_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class PersonExport:
    """Everything the broker holds about one person."""

    person: Person
    sessions: tuple[RefreshFamily, ...]
    events: tuple[AuditEvent, ...]
    truncated: bool


class PersonalData:
    """Exports (broker.admin) and erases a person's data; both are audited."""

    def __init__(self, people: PeopleRegistry, sessions: SessionStore, log: AuditLog, auditor: Auditor) -> None:
        self._people = people
        self._sessions = sessions
        self._log = log
        self._auditor = auditor

    def export(self, username: str, *, by: Principal) -> PersonExport:
        """The person's profile, logins and audit events."""
        by.require(ADMIN_SCOPE)
        person = self._people.get(username)
        events, truncated = self._events_naming(person.username)
        families = self._sessions.list_families_of(person.username)
        self._auditor.record("user.export", by=by, target=person.username, events=len(events), truncated=truncated)
        return PersonExport(person, tuple(families), tuple(events), truncated)

    def erase(self, username: str, *, by: Principal, etag: str = "") -> int:
        """Delete the person and their logins, then pseudonymize the audit events naming them;
        how many events were rewritten."""
        name = normalise_username(username)
        self._people.delete(name, by=by, etag=etag)
        pseudonym = f"~{secrets.token_hex(8)}"
        names = {f"{SUBJECT_PREFIX}{name}": f"{SUBJECT_PREFIX}{pseudonym}", name: pseudonym}
        rewritten: dict[str, str] = {}
        events, _ = self._events_naming(name)
        for event in events:
            renamed = _renamed(event, names)
            self._log.replace_audit_event(renamed)
            rewritten[str(event.seq)] = chain_hash(renamed)
        self._auditor.record(PSEUDONYMIZE_ACTION, by=by, target=pseudonym, events=len(rewritten), rewritten=rewritten)
        return len(rewritten)

    def _events_naming(self, username: str) -> tuple[list[AuditEvent], bool]:
        """The events naming the person as actor, subject or target, oldest first (the newest
        ``MAX_EXPORTED_EVENTS``), and whether there were more."""
        subject = f"{SUBJECT_PREFIX}{username}"
        found: dict[str, AuditEvent] = {}
        truncated = False
        for flt in (AuditFilter(actor=subject), AuditFilter(subject=subject), AuditFilter(target=username)):
            token = ""
            while len(found) < MAX_EXPORTED_EVENTS:
                items, token = self._auditor.list(page_size=1000, page_token=token, flt=flt)
                found.update((event.id, event) for event in items)
                if not token:
                    break
            truncated = truncated or bool(token)
        return sorted(found.values(), key=lambda event: event.seq)[-MAX_EXPORTED_EVENTS:], truncated


def _renamed(event: AuditEvent, names: dict[str, str]) -> AuditEvent:
    """``event`` with every name in ``names`` replaced: actor, subject, target and the details'
    values (strings, and strings in lists)."""

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return names.get(value, value)
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    return dataclasses.replace(
        event,
        actor=swap(event.actor),
        subject=swap(event.subject),
        target=swap(event.target),
        details={key: swap(value) for key, value in event.details.items()},
    )

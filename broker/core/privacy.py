"""What the broker holds about a person, for their data-access request (GDPR art. 15).

``broker admin user export NAME`` gathers the profile (without the password hash or the
TOTP seed: only whether they are set), the person's logins (refresh families, live or
ended), and every audit event naming them as actor, subject or target, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass

from .audit import AuditEvent, AuditFilter, Auditor
from .people import PeopleRegistry, Person
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


class PersonExporter:
    """Builds a PersonExport (broker.admin); the export itself is audited."""

    def __init__(self, people: PeopleRegistry, sessions: SessionStore, auditor: Auditor) -> None:
        self._people = people
        self._sessions = sessions
        self._auditor = auditor

    def export(self, username: str, *, by: Principal) -> PersonExport:
        """The person's profile, logins and audit events."""
        by.require(ADMIN_SCOPE)
        person = self._people.get(username)
        found: dict[str, AuditEvent] = {}
        truncated = False
        for flt in (
            AuditFilter(actor=person.subject),
            AuditFilter(subject=person.subject),
            AuditFilter(target=person.username),
        ):
            token = ""
            while len(found) < MAX_EXPORTED_EVENTS:
                items, token = self._auditor.list(page_size=1000, page_token=token, flt=flt)
                found.update((event.id, event) for event in items)
                if not token:
                    break
            truncated = truncated or bool(token)
        events = sorted(found.values(), key=lambda event: event.seq)[-MAX_EXPORTED_EVENTS:]
        families = self._sessions.list_families_of(person.username)
        self._auditor.record("user.export", by=by, target=person.username, events=len(events), truncated=truncated)
        return PersonExport(person, tuple(families), tuple(events), truncated)

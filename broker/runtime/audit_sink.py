"""BROKER_AUDIT_LOG: every audit event once stored, as one JSON line, for log shippers."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

from ..core.audit import AuditEvent


class JsonLinesSink:
    """Appends events as JSON lines to a file (opened 0600, append-only) or, for "-", stdout."""

    def __init__(self, where: str) -> None:
        self._lock = threading.Lock()
        self._out: TextIO
        if where == "-":
            self._out = sys.stdout
            self._owned = False
        else:
            path = Path(where)
            path.touch(mode=0o600, exist_ok=True)
            self._out = path.open("a", encoding="utf-8")
            self._owned = True

    def __call__(self, event: AuditEvent) -> None:
        line = json.dumps(
            {
                "seq": event.seq,
                "id": event.id,
                "time": event.event_time.isoformat(timespec="microseconds"),
                "action": event.action,
                "actor": event.actor,
                "subject": event.subject,
                "target": event.target,
                "outcome": event.outcome,
                "request_id": event.request_id,
                "client_address": event.client_address,
                "replica": event.replica,
                "details": event.details,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        """Close the file (not stdout)."""
        if self._owned:
            self._out.close()

"""BROKER_AUDIT_LOG: every audit event once stored, as one JSON line, for log shippers.

A line holds what the event's hash covers (core/audit.py ``chain_content``) and the hash,
so a shipped copy can be checked against the chain without the store."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

from ..core.audit import AuditEvent, chain_content


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
        # What the hash covers, and the hash: a shipped line can be checked on its own.
        line = json.dumps({**chain_content(event), "hash": event.hash}, sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def close(self) -> None:
        """Close the file (not stdout)."""
        if self._owned:
            self._out.close()

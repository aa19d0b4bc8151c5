"""The Store: the union of the ports core declares, for the backends and the contract suite.

Each core module owns the narrow Protocol it needs next to its model (IdentityStore in
core/identities.py, SecretStore in core/secrets.py, ...); the broker's services depend on
those alone. Every backend (SQLite and Postgres in store/sql/, Vault/OpenBao in
store/vault/) implements all of them and passes the one contract suite in tests/store/.
Rules every backend keeps:

- methods are synchronous and thread-safe; the api layer calls them off the event loop;
- domain objects go in and come out (frozen dataclasses), never rows;
- a missing resource raises ``NotFound``, a duplicate ``AlreadyExists``, a lost
  compare-and-set ``Conflict``; an unreachable backend ``Unavailable``; nothing is ever
  half-written;
- etags are opaque strings the store assigns on every write;
- secret material (signing keys, secret values) is sealed before it is written.
"""

from __future__ import annotations

from typing import Protocol

from ..core.audit import AuditLog
from ..core.identities import IdentityStore
from ..core.issuers import IssuerRegistryStore
from ..core.keys import SigningKeyStore
from ..core.people import PersonStore
from ..core.secrets import SecretStore
from ..core.sessions import SessionStore
from ..core.throttle import LoginFailureStore
from ..core.tokens import RevocationStore
from ..scheduler import SchedulerStore


class Store(
    IdentityStore,
    IssuerRegistryStore,
    SigningKeyStore,
    SchedulerStore,
    RevocationStore,
    SecretStore,
    AuditLog,
    PersonStore,
    SessionStore,
    LoginFailureStore,
    Protocol,
):
    """Everything the broker persists."""

    def ping(self) -> None:
        """Raise Unavailable if the backend cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

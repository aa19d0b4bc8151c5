"""The Store on Vault or OpenBao: hvac, KV version 2, every write check-and-set.

``vault://HOST:PORT/MOUNT/PREFIX`` (``vaults://`` for TLS) names a KV v2 mount and a
prefix inside it. Documents live at (an id is its own name when it is letters, digits,
'_' and '-', else '~' + its base64url; hashes are hex)::

    PREFIX/schema                       {"version": 2}, written by migrate()
    PREFIX/identities/<id>              one identity
    PREFIX/bindings/<sha256(iss, sub)>  ids of identities bound to (issuer, subject): candidates
    PREFIX/signing-keys/<kid>           one signing key, the private key sealed
    PREFIX/replay/<sha256(key)>         a single-use record {expires_at}
    PREFIX/revocations/<sha256(jti)>    a revocation {expires_at}
    PREFIX/issuers/<url>                one trusted issuer
    PREFIX/secrets/<id>                 a secret's metadata, EVERY version (values sealed)
                                        and its unpublished events: a rotation is one write
    PREFIX/events/slots/<seq>           secret event number ``seq``
    PREFIX/events/of/<id>/<n>           the same event as its secret's event number ``n``
    PREFIX/events/marks/<event id>      which slot holds an event (the first claim wins)
    PREFIX/events/head                  a hint: a seq known to be taken
    PREFIX/leases/<name>                {holder, expires_at, token}
    PREFIX/audit-chain/<seq/1000>/<seq> audit event number ``seq`` (created once: the chain's CAS)
    PREFIX/audit/<id[:6]>/<id>          {seq} of an audit event, bucketed by time (~70 minutes)
    PREFIX/audit-head                   a hint: the chain's head when last seen (audit.py)
    PREFIX/people/<username>            one person; their logins and failed-login counts
                                        beside it (people.py has that layout)

Concurrency rests on KV v2 check-and-set alone: every data write names the version it
replaces (``cas=0``: create only), so of two racing writers exactly one wins and the
other re-reads. An etag is the document's KV version (secrets: a revision inside the
document, so that bookkeeping writes leave callers' etags valid). A deletion writes a
tombstone with check-and-set, so a writer holding an old version cannot resurrect what
was deleted; only records nobody compares against (signing keys, expired replay and
revocation records) are removed with their metadata.

Secret events: Vault has no multi-key transaction, so the secret document is the commit
point. A writer records its events in the document's outbox in the same write, then
publishes them into gapless slots; a crash in between delays an event, never loses it,
and a reader polling ``seq > n`` never misses one (events.py says how).

The binding index has no transaction to lean on either, so it only ever holds
candidates that the verifier re-checks against the identity (bindings.py).

Every hvac and transport failure is translated in one place (``transport.translate``):
sealed or unreachable is ``Unavailable``, permission denied is ``FailedPrecondition``;
messages name paths, never tokens or values. Private keys and secret values are sealed
(store/sealing.py) before they are written, so Vault holds only their ciphertext.

The modules:

- ``store.py``: ``VaultStore``, the Store methods;
- ``documents.py``: the check-and-set document layer (read, write, insert, replace,
  scan, names, purge; tombstones; path names);
- ``events.py``: the secret outbox and the gapless event log;
- ``versions.py``: a secret document's versions and the changes that rewrite them;
- ``bindings.py``: the (issuer, subject) -> identity ids index;
- ``audit.py``: the audit hash chain;
- ``people.py``: people, their logins (refresh families) and failed-login counts;
- ``transport.py``: where Vault is, how the broker logs in, the pooled hvac clients,
  the error translation.
"""

from __future__ import annotations

from .store import SCHEMA_VERSION, VaultStore
from .transport import DEFAULT_K8S_TOKEN_FILE, VAULT_SCHEMES, VaultAuth, VaultAuthMethod, VaultLocation

__all__ = [
    "DEFAULT_K8S_TOKEN_FILE",
    "SCHEMA_VERSION",
    "VAULT_SCHEMES",
    "VaultAuth",
    "VaultAuthMethod",
    "VaultLocation",
    "VaultStore",
]

"""The Vault store's binding index: which identities may be bound to an (issuer, subject).

``PREFIX/bindings/<sha256(issuer, subject)>`` lists the ids of the identities with a
binding to that pair, so an exchange finds its candidates in one read. The index has no
transaction to lean on, so it only ever holds candidates that the verifier re-checks
against the identity: a writer adds an identity's pairs before writing the identity and
checks them again after; a removal re-reads the identity and puts back a pair it still
has. An entry may be stale for a while; a binding the identity has is never missing.
"""

from __future__ import annotations

from collections.abc import Callable

from ...core.identities import Identity
from .documents import MAX_ATTEMPTS, Doc, Documents, contention, digest
from .transport import CasMismatch

__all__ = ["BindingIndex", "doc_pairs", "pairs"]

Pair = tuple[str, str]


class BindingIndex:
    """The index documents; ``identity_path`` says where an identity's document is."""

    def __init__(self, docs: Documents, identity_path: Callable[[str], str]) -> None:
        self._docs = docs
        self._identity_path = identity_path

    def ids(self, issuer: str, subject: str) -> list[str]:
        """Ids of identities that may be bound to ``subject`` of ``issuer`` (one read; re-check each)."""
        doc = self._docs.read(self._docs.path("bindings", _digest((issuer, subject))))
        return sorted(doc.data.get("ids", [])) if doc is not None and doc.live else []

    def add(self, identity_id: str, pairs: set[Pair]) -> None:
        """Make sure each pair's index document lists the identity."""
        for pair in pairs:
            self._change(pair, lambda ids: ids | {identity_id})

    def remove(self, identity_id: str, pairs: set[Pair]) -> None:
        """Take the identity off each pair's index, then put back the pairs it (again) has."""
        if not pairs:
            return
        for pair in pairs:
            self._change(pair, lambda ids: ids - {identity_id})
        doc = self._docs.read(self._identity_path(identity_id))
        if doc is not None and doc.live:
            self.add(identity_id, doc_pairs(doc) & pairs)

    def _change(self, pair: Pair, change: Callable[[set[str]], set[str]]) -> None:
        path = self._docs.path("bindings", _digest(pair))
        for _ in range(MAX_ATTEMPTS):
            doc = self._docs.read(path)
            ids = set(doc.data.get("ids", [])) if doc is not None and doc.live else set()
            changed = change(ids)
            if changed == ids:
                return
            try:
                data = {"issuer": pair[0], "subject": pair[1], "ids": sorted(changed)}
                self._docs.write(path, data, cas=doc.version if doc else 0)
                return
            except CasMismatch:
                continue
        raise contention(self._docs.shown(path))


def pairs(identity: Identity) -> set[Pair]:
    """The (issuer, subject) pairs of an identity's bindings."""
    return {(b.issuer, b.subject) for b in identity.bindings}


def doc_pairs(doc: Doc) -> set[Pair]:
    """The (issuer, subject) pairs of a stored identity document's bindings."""
    return {(b["issuer"], b["subject"]) for b in doc.data.get("bindings", [])}


def _digest(pair: Pair) -> str:
    return digest(f"{pair[0]}\x00{pair[1]}")

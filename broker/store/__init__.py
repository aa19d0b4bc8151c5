"""Persistence: one Store protocol (base.py), SQL (SQLite, Postgres) and Vault backends.

``open_store`` picks the backend from ``BROKER_STORE_URL``: ``vault://`` or ``vaults://``
(TLS) is Vault/OpenBao (vault/), anything else a SQLAlchemy URL (sql/).
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from ..config import Settings
from ..core.sensitive import Sensitive
from .base import Store
from .sealing import Sealer
from .sql import SqlStore
from .vault import VAULT_SCHEMES, VaultAuth, VaultAuthMethod, VaultStore

__all__ = ["ManagedStore", "open_store", "vault_auth"]


class ManagedStore(Store, Protocol):
    """A Store the daemon also migrates on start."""

    def migrate(self) -> None:
        """Bring the backend's schema to what this broker knows; refuse a newer one."""
        ...


def open_store(settings: Settings, sealer: Sealer) -> ManagedStore:
    """The store ``settings.store_url`` names (not migrated yet)."""
    if urlsplit(settings.store_url).scheme.lower() in VAULT_SCHEMES:
        return VaultStore(settings.store_url, sealer, vault_auth(settings), ca_file=settings.vault_cacert)
    return SqlStore(settings.store_url, sealer)


def vault_auth(settings: Settings) -> VaultAuth:
    """The Vault credentials the BROKER_VAULT_* settings describe."""
    return VaultAuth(
        method=VaultAuthMethod(settings.vault_auth),
        token=Sensitive(settings.vault_token.encode()) if settings.vault_token else None,
        role_id=settings.vault_role_id,
        secret_id=Sensitive(settings.vault_secret_id.encode()) if settings.vault_secret_id else None,
        k8s_role=settings.vault_k8s_role,
        k8s_token_file=settings.vault_k8s_token_file,
        mount=settings.vault_auth_mount,
    )

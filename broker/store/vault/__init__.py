"""The Store on Vault or OpenBao (hvac, KV version 2, every write check-and-set); see store.py."""

from __future__ import annotations

from .store import (
    DEFAULT_K8S_TOKEN_FILE,
    SCHEMA_VERSION,
    VAULT_SCHEMES,
    VaultAuth,
    VaultAuthMethod,
    VaultLocation,
    VaultStore,
)

__all__ = [
    "DEFAULT_K8S_TOKEN_FILE",
    "SCHEMA_VERSION",
    "VAULT_SCHEMES",
    "VaultAuth",
    "VaultAuthMethod",
    "VaultLocation",
    "VaultStore",
]

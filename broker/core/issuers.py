"""Trusted external issuers (Kubernetes, CI OIDC, agent runtimes) and their key sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """An issuer whose JWTs the broker accepts as attestations, matched through bindings.

    Exactly one key source is set: inline ``jwks_json``, a ``jwks_file`` path, or a
    ``jwks_url`` fetched with a timeout and cached.
    """

    issuer: str
    jwks_json: str = ""
    jwks_file: str = ""
    jwks_url: str = ""
    algorithms: tuple[str, ...] = ("ES256", "RS256")
    audience: str = ""
    single_use: bool = False
    max_token_age: timedelta | None = None
    create_time: datetime | None = None
    etag: str = ""

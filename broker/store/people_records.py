"""Record codecs of people, their logins and failed-login counts, shared by the SQL and
Vault stores like the codecs of records.py (a backend keeps the key and the etag its own way)."""

from __future__ import annotations

from typing import Any

from ..core.mfa import MfaState
from ..core.people import Person
from ..core.sensitive import Sensitive
from ..core.sessions import RefreshFamily
from ..core.throttle import LoginFailures
from .records import Record, TimeFormat

__all__ = [
    "failures_fields",
    "failures_from_record",
    "family_fields",
    "family_from_record",
    "person_fields",
    "person_from_record",
]


def person_fields(person: Person, times: TimeFormat) -> dict[str, Any]:
    """Every field of a person record but the user name, the etag and the TOTP seed (which the
    backend seals with ``totp_context`` and keeps as ``sealed_totp_seed``)."""
    return {
        "tenant": person.tenant,
        "display_name": person.display_name,
        "disabled": person.disabled,
        "allowed_scopes": list(person.allowed_scopes),
        "allowed_audiences": list(person.allowed_audiences),
        "password_hash": person.password_hash,
        "create_time": times.dump(person.create_time),
        "update_time": times.dump(person.update_time),
        "tokens_valid_from": times.dump(person.tokens_valid_from),
        "mfa_required": person.mfa_required,
        "mfa_confirmed": person.mfa.confirmed,
        "mfa_last_step": person.mfa.last_step,
        "recovery_hashes": list(person.mfa.recovery_hashes),
        "setup_code_hash": person.setup_code_hash,
        "setup_code_expire_time": times.dump(person.setup_code_expire_time),
    }


def person_from_record(d: Record, times: TimeFormat, *, etag: str, seed: Sensitive | None) -> Person:
    """The person of a record; ``seed``: its TOTP seed, already unsealed."""
    return Person(
        username=d["username"],
        tenant=d["tenant"],
        display_name=d["display_name"],
        disabled=d["disabled"],
        allowed_scopes=tuple(d["allowed_scopes"]),
        allowed_audiences=tuple(d["allowed_audiences"]),
        password_hash=d["password_hash"],
        create_time=times.load(d["create_time"]),
        update_time=times.load(d["update_time"]),
        tokens_valid_from=times.load(d["tokens_valid_from"]),
        etag=etag,
        mfa_required=d["mfa_required"],
        mfa=MfaState(
            seed=seed,
            confirmed=d["mfa_confirmed"],
            last_step=d["mfa_last_step"],
            recovery_hashes=tuple(d["recovery_hashes"]),
        ),
        setup_code_hash=d["setup_code_hash"],
        setup_code_expire_time=times.load(d["setup_code_expire_time"]),
    )


def family_fields(family: RefreshFamily, times: TimeFormat) -> dict[str, Any]:
    """Every field of a refresh family record but its id."""
    return {
        "username": family.username,
        "tenant": family.tenant,
        "scopes": list(family.scopes),
        "audiences": list(family.audiences),
        "amr": list(family.amr),
        "create_time": times.dump(family.create_time),
        "last_used_time": times.dump(family.last_used_time),
        "expire_time": times.dump(family.expire_time),
        "end_time": times.dump(family.end_time),
        "end_reason": family.end_reason,
    }


def family_from_record(d: Record, times: TimeFormat) -> RefreshFamily:
    return RefreshFamily(
        id=d["id"],
        username=d["username"],
        tenant=d["tenant"],
        scopes=tuple(d["scopes"]),
        audiences=tuple(d["audiences"]),
        amr=tuple(d["amr"]),
        create_time=times.load(d["create_time"]),
        last_used_time=times.load(d["last_used_time"]),
        expire_time=times.load(d["expire_time"]),
        end_time=times.load(d["end_time"]),
        end_reason=d["end_reason"],
    )


def failures_fields(failures: LoginFailures, times: TimeFormat) -> dict[str, Any]:
    """Every field of a failed-login count but its key."""
    return {
        "count": failures.count,
        "first_time": times.dump(failures.first_time),
        "last_time": times.dump(failures.last_time),
        "locked": failures.locked,
    }


def failures_from_record(d: Record, times: TimeFormat, *, etag: str) -> LoginFailures:
    return LoginFailures(
        key=d["key"],
        count=d["count"],
        first_time=times.load(d["first_time"]),
        last_time=times.load(d["last_time"]),
        locked=d["locked"],
        etag=etag,
    )

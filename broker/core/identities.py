"""Service accounts and AI agents: the model, its validation, and the registry service.

A token the broker minted for an identity (as its subject, or as an agent in its ``act``
chain) lives only while the identity still allows what the token carries. Every change
that narrows an identity moves its ``tokens_valid_from`` to the instant of the change:
creation (so a re-created id never inherits tokens of the old one), disabling, removing a
scope, a delegable scope, an audience or a key, moving it to another tenant, lowering its
maximum token lifetime. Tokens issued before that instant are dead for good, whatever
is changed back later; ``LiveTokens`` (core/liveness.py) holds that on every path.

The registry's writes take the caller (``Principal``), need broker.admin and are audited.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from broker_client.keys import thumbprint

from . import jwk as jwks
from . import pages
from .audit import Auditor
from .cache import ReadCache
from .clock import Clock
from .errors import FailedPrecondition, InvalidArgument, NotFound
from .masks import check_mask
from .principals import ADMIN_SCOPE, Principal

ID_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: Scopes: printable ASCII without space, quote or backslash (RFC 6749 scope-token).
SCOPE_PATTERN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,200}$")
AUDIENCE_MAX = 512
TENANT_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,62})?$")
MAX_LIST = 100
MAX_KEYS = 20
MAX_BINDINGS = 50
#: The ``issuer`` of a binding to client certificates (mTLS) rather than to an issuer's JWTs:
#: its ``subject`` is the certificate's SPIFFE ID or subject DN (core/certificates.py).
X509_BINDING = "x509"


class IdentityKind(StrEnum):
    """What an identity stands for; the value is the token's ``kind`` claim."""

    SERVICE_ACCOUNT = "service_account"
    AI_AGENT = "ai_agent"


#: The token kinds of identities (a person's tokens will have kinds of their own).
MACHINE_KINDS = frozenset(k.value for k in IdentityKind)


@dataclass(frozen=True, slots=True)
class Binding:
    """Ties an identity to tokens of a trusted external issuer, or (issuer ``x509``) to
    client certificates whose SPIFFE ID or subject DN is ``subject``."""

    issuer: str
    subject: str
    required_claims: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IdentityKey:
    """A public key that may sign the identity's self-signed assertions."""

    kid: str
    jwk: Mapping[str, str]
    create_time: datetime
    expire_time: datetime | None = None

    @property
    def alg(self) -> str:
        """The one algorithm this key verifies."""
        return jwks.cached_key(self.jwk)[1]

    def is_active(self, now: datetime) -> bool:
        """True while the key has not expired."""
        return self.expire_time is None or now < self.expire_time


@dataclass(frozen=True, slots=True)
class Identity:
    """A service account or an AI agent and what it may ask for."""

    id: str
    kind: IdentityKind
    tenant: str = ""
    display_name: str = ""
    allowed_scopes: tuple[str, ...] = ()
    allowed_audiences: tuple[str, ...] = ()
    max_token_ttl: timedelta | None = None
    bindings: tuple[Binding, ...] = ()
    public_keys: tuple[IdentityKey, ...] = ()
    delegable_scopes: tuple[str, ...] = ()
    disabled: bool = False
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""
    #: Tokens issued before this instant are dead (None: since creation; see the module docstring).
    tokens_valid_from: datetime | None = None

    def key(self, kid: str) -> IdentityKey | None:
        """The registered key with this kid, if any."""
        return next((k for k in self.public_keys if k.kid == kid), None)

    def valid_from(self) -> datetime | None:
        """The instant from which this identity's tokens count (its last narrowing, else its creation)."""
        return self.tokens_valid_from or self.create_time


def covers(held: Iterable[str], scope: str) -> bool:
    """True if ``scope`` is held, or narrows a wildcard that is (``x:*`` covers ``x:anything``)."""
    for h in held:
        if h == scope:
            return True
        if h.endswith(":*") and scope.startswith(h[:-1]) and len(scope) > len(h) - 1 and "*" not in scope:
            return True
    return False


def narrows(before: Identity, after: Identity) -> bool:
    """True if ``after`` allows less than ``before`` in any way a token could carry."""
    if after.disabled and not before.disabled:
        return True
    if after.tenant != before.tenant:
        return True
    for field_name in ("allowed_scopes", "delegable_scopes", "allowed_audiences"):
        if set(getattr(before, field_name)) - set(getattr(after, field_name)):
            return True
    old_ttl, new_ttl = before.max_token_ttl, after.max_token_ttl
    return new_ttl is not None and (old_ttl is None or new_ttl < old_ttl)


#: Fields UpdateIdentity may change (update_mask paths).
MUTABLE_FIELDS = frozenset(
    {
        "display_name",
        "tenant",
        "allowed_scopes",
        "allowed_audiences",
        "max_token_ttl",
        "bindings",
        "delegable_scopes",
        "disabled",
    }
)


@dataclass(frozen=True, slots=True)
class IdentityFilter:
    """A parsed ListIdentities filter: a conjunction of equality terms."""

    kind: IdentityKind | None = None
    tenant: str | None = None
    disabled: bool | None = None

    @classmethod
    def parse(cls, text: str) -> IdentityFilter:
        """Parse ``kind=ai_agent tenant=acme disabled=false`` (terms joined by space or AND)."""
        values: dict[str, Any] = {}
        terms = [t for t in re.split(r"\s+(?:AND\s+)?", text.strip()) if t]
        for term in terms:
            name, sep, value = term.partition("=")
            if not sep or not value:
                raise InvalidArgument(f"filter: term {term!r} is not NAME=VALUE")
            if name == "kind":
                try:
                    values["kind"] = IdentityKind(value.lower().replace("-", "_"))
                except ValueError:
                    raise InvalidArgument("filter: kind must be service_account or ai_agent") from None
            elif name == "tenant":
                values["tenant"] = value
            elif name == "disabled":
                if value not in ("true", "false"):
                    raise InvalidArgument("filter: disabled must be true or false")
                values["disabled"] = value == "true"
            else:
                raise InvalidArgument(f"filter: unknown field {name!r} (kind, tenant, disabled)")
        return cls(**values)


def validate_id(value: str, field_name: str = "id") -> str:
    """Identity ids are DNS labels (RFC 1123): lowercase, digits, '-', at most 63."""
    if not ID_PATTERN.match(value):
        raise InvalidArgument(
            f"{field_name}: {value[:80]!r} is not a DNS label (lowercase letters, digits and '-', "
            "1-63 characters, starting and ending with a letter or digit)"
        )
    return value


def validate_scopes(scopes: Iterable[str], field_name: str) -> tuple[str, ...]:
    """Each scope is an RFC 6749 scope-token; duplicates are dropped, order kept."""
    out: list[str] = []
    for scope in scopes:
        if not SCOPE_PATTERN.match(scope):
            raise InvalidArgument(
                f"{field_name}: {scope[:80]!r} is not a valid scope (1-200 printable ASCII characters, "
                "no spaces, quotes or backslashes)"
            )
        if scope not in out:
            out.append(scope)
    if len(out) > MAX_LIST:
        raise InvalidArgument(f"{field_name}: at most {MAX_LIST} entries")
    return tuple(out)


def validate_audiences(audiences: Iterable[str], field_name: str) -> tuple[str, ...]:
    """Audiences are non-empty URIs or names without whitespace, at most 512 characters."""
    out: list[str] = []
    for aud in audiences:
        if not aud or len(aud) > AUDIENCE_MAX or any(c.isspace() or ord(c) < 0x21 for c in aud):
            raise InvalidArgument(f"{field_name}: {aud[:80]!r} is not a valid audience")
        if aud not in out:
            out.append(aud)
    if len(out) > MAX_LIST:
        raise InvalidArgument(f"{field_name}: at most {MAX_LIST} entries")
    return tuple(out)


def validate_bindings(bindings: Sequence[Binding]) -> tuple[Binding, ...]:
    """Each binding names an issuer URL (or ``x509``) and an exact subject."""
    if len(bindings) > MAX_BINDINGS:
        raise InvalidArgument(f"bindings: at most {MAX_BINDINGS} entries")
    for i, b in enumerate(bindings):
        x509 = b.issuer == X509_BINDING
        if not x509 and (not b.issuer.startswith(("https://", "http://")) or len(b.issuer) > 512):
            raise InvalidArgument(f"bindings[{i}].issuer: must be an http(s) URL, or {X509_BINDING} for certificates")
        if not b.subject or len(b.subject) > 512:
            raise InvalidArgument(f"bindings[{i}].subject: must be 1-512 characters")
        if x509 and b.required_claims:
            raise InvalidArgument(f"bindings[{i}].required_claims: a certificate binding has no claims to require")
        for path, value in b.required_claims.items():
            if not path or len(path) > 200 or not isinstance(value, str):
                raise InvalidArgument(f"bindings[{i}].required_claims: bad entry {path[:80]!r}")
    return tuple(bindings)


class IdentityStore(Protocol):
    """What the registry needs of the store (every backend implements it; tests/store checks them all)."""

    def create_identity(self, identity: Identity) -> Identity:
        """Insert; AlreadyExists if the id is taken. Returns it with its etag."""
        ...

    def get_identity(self, identity_id: str) -> Identity:
        """The identity, or NotFound."""
        ...

    def list_identities(self, *, after: str, limit: int, flt: IdentityFilter) -> list[Identity]:
        """Up to ``limit`` identities with id > ``after``, ordered by id."""
        ...

    def update_identity(self, identity: Identity, *, expected_etag: str) -> Identity:
        """Replace if the stored etag equals ``expected_etag`` (else Conflict)."""
        ...

    def delete_identity(self, identity_id: str, *, expected_etag: str | None) -> None:
        """Delete (NotFound if absent, Conflict on a stale etag)."""
        ...

    def bound_identity_ids(self, issuer: str, subject: str) -> list[str]:
        """Ids of identities with a binding to ``subject`` of ``issuer``, from an index (no scan).

        May include identities that no longer have such a binding; callers re-check.
        """
        ...


class IdentityRegistry:
    """Create, read, update and delete identities, with validation and etags.

    ``lookup`` serves the exchange hot path from memory: an identity read from the store
    is reused for ``cache_ttl``; writes through this registry drop it at once, writes
    through another replica are seen within ``cache_ttl``; unknown ids always go to the
    store, so a new identity is usable everywhere at once.
    """

    def __init__(
        self,
        store: IdentityStore,
        clock: Clock,
        auditor: Auditor,
        *,
        max_token_ttl: timedelta,
        cache_ttl: timedelta = timedelta(seconds=2),
        on_write: Callable[[str], None] | None = None,
        issuer_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._auditor = auditor
        self._max_token_ttl = max_token_ttl
        self._cache: ReadCache[Identity] = ReadCache(clock, cache_ttl)
        self._on_write = on_write
        self._issuer_exists = issuer_exists

    def lookup(self, identity_id: str) -> Identity:
        """The identity, possibly up to ``cache_ttl`` old (NotFound if unknown)."""
        return self._cache.get(identity_id, self._store.get_identity)

    def _forget(self, identity_id: str) -> None:
        self._cache.forget(identity_id)
        if self._on_write is not None:
            self._on_write(identity_id)

    def _validate(self, identity: Identity) -> Identity:
        validate_id(identity.id)
        if identity.tenant and not TENANT_PATTERN.match(identity.tenant):
            raise InvalidArgument("tenant: lowercase letters, digits, '.', '_' and '-', at most 63")
        if len(identity.display_name) > 200:
            raise InvalidArgument("display_name: at most 200 characters")
        ttl = identity.max_token_ttl
        if ttl is not None and not (timedelta(seconds=1) <= ttl <= self._max_token_ttl):
            raise InvalidArgument(
                f"max_token_ttl: must be between 1s and the broker maximum {int(self._max_token_ttl.total_seconds())}s"
            )
        delegable = validate_scopes(identity.delegable_scopes, "delegable_scopes")
        if delegable and identity.kind is not IdentityKind.AI_AGENT:
            raise InvalidArgument("delegable_scopes: only AI agents may act on behalf of others")
        return dataclasses.replace(
            identity,
            allowed_scopes=validate_scopes(identity.allowed_scopes, "allowed_scopes"),
            allowed_audiences=validate_audiences(identity.allowed_audiences, "allowed_audiences"),
            bindings=validate_bindings(identity.bindings),
            delegable_scopes=delegable,
        )

    def _check_issuers(self, identity: Identity) -> None:
        """Every issuer binding names a trusted issuer (a binding to an unknown one could never match)."""
        if self._issuer_exists is None:
            return
        for i, binding in enumerate(identity.bindings):
            if binding.issuer != X509_BINDING and not self._issuer_exists(binding.issuer):
                raise FailedPrecondition(
                    f"bindings[{i}].issuer: {binding.issuer[:200]!r} is not a trusted issuer; "
                    "create it first (broker admin issuer create)"
                )

    def create(self, identity: Identity, *, by: Principal) -> Identity:
        """Store a new identity; its keys must already be normalised (see ``make_key``)."""
        by.require(ADMIN_SCOPE)
        now = self._clock.now()
        if len(identity.public_keys) > MAX_KEYS:
            raise InvalidArgument(f"public_keys: at most {MAX_KEYS}")
        if len({k.kid for k in identity.public_keys}) != len(identity.public_keys):
            raise InvalidArgument("public_keys: duplicate kid")
        valid = self._validate(identity)
        self._check_issuers(valid)
        created = self._store.create_identity(
            dataclasses.replace(valid, create_time=now, update_time=now, tokens_valid_from=now)
        )
        self._forget(created.id)
        self._auditor.record("identity.create", by=by, target=created.id)
        return created

    def get(self, identity_id: str) -> Identity:
        """The identity, or NotFound."""
        validate_id(identity_id)
        return self._store.get_identity(identity_id)

    def list(self, *, page_size: int, page_token: str, filter_text: str) -> tuple[list[Identity], str]:
        """One page ordered by id, and the token of the next page ('' at the end)."""
        size = pages.page_size(page_size)
        if page_token and not ID_PATTERN.match(page_token):
            raise InvalidArgument("page_token: not a token this server issued")
        flt = IdentityFilter.parse(filter_text)
        items = self._store.list_identities(after=page_token, limit=size + 1, flt=flt)
        return pages.page(items, size, lambda identity: identity.id)

    def update(self, identity_id: str, changes: Mapping[str, Any], *, by: Principal, etag: str = "") -> Identity:
        """Apply ``changes`` (field -> new value); a non-empty etag must match the stored one."""
        by.require(ADMIN_SCOPE)
        check_mask(changes, MUTABLE_FIELDS)
        current = self.get(identity_id)
        now = self._clock.now()
        updated = self._validate(dataclasses.replace(current, **changes, update_time=now))
        if "bindings" in changes:
            self._check_issuers(updated)
        if narrows(current, updated):
            updated = dataclasses.replace(updated, tokens_valid_from=now)
        self._forget(identity_id)
        stored = self._store.update_identity(updated, expected_etag=etag or current.etag)
        self._auditor.record("identity.update", by=by, target=stored.id)
        return stored

    def delete(self, identity_id: str, *, by: Principal, etag: str = "") -> None:
        """Remove the identity; a non-empty etag must match."""
        by.require(ADMIN_SCOPE)
        validate_id(identity_id)
        self._forget(identity_id)
        self._store.delete_identity(identity_id, expected_etag=etag or None)
        self._auditor.record("identity.delete", by=by, target=identity_id)

    def add_key(self, identity_id: str, key: IdentityKey, *, by: Principal) -> Identity:
        """Register one more public key on the identity."""
        by.require(ADMIN_SCOPE)
        current = self.get(identity_id)
        if current.key(key.kid) is not None:
            raise FailedPrecondition(f"public_keys: kid {key.kid!r} is already registered on {identity_id!r}")
        if len(current.public_keys) >= MAX_KEYS:
            raise FailedPrecondition(f"public_keys: {identity_id!r} already has {MAX_KEYS} keys")
        updated = dataclasses.replace(current, public_keys=(*current.public_keys, key), update_time=self._clock.now())
        self._forget(identity_id)
        stored = self._store.update_identity(updated, expected_etag=current.etag)
        self._auditor.record("identity.add_key", by=by, target=f"{stored.id}/{key.kid}")
        return stored

    def remove_key(self, identity_id: str, kid: str, *, by: Principal) -> Identity:
        """Unregister the key with this kid."""
        by.require(ADMIN_SCOPE)
        current = self.get(identity_id)
        if current.key(kid) is None:
            raise NotFound(f"identity {identity_id!r} has no key {kid[:80]!r}")
        keys = tuple(k for k in current.public_keys if k.kid != kid)
        now = self._clock.now()  # a key is removed because it leaked, often: tokens it may have got die too
        updated = dataclasses.replace(current, public_keys=keys, update_time=now, tokens_valid_from=now)
        self._forget(identity_id)
        stored = self._store.update_identity(updated, expected_etag=current.etag)
        self._auditor.record("identity.remove_key", by=by, target=f"{stored.id}/{kid}")
        return stored

    def make_key(self, text: str, *, kid: str = "", expire_time: datetime | None = None) -> IdentityKey:
        """Parse a PEM or JWK public key into a normalised IdentityKey."""
        public = jwks.parse_public_key(text)
        jwk = jwks.public_jwk(public)
        kid = kid or thumbprint(jwk)
        if not re.match(r"^[A-Za-z0-9._-]{1,128}$", kid):
            raise InvalidArgument("kid: 1-128 characters of letters, digits, '.', '_' or '-'")
        now = self._clock.now()
        if expire_time is not None and expire_time <= now:
            raise InvalidArgument("expire_time: must be in the future")
        return IdentityKey(kid=kid, jwk=jwk, create_time=now, expire_time=expire_time)


def jwk_json(key: IdentityKey) -> str:
    """The key's JWK as JSON text, with its kid and alg."""
    return json.dumps({**key.jwk, "kid": key.kid, "alg": key.alg, "use": "sig"}, sort_keys=True)

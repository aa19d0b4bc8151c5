"""Trusted external issuers (Kubernetes, CI OIDC, agent runtimes): model, key sets, registry.

An operator trusts an issuer by its URL (the ``iss`` claim) and says where its keys
come from (inline JWK Set, a JWKS file, or a JWKS URL), which algorithms it may use,
the audience its tokens must carry for the broker, the longest token lifetime accepted
and whether each jti is accepted once. Identities bind to it with ``Binding``\\s: the
issuer, the exact ``sub``, and required claims by dotted path.

Issuers come from two places and combine like this:

- the YAML ``issuers:`` list is read at start and held in memory; it is fixed for the
  life of the process, wins over a stored issuer of the same URL, and the admin API can
  neither create (ALREADY_EXISTS) nor delete (FAILED_PRECONDITION) such an issuer; it
  is listed with the etag ``config``;
- the admin API (IssuerService) stores issuers in the store, shared by every replica.
  A replica sees issuers created elsewhere within ``refresh_interval`` (10 s); its own
  changes at once.

Core does no I/O: file and URL key sources are loaded by a ``JwksProvider`` injected
from outside (``broker/runtime/jwks_fetch.py``); inline key sets are parsed here, once.

Verification of their tokens is core/external.py.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from . import jwk as jwks
from . import jws, pages
from .algorithms import DEFAULT_EXTERNAL_ALGORITHMS, EXTERNAL
from .audit import Auditor
from .clock import Clock
from .durations import parse_duration
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted, Unavailable
from .principals import ADMIN_SCOPE, Principal

#: Algorithms an external issuer may be allowed (core/algorithms.py); HMAC and "none" can never be.
SUPPORTED_ALGORITHMS = frozenset(EXTERNAL)
DEFAULT_ALGORITHMS = DEFAULT_EXTERNAL_ALGORITHMS
#: The etag of an issuer defined in the configuration file.
CONFIG_ETAG = "config"
MAX_JWKS_BYTES = 256 * 1024
MAX_JWKS_KEYS = 100
MAX_ISSUERS = 1000
MAX_URL = 512
MAX_SUBJECT = 512
MAX_TOKEN_AGE = timedelta(days=366)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_CONFIG_TYPES: dict[str, type] = {
    "issuer": str,
    "jwks_json": str,
    "jwks_file": str,
    "jwks_url": str,
    "audience": str,
    "single_use": bool,
}
_CONFIG_FIELDS = frozenset({*_CONFIG_TYPES, "jwks", "algorithms", "max_token_age"})


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
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    audience: str = ""
    single_use: bool = False
    max_token_age: timedelta | None = None
    create_time: datetime | None = None
    etag: str = ""


# key sets ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IssuerKey:
    """One published verification key of an issuer, parsed once."""

    kid: str
    public: jwks.PublicKey
    algorithms: frozenset[str]


@dataclass(frozen=True, slots=True)
class IssuerKeys:
    """An issuer's key set, by kid."""

    by_kid: Mapping[str, IssuerKey]

    def get(self, kid: str) -> IssuerKey | None:
        """The key with this kid, if published."""
        return self.by_kid.get(kid)


def _key_algorithms(public: jwks.PublicKey) -> frozenset[str]:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return frozenset({"ES256"})
    if isinstance(public, ed25519.Ed25519PublicKey):
        return frozenset({"EdDSA"})
    if isinstance(public, rsa.RSAPublicKey):
        return frozenset({"RS256", "PS256"})
    return frozenset()


def _issuer_key(raw: Any) -> IssuerKey | None:
    """A usable signing key from one JWK, or None for keys the broker cannot use."""
    if not isinstance(raw, dict):
        raise InvalidArgument("jwks: every key must be a JSON object")
    kid = raw.get("kid")
    if not isinstance(kid, str) or not jws.KID_PATTERN.match(kid):
        raise InvalidArgument("jwks: every key needs a kid of 1-128 letters, digits, '.', '_' or '-'")
    if raw.get("use", "sig") != "sig":
        return None
    members = {m: raw[m] for m in ("kty", "crv", "x", "y", "n", "e") if m in raw}
    if any(m in raw for m in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise InvalidArgument("jwks: a private or symmetric key was given; publish public keys only")
    try:
        public = jwks.key_from_jwk(members)
    except InvalidArgument:
        return None  # a key type or size the broker does not accept (e.g. P-384): never used
    algorithms = _key_algorithms(public)
    alg = raw.get("alg")
    if alg is not None:
        algorithms = algorithms & {alg} if isinstance(alg, str) else frozenset()
    return IssuerKey(kid=kid, public=public, algorithms=algorithms) if algorithms else None


@functools.lru_cache(maxsize=256)
def parse_jwks(text: str) -> IssuerKeys:
    """Parse a JWK Set (RFC 7517); each distinct document is parsed once (bounded cache).

    Keys of types the broker does not accept, or not meant for signatures, are skipped;
    a set with no usable key, duplicate kids or private members is refused.
    """
    if len(text) > MAX_JWKS_BYTES:
        raise InvalidArgument(f"jwks: longer than {MAX_JWKS_BYTES} bytes")
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidArgument("jwks: not valid JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not 0 < len(keys) <= MAX_JWKS_KEYS:
        raise InvalidArgument(f"jwks: must be a JWK Set with 1-{MAX_JWKS_KEYS} keys")
    by_kid: dict[str, IssuerKey] = {}
    for raw in keys:
        key = _issuer_key(raw)
        if key is None:
            continue
        if key.kid in by_kid:
            raise InvalidArgument(f"jwks: duplicate kid {key.kid!r}")
        by_kid[key.kid] = key
    if not by_kid:
        raise InvalidArgument("jwks: no usable signing key (EC P-256, Ed25519 or RSA >= 2048)")
    return IssuerKeys(by_kid)


class IssuerStore(Protocol):
    """What the issuer registry needs of the store."""

    def create_issuer(self, issuer: TrustedIssuer) -> TrustedIssuer:
        """Insert; AlreadyExists if the URL is taken. Returns it with its etag."""
        ...

    def get_issuer(self, issuer: str) -> TrustedIssuer:
        """The issuer, or NotFound."""
        ...

    def list_issuers(self, *, after: str, limit: int) -> list[TrustedIssuer]:
        """Up to ``limit`` issuers with URL > ``after``, ordered by URL."""
        ...

    def delete_issuer(self, issuer: str) -> None:
        """Delete (NotFound if absent)."""
        ...


class BindingStore(Protocol):
    """The one store read the binding lookup needs."""

    def bound_identity_ids(self, issuer: str, subject: str) -> list[str]:
        """Ids of identities with a binding to ``subject`` of ``issuer`` (from an index)."""
        ...


class IssuerRegistryStore(IssuerStore, BindingStore, Protocol):
    """The issuer registry's view of the store: issuers, and the binding index it resolves through."""


class JwksProvider(Protocol):
    """Loads the key sets of issuers whose keys live in a file or behind a URL.

    Implementations cache (bounded, with a TTL), time out, and rate-limit refetches;
    ``refresh=True`` asks for one refetch because a token named an unknown kid. Raise
    ``Unavailable`` when no key set can be had.
    """

    def keys(self, issuer: TrustedIssuer, *, refresh: bool) -> IssuerKeys:
        """The issuer's current key set."""
        ...

    def check(self, issuer: TrustedIssuer) -> None:
        """Load the issuer's keys now, waiting for them; ``Unavailable`` if they cannot be had."""
        ...


# validation ------------------------------------------------------------------------------
def jwks_url_allowed(url: str, *, loopback_only: bool = False) -> bool:
    """True if ``url`` may be a jwks_url: https, or plain http to the loopback interface.

    ``loopback_only``: true only for a URL that points at the loopback interface.
    """
    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:
        return False
    if host is None or parts.scheme not in ("https", "http"):
        return False
    if loopback_only:
        return host in _LOOPBACK_HOSTS
    return parts.scheme == "https" or host in _LOOPBACK_HOSTS


def _url(value: str, field: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or len(value) > MAX_URL
        or any(c.isspace() for c in value)
    ):
        raise InvalidArgument(f"{field}: must be an http(s) URL of at most {MAX_URL} characters")
    return value


def validate_issuer(issuer: TrustedIssuer, *, reserved: str = "", prefix: str = "") -> TrustedIssuer:
    """Check every field; returns the issuer with its algorithm list normalised.

    ``reserved`` is the broker's own issuer URL, which can never be trusted as external.
    ``prefix`` names where the issuer came from in messages (``issuers[2].``).
    """
    _url(issuer.issuer, f"{prefix}issuer")
    if issuer.issuer == reserved:
        raise InvalidArgument(f"{prefix}issuer: the broker's own issuer cannot be an external issuer")
    sources = [name for name in ("jwks_json", "jwks_file", "jwks_url") if getattr(issuer, name)]
    if len(sources) != 1:
        raise InvalidArgument(f"{prefix}jwks_json, jwks_file, jwks_url: set exactly one key source")
    if issuer.jwks_json:
        try:
            parse_jwks(issuer.jwks_json)
        except InvalidArgument as exc:
            raise InvalidArgument(f"{prefix}jwks_json: {exc.message.removeprefix('jwks: ')}") from None
    if issuer.jwks_url:
        _url(issuer.jwks_url, f"{prefix}jwks_url")
        if not jwks_url_allowed(issuer.jwks_url):
            raise InvalidArgument(f"{prefix}jwks_url: must be https (plain http only on the loopback interface)")
    if issuer.jwks_file and (not issuer.jwks_file.startswith("/") or len(issuer.jwks_file) > 1024):
        raise InvalidArgument(f"{prefix}jwks_file: must be an absolute path on the broker's host")
    algorithms = tuple(dict.fromkeys(issuer.algorithms)) or DEFAULT_ALGORITHMS
    unknown = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
    if unknown:
        raise InvalidArgument(
            f"{prefix}algorithms: {unknown[0][:20]!r} is not one of {', '.join(sorted(SUPPORTED_ALGORITHMS))}"
        )
    if not issuer.audience or len(issuer.audience) > MAX_URL or any(c.isspace() for c in issuer.audience):
        raise InvalidArgument(f"{prefix}audience: required (the aud the issuer's tokens carry for this broker)")
    age = issuer.max_token_age
    if age is not None and not timedelta(seconds=1) <= age <= MAX_TOKEN_AGE:
        raise InvalidArgument(f"{prefix}max_token_age: must be between 1s and 366d")
    return dataclasses.replace(issuer, algorithms=algorithms)


def issuer_from_config(raw: Mapping[str, Any], index: int, *, reserved: str = "") -> TrustedIssuer:
    """A TrustedIssuer from one entry of the YAML ``issuers:`` list (``jwks:`` may be a mapping)."""
    prefix = f"issuers[{index}]."
    unknown = sorted(set(raw) - _CONFIG_FIELDS)
    if unknown:
        raise InvalidArgument(f"{prefix}{unknown[0]}: unknown field (one of {', '.join(sorted(_CONFIG_FIELDS))})")
    values: dict[str, Any] = {}
    for name, kind in _CONFIG_TYPES.items():
        if name in raw:
            if not isinstance(raw[name], kind):
                raise InvalidArgument(f"{prefix}{name}: must be {'true or false' if kind is bool else 'a string'}")
            values[name] = raw[name]
    if "jwks" in raw:
        if not isinstance(raw["jwks"], dict) or "jwks_json" in raw:
            raise InvalidArgument(f"{prefix}jwks: must be a JWK Set mapping (and no jwks_json)")
        values["jwks_json"] = json.dumps(raw["jwks"])
    if "algorithms" in raw:
        algs = raw["algorithms"]
        if not isinstance(algs, list) or not all(isinstance(a, str) for a in algs):
            raise InvalidArgument(f"{prefix}algorithms: must be a list of algorithm names")
        values["algorithms"] = tuple(algs)
    if raw.get("max_token_age") is not None:
        try:
            values["max_token_age"] = parse_duration(str(raw["max_token_age"]))
        except ValueError:
            raise InvalidArgument(f"{prefix}max_token_age: not a duration (e.g. 10m, 1h, 7d)") from None
    if "issuer" not in values:
        raise InvalidArgument(f"{prefix}issuer: required")
    return dataclasses.replace(
        validate_issuer(TrustedIssuer(**values), reserved=reserved, prefix=prefix), etag=CONFIG_ETAG
    )


# the registry ---------------------------------------------------------------------------
class IssuerRegistry:
    """Trusted issuers from the configuration file and the store, with a hot-path snapshot."""

    def __init__(
        self,
        store: IssuerRegistryStore,
        clock: Clock,
        auditor: Auditor,
        *,
        reserved: str,
        configured: Sequence[TrustedIssuer] = (),
        keys: JwksProvider | None = None,
        refresh_interval: timedelta = timedelta(seconds=10),
    ) -> None:
        self._store = store
        self._clock = clock
        self._auditor = auditor
        self._reserved = reserved
        self._keys = keys
        self._refresh_interval = refresh_interval
        self._configured: dict[str, TrustedIssuer] = {}
        for issuer in configured:
            if issuer.issuer in self._configured:
                raise InvalidArgument(f"issuers: {issuer.issuer!r} is listed twice")
            self._configured[issuer.issuer] = issuer
        self._lock = threading.Lock()
        self._stored: dict[str, TrustedIssuer] = {}
        self._loaded_at: datetime | None = None
        self._generation = 0  # bumped by every reload and invalidation: concurrent reloads coalesce

    # hot path -----------------------------------------------------------------------
    def lookup(self, url: str) -> TrustedIssuer | None:
        """The trusted issuer with this URL, if any (from memory; the store at most every refresh_interval)."""
        configured = self._configured.get(url)
        if configured is not None:
            return configured
        if "://" not in url:
            return None
        now = self._clock.now()
        loaded_at, generation = self._loaded_at, self._generation
        if loaded_at is None or not loaded_at <= now < loaded_at + self._refresh_interval:
            self._reload(now, generation)
        return self._stored.get(url)

    def _reload(self, now: datetime, seen: int) -> None:
        with self._lock:
            if self._generation != seen and self._loaded_at is not None:
                return  # another thread reloaded since this caller looked
            stored: dict[str, TrustedIssuer] = {}
            after = ""
            while len(stored) < MAX_ISSUERS:
                page = self._store.list_issuers(after=after, limit=min(500, MAX_ISSUERS - len(stored)))
                stored.update((i.issuer, i) for i in page)
                if len(page) < 500:
                    break
                after = page[-1].issuer
            self._stored, self._loaded_at = stored, now
            self._generation += 1

    def _invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None
            self._generation += 1

    # admin API --------------------------------------------------------------------------
    def create(self, issuer: TrustedIssuer, *, by: Principal) -> TrustedIssuer:
        """Validate and store a new trusted issuer (``key_warning`` then says whether its keys load)."""
        by.require(ADMIN_SCOPE)
        valid = validate_issuer(issuer, reserved=self._reserved)
        if valid.issuer in self._configured:
            raise AlreadyExists(f"issuer {valid.issuer!r} is defined in the configuration file")
        if len(self._store.list_issuers(after="", limit=MAX_ISSUERS)) + len(self._configured) >= MAX_ISSUERS:
            raise ResourceExhausted(f"issuers: at most {MAX_ISSUERS} trusted issuers")
        created = self._store.create_issuer(dataclasses.replace(valid, create_time=self._clock.now(), etag=""))
        self._invalidate()
        self._auditor.record("issuer.create", by=by, target=created.issuer)
        return created

    def key_warning(self, issuer: TrustedIssuer) -> str:
        """Load the keys of a file or URL source now; a warning for the admin if they cannot be
        loaded ('' if they can). The reason is in the broker's log, never in the warning."""
        if issuer.jwks_json or self._keys is None:
            return ""
        source = "jwks_url" if issuer.jwks_url else "jwks_file"
        try:
            self._keys.check(issuer)
        except Unavailable:
            return (
                f"{source}: the issuer's keys could not be loaded now (the broker's log has the reason); "
                "its tokens are refused until they can be"
            )
        return ""

    def check_configured(self) -> None:
        """Start-up: every configuration-file issuer with a jwks_file must load (else InvalidArgument)."""
        for index, issuer in enumerate(self._configured.values()):
            if issuer.jwks_file and self._keys is not None:
                try:
                    self._keys.check(issuer)
                except Unavailable:
                    raise InvalidArgument(
                        f"issuers[{index}].jwks_file: {issuer.jwks_file} cannot be read as a JWK Set"
                    ) from None

    def exists(self, url: str) -> bool:
        """True if ``url`` is a trusted issuer now (configured, or in the store: not the cached list)."""
        if url in self._configured:
            return True
        try:
            self._store.get_issuer(url)
        except NotFound:
            return False
        return True

    def get(self, url: str) -> TrustedIssuer:
        """The issuer with this URL, or NotFound."""
        if not url or len(url) > MAX_URL:
            raise InvalidArgument(f"issuer: 1-{MAX_URL} characters")
        return self._configured.get(url) or self._store.get_issuer(url)

    def list(self, *, page_size: int, page_token: str) -> tuple[list[TrustedIssuer], str]:
        """One page ordered by URL (configured and stored merged), and the next page token."""
        if len(page_token) > MAX_URL:
            raise InvalidArgument("page_token: not a token this server issued")
        size = pages.page_size(page_size)
        stored = self._store.list_issuers(after=page_token, limit=size + 1 + len(self._configured))
        merged = {i.issuer: i for i in stored if i.issuer not in self._configured}
        merged.update((url, i) for url, i in self._configured.items() if url > page_token)
        items = [merged[url] for url in sorted(merged)]
        return pages.page(items, size, lambda issuer: issuer.issuer)

    def delete(self, url: str, *, by: Principal) -> None:
        """Stop trusting a stored issuer (NotFound if absent; configured ones are refused)."""
        by.require(ADMIN_SCOPE)
        if url in self._configured:
            raise FailedPrecondition(f"issuer {url!r} is defined in the configuration file; remove it there")
        self.get(url)
        self._store.delete_issuer(url)
        self._invalidate()
        self._auditor.record("issuer.delete", by=by, target=url)

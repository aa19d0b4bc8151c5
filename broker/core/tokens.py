"""THE token core: mint and verify the broker's JWTs, one path for machines, agents and people.

Verification is signature first, then policy, with the clock injected:

1. ``jws.parse`` with the broker's algorithm allow-list (size and JSON limits there);
2. the kid must name a key published in the keyring, and the alg must be that key's;
3. the signature is checked with the key's PyJWT algorithm object;
4. only then are the claims read: iss, aud, exp/nbf/iat against ``now``, typ, and
   revocation.

The broker signs these tokens itself, so it gives them no leeway on ``exp``: a token is
dead at its exp on every check the broker makes (and introspection says so). ``nbf`` and
``iat`` allow ``OWN_SKEW`` for replicas whose clocks run a little apart. A revocation is
kept until exp + ``REVOCATION_MARGIN``, longer than any check could accept the token.

``jti`` starts with the mint time in milliseconds (hex), so the broker knows to the
millisecond when it issued a token (``AccessClaims.issued_at``) while ``iat`` stays
whole seconds for every other verifier. Ordering tokens against changes of an identity
(disabled, scopes cut, re-created) needs that precision.

Every failure is one opaque ``Unauthenticated("invalid token")`` for the caller; the
reason rides in ``detail`` for the log and the audit record.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from . import jws
from .algorithms import SIGNING
from .clock import Clock
from .errors import InvalidArgument, Unauthenticated
from .keys import Keyring

ACCESS_TOKEN_TYP = "at+jwt"
JWT_TYP = "JWT"
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_JWT = "urn:ietf:params:oauth:token-type:jwt"
#: Clock skew allowed on tokens and assertions from elsewhere (external issuers, workloads).
DEFAULT_LEEWAY = timedelta(seconds=30)
#: Skew allowed on nbf and iat of the broker's own tokens (replicas' clocks); exp gets none.
OWN_SKEW = timedelta(seconds=5)
#: How long past a token's exp its revocation record is kept (beyond any replica's skew).
REVOCATION_MARGIN = timedelta(seconds=60)
_JTI_TIME_DIGITS = 11  # hex milliseconds: enough until the year 2527
#: 9999-12-31T23:59:59Z: NumericDate claims beyond it (or negative) are refused, not overflowed.
MAX_TIMESTAMP = 253402300799

RevocationCheck = Callable[[str, datetime], bool]


class RevocationStore(Protocol):
    """Revoked token ids, each dead until its record expires."""

    def revoke_token(self, jti: str, expires_at: datetime) -> None:
        """Mark a token id revoked until ``expires_at`` (idempotent)."""
        ...

    def is_token_revoked(self, jti: str, now: datetime) -> bool:
        """True if the id is revoked and the revocation has not expired."""
        ...


def invalid(detail: str) -> Unauthenticated:
    """The one error a caller sees for a bad token."""
    return Unauthenticated("invalid token", detail=detail)


def _numeric(claims: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise invalid(f"missing {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} is not a number")
    if not 0 <= value <= MAX_TIMESTAMP:
        raise invalid(f"{name} is out of range")
    return int(value)


def check_times(
    claims: Mapping[str, Any],
    now: datetime,
    leeway: timedelta,
    *,
    error: Callable[[str], Exception] = invalid,
    exp_leeway: timedelta | None = None,
) -> datetime:
    """Check exp (required), nbf and iat against ``now`` ± leeway; return exp.

    ``exp_leeway`` (default: ``leeway``) is the slack on exp alone.
    """
    try:
        exp = _numeric(claims, "exp", required=True)
        nbf = _numeric(claims, "nbf", required=False)
        iat = _numeric(claims, "iat", required=False)
    except Unauthenticated as exc:
        raise error(exc.detail or "bad time claim") from None
    ts = now.timestamp()
    slack = leeway.total_seconds()
    exp_slack = slack if exp_leeway is None else exp_leeway.total_seconds()
    if exp is None:  # required=True above
        raise error("missing exp")
    if exp <= ts - exp_slack:
        raise error("expired")
    if nbf is not None and nbf > ts + slack:
        raise error("not yet valid (nbf)")
    if iat is not None and iat > ts + slack:
        raise error("issued in the future (iat)")
    return datetime.fromtimestamp(exp, UTC)


def new_jti(now: datetime) -> str:
    """A fresh token id: the mint time in hex milliseconds, then 128 random bits."""
    return f"{int(now.timestamp() * 1000):0{_JTI_TIME_DIGITS}x}{secrets.token_urlsafe(16)}"


def issued_at(claims: Mapping[str, Any]) -> datetime:
    """When the broker minted a token: the time in its jti, else (older tokens) its whole-second iat.

    A token with neither reads as issued at the epoch, so it predates every change.
    """
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool) or not 0 <= iat <= MAX_TIMESTAMP:
        return datetime.fromtimestamp(0, UTC)
    jti = claims.get("jti")
    if isinstance(jti, str) and len(jti) > _JTI_TIME_DIGITS:
        try:
            millis = int(jti[:_JTI_TIME_DIGITS], 16)
        except ValueError:
            millis = -1
        if iat * 1000 <= millis < (iat + 1) * 1000:  # an older random jti that happens to read as hex: ignored
            return datetime.fromtimestamp(millis / 1000, UTC)
    return datetime.fromtimestamp(iat, UTC)


def audiences_of(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The aud claim as a tuple (it may be a string or a list of strings)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    return ()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of a broker token."""

    claims: Mapping[str, Any]

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def client_id(self) -> str:
        return str(self.claims.get("client_id", ""))

    @property
    def kind(self) -> str:
        return str(self.claims.get("kind", ""))

    @property
    def tenant(self) -> str:
        return str(self.claims.get("tenant", ""))

    @property
    def scopes(self) -> tuple[str, ...]:
        scope = self.claims.get("scope", "")
        return tuple(scope.split()) if isinstance(scope, str) else ()

    @property
    def audiences(self) -> tuple[str, ...]:
        return audiences_of(self.claims)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(int(self.claims["exp"]), UTC)

    @property
    def issued_at(self) -> datetime:
        """When the broker minted the token, to the millisecond (see ``issued_at``)."""
        return issued_at(self.claims)

    @property
    def act(self) -> Mapping[str, Any] | None:
        act = self.claims.get("act")
        return act if isinstance(act, dict) else None

    @property
    def sid(self) -> str:
        """The login session (refresh family) a person's token descends from ('' for machines)."""
        return str(self.claims.get("sid", ""))

    @property
    def amr(self) -> tuple[str, ...]:
        """How the person authenticated (RFC 8176: pwd, otp, mfa); empty for machines."""
        amr = self.claims.get("amr")
        return tuple(a for a in amr if isinstance(a, str)) if isinstance(amr, list) else ()

    @property
    def cnf(self) -> Mapping[str, str] | None:
        """The confirmation the holder must prove (RFC 7800), if the token is bound."""
        cnf = self.claims.get("cnf")
        return cnf if isinstance(cnf, dict) else None

    @property
    def actors(self) -> tuple[Mapping[str, Any], ...]:
        """The delegation chain, current actor first (empty when not delegated)."""
        chain: list[Mapping[str, Any]] = []
        act = self.act
        while act is not None:
            chain.append(act)
            nested = act.get("act")
            act = nested if isinstance(nested, dict) else None
        return tuple(chain)


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A freshly signed token and what it says."""

    token: str
    jti: str
    expires_at: datetime
    claims: Mapping[str, Any]


class TokenCore:
    """Mints and verifies the broker's tokens with its keyring."""

    def __init__(
        self,
        keyring: Keyring,
        clock: Clock,
        *,
        issuer: str,
        skew: timedelta = OWN_SKEW,
        is_revoked: RevocationCheck | None = None,
    ) -> None:
        self._keyring = keyring
        self._clock = clock
        self.issuer = issuer
        self._skew = skew
        self._is_revoked = is_revoked
        self._algorithms = frozenset(SIGNING)
        self._headers: dict[tuple[str, str], str] = {}

    def _header(self, kid: str, alg: str, typ: str) -> str:
        key = (kid, typ)
        header = self._headers.get(key)
        if header is None:
            header = jws.encode_json({"alg": alg, "kid": kid, "typ": typ})
            self._headers[key] = header
        return header

    def mint(
        self,
        *,
        subject: str,
        client_id: str,
        kind: str,
        tenant: str,
        scopes: Sequence[str],
        audiences: Sequence[str],
        ttl: timedelta,
        act: Mapping[str, Any] | None = None,
        cnf: Mapping[str, str] | None = None,
        typ: str = ACCESS_TOKEN_TYP,
        not_after: datetime | None = None,
        amr: Sequence[str] = (),
        sid: str = "",
    ) -> MintedToken:
        """Sign a token for ``subject``; exp is now+ttl, never later than ``not_after``.
        ``cnf`` (RFC 7800) binds it to a key or certificate its holder must prove; a
        person's tokens name how they authenticated (``amr``) and their login (``sid``)."""
        if not audiences:
            raise InvalidArgument("audiences: a token needs at least one audience")
        now = self._clock.now()
        key = self._keyring.signing_key(now)
        iat = int(now.timestamp())
        exp = iat + max(1, int(ttl.total_seconds()))
        if not_after is not None:
            exp = min(exp, int(not_after.timestamp()))
        jti = new_jti(now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            # JWT-SVID consumers (py-spiffe) read aud as a list: always one for typ JWT.
            "aud": audiences[0] if len(audiences) == 1 and typ == ACCESS_TOKEN_TYP else list(audiences),
            "exp": exp,
            "iat": iat,
            "nbf": iat,
            "jti": jti,
            "scope": " ".join(scopes),
            "client_id": client_id,
            "kind": kind,
            "tenant": tenant,
        }
        if act is not None:
            claims["act"] = act
        if cnf:
            claims["cnf"] = dict(cnf)
        if amr:
            claims["amr"] = list(amr)
        if sid:
            claims["sid"] = sid
        signing_input = f"{self._header(key.kid, key.alg, typ)}.{jws.encode_json(claims)}"
        signature = SIGNING[key.alg].sign(signing_input.encode("ascii"), key.private)
        return MintedToken(
            token=f"{signing_input}.{jws.b64encode(signature)}",
            jti=jti,
            expires_at=datetime.fromtimestamp(exp, UTC),
            claims=claims,
        )

    def sign_statement(self, payload: Mapping[str, Any], *, typ: str) -> str:
        """A compact JWS of ``payload`` by the CURRENT key, for records the broker vouches
        for (audit checkpoints). Its ``typ`` is never a token's, so it cannot pass as one."""
        if typ in (ACCESS_TOKEN_TYP, JWT_TYP):
            raise ValueError("a statement's typ must not be a token's")
        key = self._keyring.signing_key(self._clock.now())
        header = jws.encode_json({"alg": key.alg, "kid": key.kid, "typ": typ})
        signing_input = f"{header}.{jws.encode_json(dict(payload))}"
        signature = SIGNING[key.alg].sign(signing_input.encode("ascii"), key.private)
        return f"{signing_input}.{jws.b64encode(signature)}"

    def verify_statement(self, statement: str, *, typ: str) -> dict[str, Any] | None:
        """The payload of a statement signed by ``sign_statement`` with ``typ``; None when
        its key is no longer published (retired), Unauthenticated when it does not verify."""
        parsed = jws.parse(statement, algorithms=self._algorithms)
        if parsed.header.get("typ") != typ:
            raise invalid(f"typ is not {typ}")
        try:
            self.verify_signature(parsed)
        except Unauthenticated as exc:
            if exc.detail == "unknown kid":
                return None
            raise
        return parsed.claims

    def verify_signature(self, parsed: jws.ParsedJws) -> None:
        """Check a parsed token's signature against the broker's published keys."""
        kid = parsed.kid
        if kid is None:
            raise invalid("missing kid")
        key = self._keyring.verification_key(kid, self._clock.now())
        if key is None:
            raise invalid("unknown kid")
        if parsed.alg != key.alg:
            raise invalid("alg does not match the key")
        if not SIGNING[key.alg].verify(parsed.signing_input, key.public, parsed.signature):
            raise invalid("bad signature")

    def verify(self, token: str, *, audience: str | None, check_revoked: bool = True) -> AccessClaims:
        """Verify a broker token; ``audience`` (None: any) must be in its aud.

        ``check_revoked=False`` only for RevokeToken, which must recognise a token it
        already revoked (revoking twice is not an error).
        """
        parsed = jws.parse(token, algorithms=self._algorithms)
        return self.verify_parsed(parsed, audience=audience, check_revoked=check_revoked)

    def verify_parsed(self, parsed: jws.ParsedJws, *, audience: str | None, check_revoked: bool = True) -> AccessClaims:
        """Like ``verify``, for a token already parsed once by the caller."""
        if parsed.header.get("typ") not in (ACCESS_TOKEN_TYP, JWT_TYP):
            raise invalid("typ is not at+jwt or JWT")
        self.verify_signature(parsed)
        claims = parsed.claims
        if claims.get("iss") != self.issuer:
            raise invalid("wrong issuer")
        now = self._clock.now()
        check_times(claims, now, self._skew, exp_leeway=timedelta(0))
        for name in ("sub", "jti"):
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise invalid(f"missing {name}")
        auds = audiences_of(claims)
        if not auds:
            raise invalid("missing aud")
        if audience is not None and audience not in auds:
            raise invalid("token is not for this audience")
        if check_revoked and self._is_revoked is not None and self._is_revoked(str(claims["jti"]), now):
            raise invalid("revoked")
        return AccessClaims(claims)

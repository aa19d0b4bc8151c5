"""Trusted external issuers: key sets, validation, config, the registry, bindings, the verifier, JWKS fetching."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest

from broker.core import jws
from broker.core.audit import Auditor
from broker.core.clock import FakeClock
from broker.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from broker.core.external import BindingIndex, ExternalIssuerVerifier, claim_values, unmatched_claim
from broker.core.identities import Binding, Identity, IdentityKind, IdentityRegistry
from broker.core.issuers import (
    CONFIG_ETAG,
    IssuerRegistry,
    TrustedIssuer,
    issuer_from_config,
    parse_jwks,
    validate_issuer,
)
from broker.runtime.jwks_fetch import JwksFetcher
from broker.store.sql import SqlStore
from tests.e2e.harness import free_port
from tests.security.issuer_kit import (
    BROKER_AUDIENCE,
    GITHUB_ISSUER,
    K8S_ISSUER,
    JwksServer,
    TestIssuer,
    github_token,
    jwks_server,
    kubernetes_claims,
    kubernetes_token,
)
from tests.unit.conftest import ISSUER, OPERATOR

ALGS = frozenset({"ES256", "RS256", "PS256", "EdDSA"})


@pytest.fixture(scope="module")
def k8s() -> TestIssuer:
    return TestIssuer(K8S_ISSUER)


@pytest.fixture(scope="module")
def github() -> TestIssuer:
    return TestIssuer(GITHUB_ISSUER, kid="38826b17-6a30-5f9b-b169-8beb8202f723")


def _trusted(test_issuer: TestIssuer, **changes: object) -> TrustedIssuer:
    base = TrustedIssuer(
        issuer=test_issuer.url, jwks_json=test_issuer.jwks_json(), algorithms=("RS256",), audience=BROKER_AUDIENCE
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]  # one type for every field's override


# key sets ------------------------------------------------------------------------------------
def test_a_kubernetes_style_jwks_parses_by_kid(k8s: TestIssuer) -> None:
    """An RSA JWK Set with kid/use/alg yields one key usable with RS256 only (its alg)."""
    keys = parse_jwks(k8s.jwks_json())
    key = keys.get(k8s.kid)
    assert key is not None and key.algorithms == {"RS256"}
    assert keys.get("other") is None


def test_jwks_without_alg_allows_each_algorithm_of_the_key_type(k8s: TestIssuer) -> None:
    """Without an alg member an RSA key verifies RS256 and PS256, never an EC or HMAC alg."""
    jwk = {k: v for k, v in k8s.jwk().items() if k != "alg"}
    key = parse_jwks(json.dumps({"keys": [jwk]})).get(k8s.kid)
    assert key is not None and key.algorithms == {"RS256", "PS256"}


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        json.dumps({"keys": []}),
        json.dumps([]),
        json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}),
        json.dumps({"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"}]}),
    ],
)
def test_unusable_key_sets_are_refused(document: str) -> None:
    """Malformed JSON, empty sets, symmetric keys and sets with no usable key are refused."""
    with pytest.raises(InvalidArgument):
        parse_jwks(document)


def test_duplicate_kids_and_private_members_are_refused(k8s: TestIssuer) -> None:
    """Two keys with one kid are ambiguous; a JWK with a private member is never accepted."""
    with pytest.raises(InvalidArgument, match="duplicate kid"):
        parse_jwks(json.dumps({"keys": [k8s.jwk(), k8s.jwk()]}))
    with pytest.raises(InvalidArgument, match="private"):
        parse_jwks(json.dumps({"keys": [{**k8s.jwk(), "d": "AAAA"}]}))


def test_keys_not_for_signatures_are_skipped(k8s: TestIssuer) -> None:
    """use=enc keys are left out; the signing key next to them still works."""
    other = TestIssuer(K8S_ISSUER, kid="enc-key")
    keys = parse_jwks(json.dumps({"keys": [{**other.jwk(), "use": "enc"}, k8s.jwk()]}))
    assert keys.get("enc-key") is None and keys.get(k8s.kid) is not None


# validation and configuration --------------------------------------------------------------------
def test_a_valid_issuer_gets_the_default_algorithms(k8s: TestIssuer) -> None:
    """An empty algorithm list means ES256 and RS256."""
    assert validate_issuer(_trusted(k8s, algorithms=())).algorithms == ("ES256", "RS256")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"issuer": "ftp://k8s"}, "issuer"),
        ({"issuer": ISSUER}, "issuer"),
        ({"jwks_url": "https://k8s.example/jwks"}, "exactly one"),
        ({"jwks_json": ""}, "exactly one"),
        ({"jwks_json": "", "jwks_url": "http://k8s.example/jwks"}, "jwks_url"),
        ({"jwks_json": "", "jwks_file": "relative/jwks.json"}, "jwks_file"),
        ({"algorithms": ("HS256",)}, "algorithms"),
        ({"algorithms": ("none",)}, "algorithms"),
        ({"audience": ""}, "audience"),
        ({"max_token_age": timedelta(0)}, "max_token_age"),
    ],
)
def test_bad_issuers_are_refused_naming_the_field(k8s: TestIssuer, changes: dict[str, object], field: str) -> None:
    """Each invalid field is refused with INVALID_ARGUMENT naming it."""
    with pytest.raises(InvalidArgument, match=field):
        validate_issuer(_trusted(k8s, **changes), reserved=ISSUER)


def test_plain_http_jwks_url_is_allowed_only_on_loopback(k8s: TestIssuer) -> None:
    """http://127.0.0.1 passes (tests, sidecars); https anywhere passes."""
    validate_issuer(_trusted(k8s, jwks_json="", jwks_url="http://127.0.0.1:9/jwks"))
    validate_issuer(_trusted(k8s, jwks_json="", jwks_url="https://k8s.example/openid/v1/jwks"))


def test_config_entries_become_issuers_with_the_config_etag(k8s: TestIssuer) -> None:
    """A YAML entry with an inline jwks mapping and a duration is a validated TrustedIssuer."""
    raw = {
        "issuer": K8S_ISSUER,
        "jwks": json.loads(k8s.jwks_json()),
        "algorithms": ["RS256"],
        "audience": BROKER_AUDIENCE,
        "single_use": True,
        "max_token_age": "1h",
    }
    issuer = issuer_from_config(raw, 0)
    assert issuer.max_token_age == timedelta(hours=1) and issuer.single_use and issuer.etag == CONFIG_ETAG
    assert parse_jwks(issuer.jwks_json).get(k8s.kid) is not None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"issuer": K8S_ISSUER, "jwks_url": "https://x/jwks", "audience": "a", "colour": "red"},
            r"issuers\[3\].colour",
        ),
        ({"jwks_url": "https://x/jwks", "audience": "a"}, r"issuers\[3\].issuer"),
        ({"issuer": K8S_ISSUER, "jwks_url": "https://x/jwks", "audience": "a", "single_use": "yes"}, "single_use"),
        (
            {"issuer": K8S_ISSUER, "jwks_url": "https://x/jwks", "audience": "a", "max_token_age": "soon"},
            "max_token_age",
        ),
        ({"issuer": K8S_ISSUER, "jwks_url": "https://x/jwks"}, r"issuers\[3\].audience"),
    ],
)
def test_bad_config_entries_name_their_index_and_field(raw: dict[str, object], message: str) -> None:
    """Start-up errors say which entry and which field is wrong."""
    with pytest.raises(InvalidArgument, match=message):
        issuer_from_config(raw, 3)


# the registry ---------------------------------------------------------------------------------------
@pytest.fixture
def configured(k8s: TestIssuer) -> TrustedIssuer:
    return issuer_from_config({"issuer": K8S_ISSUER, "jwks_json": k8s.jwks_json(), "audience": BROKER_AUDIENCE}, 0)


@pytest.fixture
def issuers(store: SqlStore, clock: FakeClock, configured: TrustedIssuer) -> IssuerRegistry:
    return IssuerRegistry(
        store, clock, Auditor(store, clock), reserved=ISSUER, configured=[configured], keys=JwksFetcher(timeout=2)
    )


def test_api_issuers_are_stored_and_listed_with_configured_ones(issuers: IssuerRegistry, github: TestIssuer) -> None:
    """Created issuers get a create_time and etag; list merges them with configured ones by URL."""
    created = issuers.create(_trusted(github), by=OPERATOR)
    assert created.create_time is not None and created.etag and created.etag != CONFIG_ETAG
    assert issuers.get(GITHUB_ISSUER) == created
    items, token = issuers.list(page_size=0, page_token="")
    assert [i.issuer for i in items] == sorted([GITHUB_ISSUER, K8S_ISSUER]) and token == ""
    first, token = issuers.list(page_size=1, page_token="")
    second, last = issuers.list(page_size=1, page_token=token)
    assert [i.issuer for i in first + second] == sorted([GITHUB_ISSUER, K8S_ISSUER]) and last == ""


def test_configured_issuers_cannot_be_created_or_deleted_through_the_api(
    issuers: IssuerRegistry, k8s: TestIssuer
) -> None:
    """The configuration file owns its issuers: ALREADY_EXISTS on create, FAILED_PRECONDITION on delete."""
    with pytest.raises(AlreadyExists):
        issuers.create(_trusted(k8s), by=OPERATOR)
    with pytest.raises(FailedPrecondition):
        issuers.delete(K8S_ISSUER, by=OPERATOR)
    assert issuers.get(K8S_ISSUER).etag == CONFIG_ETAG


def test_deleting_an_unknown_issuer_is_not_found(issuers: IssuerRegistry) -> None:
    """Delete and get of an absent issuer are NOT_FOUND."""
    with pytest.raises(NotFound):
        issuers.delete("https://nobody.example", by=OPERATOR)
    with pytest.raises(NotFound):
        issuers.get("https://nobody.example")


def test_create_loads_url_keys_and_warns_without_mapping_the_network(
    issuers: IssuerRegistry, github: TestIssuer
) -> None:
    """A JWKS URL that answers gives no warning; one that fails is created anyway with a warning naming
    jwks_url, which says neither 404 nor refused (the log has the reason)."""
    with jwks_server(github.jwks_json()) as server:
        created = issuers.create(_trusted(github, jwks_json="", jwks_url=server.url), by=OPERATOR)
        assert issuers.key_warning(created) == ""
        server.status = 404
        failing = issuers.create(
            _trusted(github, issuer="https://ci.example", jwks_json="", jwks_url=server.url + "?x"), by=OPERATOR
        )
        warning_404 = issuers.key_warning(failing)
    refused = issuers.create(
        _trusted(github, issuer="https://ci2.example", jwks_json="", jwks_url=f"http://127.0.0.1:{free_port()}/jwks"),
        by=OPERATOR,
    )
    warning_refused = issuers.key_warning(refused)
    assert warning_404.startswith("jwks_url: the issuer's keys could not be loaded now")
    assert warning_refused == warning_404
    assert issuers.get("https://ci.example").jwks_url.endswith("?x")


def test_other_replicas_issuers_are_seen_after_the_refresh_interval(
    issuers: IssuerRegistry, store: SqlStore, clock: FakeClock, github: TestIssuer
) -> None:
    """The hot-path snapshot reloads from the store at most every refresh interval; local writes at once."""
    assert issuers.lookup(GITHUB_ISSUER) is None
    store.create_issuer(validate_issuer(_trusted(github)))
    assert issuers.lookup(GITHUB_ISSUER) is None
    clock.advance(timedelta(seconds=10))
    assert issuers.lookup(GITHUB_ISSUER) is not None
    issuers.delete(GITHUB_ISSUER, by=OPERATOR)
    assert issuers.lookup(GITHUB_ISSUER) is None
    assert issuers.lookup("payments") is None  # not a URL: never a store read


# claims by dotted path ------------------------------------------------------------------------------
def test_dotted_paths_reach_into_nested_objects_and_dotted_keys() -> None:
    """kubernetes.io.namespace finds claims["kubernetes.io"]["namespace"], flat and fully nested forms too."""
    nested = kubernetes_claims(K8S_ISSUER, namespace="payments", service_account="api")
    assert list(claim_values(nested, "kubernetes.io.namespace")) == ["payments"]
    assert list(claim_values(nested, "kubernetes.io.serviceaccount.name")) == ["api"]
    assert list(claim_values({"kubernetes.io.namespace": "a"}, "kubernetes.io.namespace")) == ["a"]
    assert list(claim_values({"kubernetes": {"io": {"namespace": "b"}}}, "kubernetes.io.namespace")) == ["b"]
    assert list(claim_values(nested, "kubernetes.io.missing")) == []


def test_required_claims_match_exact_strings_only() -> None:
    """Strings must be equal; booleans and integers by their JSON text; objects, lists and null never."""
    claims = {"repository": "org/app", "ok": True, "n": 3, "list": ["org/app"], "obj": {"a": "b"}, "none": None}
    assert unmatched_claim({"repository": "org/app", "ok": "true", "n": "3"}, claims) is None
    assert unmatched_claim({"repository": "org/app2"}, claims) == "repository"
    assert unmatched_claim({"repository": "org/ap"}, claims) == "repository"
    assert unmatched_claim({"list": "org/app"}, claims) == "list"
    assert unmatched_claim({"obj": "{'a': 'b'}"}, claims) == "obj"
    assert unmatched_claim({"none": "None"}, claims) == "none"
    assert unmatched_claim({"absent": ""}, claims) == "absent"


# the verifier -------------------------------------------------------------------------------------------
@pytest.fixture
def registry(store: SqlStore, clock: FakeClock) -> IdentityRegistry:
    return IdentityRegistry(store, clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1))


@pytest.fixture
def verifier(
    issuers: IssuerRegistry, registry: IdentityRegistry, store: SqlStore, clock: FakeClock
) -> ExternalIssuerVerifier:
    return ExternalIssuerVerifier(
        issuers, BindingIndex(store, clock), registry.lookup, clock, consume_jti=store.consume_jti
    )


def _bind(registry: IdentityRegistry, ident: str, issuer: str, subject: str, **claims: str) -> Identity:
    return registry.create(
        Identity(id=ident, kind=IdentityKind.SERVICE_ACCOUNT, bindings=(Binding(issuer, subject, claims),)), by=OPERATOR
    )


def _verify(verifier: ExternalIssuerVerifier, token: str) -> Identity:
    return verifier.verify(jws.parse(token, algorithms=ALGS))


def _now(clock: FakeClock) -> float:
    return clock.now().timestamp()


K8S_SUB = "system:serviceaccount:payments:api"


def test_a_kubernetes_token_maps_to_the_bound_identity(
    verifier: ExternalIssuerVerifier, registry: IdentityRegistry, k8s: TestIssuer, clock: FakeClock
) -> None:
    """Issuer + exact sub + kubernetes.io.namespace select the identity."""
    _bind(registry, "payments-api", K8S_ISSUER, K8S_SUB, **{"kubernetes.io.namespace": "payments"})
    token = kubernetes_token(k8s, namespace="payments", service_account="api", now=_now(clock))
    assert _verify(verifier, token).id == "payments-api"


def test_a_required_claim_that_differs_is_refused(
    verifier: ExternalIssuerVerifier, registry: IdentityRegistry, k8s: TestIssuer, clock: FakeClock
) -> None:
    """Same issuer and sub, but the namespace claim does not match: invalid attestation naming the claim."""
    _bind(registry, "payments-api", K8S_ISSUER, K8S_SUB, **{"kubernetes.io.serviceaccount.name": "other"})
    token = kubernetes_token(k8s, namespace="payments", service_account="api", now=_now(clock))
    with pytest.raises(Unauthenticated) as info:
        _verify(verifier, token)
    assert info.value.message == "invalid attestation"
    assert "kubernetes.io.serviceaccount.name" in (info.value.detail or "")


def test_an_unbound_subject_is_refused(
    verifier: ExternalIssuerVerifier, registry: IdentityRegistry, k8s: TestIssuer, clock: FakeClock
) -> None:
    """A valid token whose sub no identity binds proves nothing."""
    _bind(registry, "payments-api", K8S_ISSUER, K8S_SUB)
    token = kubernetes_token(k8s, namespace="payments", service_account="worker", now=_now(clock))
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        _verify(verifier, token)


def test_a_binding_created_after_the_index_was_built_is_found(
    verifier: ExternalIssuerVerifier, registry: IdentityRegistry, k8s: TestIssuer, clock: FakeClock
) -> None:
    """A miss rebuilds the binding index once its minimum interval has passed."""
    _bind(registry, "payments-api", K8S_ISSUER, K8S_SUB)
    _verify(verifier, kubernetes_token(k8s, namespace="payments", service_account="api", now=_now(clock)))
    _bind(registry, "payments-worker", K8S_ISSUER, "system:serviceaccount:payments:worker")
    clock.advance(timedelta(milliseconds=250))
    token = kubernetes_token(k8s, namespace="payments", service_account="worker", now=_now(clock))
    assert _verify(verifier, token).id == "payments-worker"


def test_a_disabled_bound_identity_and_an_ambiguous_binding_are_refused(
    verifier: ExternalIssuerVerifier, registry: IdentityRegistry, k8s: TestIssuer, clock: FakeClock
) -> None:
    """A disabled identity proves nothing; two identities bound to one subject fail closed."""
    _bind(registry, "payments-api", K8S_ISSUER, K8S_SUB)
    registry.update("payments-api", {"disabled": True}, by=OPERATOR)
    token = kubernetes_token(k8s, namespace="payments", service_account="api", now=_now(clock))
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        _verify(verifier, token)
    registry.update("payments-api", {"disabled": False}, by=OPERATOR)
    _bind(registry, "payments-twin", K8S_ISSUER, K8S_SUB)
    clock.advance(timedelta(seconds=61))
    token = kubernetes_token(k8s, namespace="payments", service_account="api", now=_now(clock))
    with pytest.raises(Unauthenticated) as info:
        _verify(verifier, token)
    assert "several identities" in (info.value.detail or "")


def test_a_github_actions_token_maps_by_sub_and_repository(
    verifier: ExternalIssuerVerifier,
    issuers: IssuerRegistry,
    registry: IdentityRegistry,
    github: TestIssuer,
    clock: FakeClock,
) -> None:
    """A CI OIDC token (typ JWT, x5t, 6 h life) binds by sub and repository; another repository is refused."""
    issuers.create(_trusted(github, single_use=True), by=OPERATOR)
    sub = "repo:org/app:ref:refs/heads/main"
    _bind(registry, "app-deploy", GITHUB_ISSUER, sub, repository="org/app", ref="refs/heads/main")
    assert _verify(verifier, github_token(github, repository="org/app", now=_now(clock))).id == "app-deploy"
    forged_sub = github_token(github, repository="org/other", sub=sub, now=_now(clock))
    with pytest.raises(Unauthenticated):
        _verify(verifier, forged_sub)


def test_single_use_issuers_accept_each_jti_once(
    verifier: ExternalIssuerVerifier,
    issuers: IssuerRegistry,
    registry: IdentityRegistry,
    github: TestIssuer,
    clock: FakeClock,
) -> None:
    """The second presentation of the same token is a replay; a token without jti is refused."""
    issuers.create(_trusted(github, single_use=True), by=OPERATOR)
    _bind(registry, "app-deploy", GITHUB_ISSUER, "repo:org/app:ref:refs/heads/main")
    token = github_token(github, repository="org/app", now=_now(clock))
    _verify(verifier, token)
    with pytest.raises(Unauthenticated) as info:
        _verify(verifier, token)
    assert info.value.detail == "replayed jti"
    claims = {k: v for k, v in jws.parse(token, algorithms=ALGS).claims.items() if k != "jti"}
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        _verify(verifier, github.sign(claims, {"alg": "RS256", "kid": github.kid, "typ": "JWT"}))


@pytest.mark.parametrize(
    ("header", "claims", "reason"),
    [
        ({"alg": "PS256"}, {}, "algorithm PS256 is not allowed"),
        ({"kid": "unknown-kid"}, {}, "unknown kid"),
        ({"kid": None}, {}, "missing kid"),
        ({}, {"aud": ["https://someone-else.example"]}, "aud does not hold"),
        ({}, {"exp": 1}, "expired"),
        ({}, {"sub": ""}, "sub"),
    ],
)
def test_policy_failures_are_invalid_attestations_with_a_reason(
    verifier: ExternalIssuerVerifier,
    registry: IdentityRegistry,
    k8s: TestIssuer,
    clock: FakeClock,
    header: dict[str, object],
    claims: dict[str, object],
    reason: str,
) -> None:
    """Algorithm, kid, audience, time and subject failures: one opaque error, the reason in detail."""
    _bind(registry, "payments-api", K8S_ISSUER, K8S_SUB)
    body = {**kubernetes_claims(K8S_ISSUER, namespace="payments", service_account="api", now=_now(clock)), **claims}
    head = {k: v for k, v in {"kid": k8s.kid, **header}.items() if v is not None}
    alg = str(head.pop("alg", "RS256"))
    with pytest.raises(Unauthenticated) as info:
        _verify(verifier, jwt.encode(body, k8s.private, algorithm=alg, headers=head))
    assert info.value.message == "invalid attestation"
    assert reason in (info.value.detail or "")


def test_max_token_age_bounds_the_issuers_token_lifetime(
    verifier: ExternalIssuerVerifier,
    issuers: IssuerRegistry,
    registry: IdentityRegistry,
    github: TestIssuer,
    clock: FakeClock,
) -> None:
    """exp - iat above max_token_age is refused; within it passes."""
    issuers.create(_trusted(github, max_token_age=timedelta(hours=1)), by=OPERATOR)
    _bind(registry, "app-deploy", GITHUB_ISSUER, "repo:org/app:ref:refs/heads/main")
    with pytest.raises(Unauthenticated, match="invalid attestation"):
        _verify(verifier, github_token(github, repository="org/app", now=_now(clock)))
    short = github_token(github, repository="org/app", now=_now(clock), exp=int(_now(clock)) + 3600)
    assert _verify(verifier, short).id == "app-deploy"


# fetching JWKS over HTTP ------------------------------------------------------------------------------------
class Monotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(github: TestIssuer) -> Iterator[JwksServer]:
    with jwks_server(github.jwks_json()) as srv:
        yield srv


def test_fetched_keys_are_cached_for_the_ttl(server: JwksServer, github: TestIssuer) -> None:
    """Within the TTL no request is made; after it one is."""
    mono = Monotonic()
    fetcher = JwksFetcher(ttl=timedelta(minutes=5), monotonic=mono)
    issuer = _trusted(github, jwks_json="", jwks_url=server.url)
    for _ in range(3):
        assert fetcher.keys(issuer, refresh=False).get(github.kid) is not None
    assert len(server.requests) == 1
    mono.now += 301
    fetcher.keys(issuer, refresh=False)
    assert len(server.requests) == 2


def test_an_unknown_kid_refetches_once_rate_limited(server: JwksServer, github: TestIssuer) -> None:
    """A rotation is picked up by a refresh; refreshes inside min_interval make no request."""
    mono = Monotonic()
    fetcher = JwksFetcher(min_interval=timedelta(seconds=10), monotonic=mono)
    issuer = _trusted(github, jwks_json="", jwks_url=server.url)
    fetcher.keys(issuer, refresh=False)
    rotated = TestIssuer(GITHUB_ISSUER, kid="rotated")
    server.body = github.jwks_json(rotated)
    for _ in range(5):
        assert fetcher.keys(issuer, refresh=True).get("rotated") is None
    assert len(server.requests) == 1
    mono.now += 10
    assert fetcher.keys(issuer, refresh=True).get("rotated") is not None
    assert len(server.requests) == 2


def test_a_failing_source_serves_the_last_good_set_or_is_unavailable(server: JwksServer, github: TestIssuer) -> None:
    """After a good load a failing refetch keeps the old keys; with none, UNAVAILABLE (and no hammering)."""
    mono = Monotonic()
    fetcher = JwksFetcher(min_interval=timedelta(seconds=10), monotonic=mono)
    good = _trusted(github, jwks_json="", jwks_url=server.url)
    fetcher.keys(good, refresh=False)
    server.status = 500
    mono.now += 10
    assert fetcher.keys(good, refresh=True).get(github.kid) is not None
    never = _trusted(github, jwks_json="", jwks_url=server.url + "?never")
    with pytest.raises(Unavailable):
        fetcher.keys(never, refresh=False)
    count = len(server.requests)
    with pytest.raises(Unavailable):
        fetcher.keys(never, refresh=True)
    assert len(server.requests) == count


def test_a_slow_jwks_endpoint_times_out(server: JwksServer, github: TestIssuer) -> None:
    """The fetch gives up after its timeout instead of holding the request."""
    server.delay = 3.0
    fetcher = JwksFetcher(timeout=0.3)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        fetcher.keys(_trusted(github, jwks_json="", jwks_url=server.url), refresh=False)
    assert time.monotonic() - started < 2.5


def test_oversized_and_malformed_key_sets_are_not_used(server: JwksServer, github: TestIssuer) -> None:
    """A body over the cap or not a JWK Set is refused as UNAVAILABLE."""
    fetcher = JwksFetcher()
    server.body = "x" * (300 * 1024)
    with pytest.raises(Unavailable):
        fetcher.keys(_trusted(github, jwks_json="", jwks_url=server.url), refresh=False)
    server.body = '{"keys": "no"}'
    with pytest.raises(Unavailable):
        fetcher.keys(_trusted(github, jwks_json="", jwks_url=server.url + "?2"), refresh=False)


def test_redirects_are_followed_only_to_http(server: JwksServer, github: TestIssuer, tmp_path: Path) -> None:
    """A redirect to another http URL is followed; one to file:// (a local JWKS) is refused."""
    local = tmp_path / "jwks.json"
    local.write_text(github.jwks_json())
    with jwks_server(github.jwks_json()) as target:
        server.status, server.location = 302, target.url
        fetcher = JwksFetcher()
        assert fetcher.keys(_trusted(github, jwks_json="", jwks_url=server.url), refresh=False).get(github.kid)
        server.location = f"file://{local}"
        with pytest.raises(Unavailable):
            fetcher.keys(_trusted(github, jwks_json="", jwks_url=server.url + "?file"), refresh=False)


def test_jwks_files_are_read_and_cached(tmp_path: Path, github: TestIssuer) -> None:
    """A JWKS file source works like a URL source; a missing file is UNAVAILABLE."""
    path = tmp_path / "jwks.json"
    path.write_text(github.jwks_json())
    fetcher = JwksFetcher()
    assert fetcher.keys(_trusted(github, jwks_json="", jwks_file=str(path)), refresh=False).get(github.kid)
    with pytest.raises(Unavailable):
        fetcher.keys(_trusted(github, jwks_json="", jwks_file=str(tmp_path / "missing.json")), refresh=False)

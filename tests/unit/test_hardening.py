"""Hardening in core and at the edges, with a fake clock: sampled audit of anonymous failures
and its retention, the JWKS fetcher that never holds a request, safe redirects, bindings by
index, and inputs that must be INVALID_ARGUMENT rather than INTERNAL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from broker.api import convert
from broker.core.audit import AuditFilter, Auditor
from broker.core.clock import FakeClock
from broker.core.errors import InvalidArgument, Unauthenticated, Unavailable
from broker.core.exchange import TokenExchange
from broker.core.external import BindingIndex
from broker.core.generators import Generator
from broker.core.identities import Binding, Identity, IdentityKind, IdentityRegistry
from broker.core.issuers import TrustedIssuer
from broker.core.secrets import RotationPolicy, SecretManager, VersionState
from broker.runtime.jwks_fetch import JwksFetcher, redirect_allowed
from broker.store.sql import SqlStore
from tests.security.issuer_kit import GITHUB_ISSUER, TestIssuer, jwks_server
from tests.unit.conftest import ANYONE, OPERATOR
from tests.unit.exchange_kit import Workload, delegate

MINUTE = timedelta(minutes=1)


# item 5: anonymous failures are sampled; the trail has a retention --------------------------------
def _delegations(auditor: Auditor) -> list[dict[str, object]]:
    events, _ = auditor.list(page_size=1000, page_token="", flt=AuditFilter(action="token.delegate"))
    return [dict(e.details) for e in events]


def test_three_thousand_junk_delegations_write_two_events_not_three_thousand(
    exchange: TokenExchange, auditor: Auditor, agent: Workload, clock: FakeClock
) -> None:
    """Bad subject tokens from nobody: the first is written, the rest counted, one count event at the window's end."""
    for n in range(3000):
        with pytest.raises(Unauthenticated):
            delegate(exchange, f"junk-{n}", agent.assertion())
    assert len(_delegations(auditor)) == 1
    clock.advance(MINUTE)
    assert auditor.flush() == 1
    first, summary = reversed(_delegations(auditor))
    assert first["sampled"] is True and "count" not in first
    assert summary["count"] == 2999 and summary["sampled"] is True


def test_kinds_of_reason_are_sampled_apart_and_caller_text_does_not_make_new_kinds(
    store: SqlStore, clock: FakeClock
) -> None:
    """A reason with quoted or numbered parts is one kind; another reason is another; the table is bounded."""
    auditor = Auditor(store, clock, max_kinds=3)
    for n in range(50):
        auditor.record_unauthenticated(
            "token.delegate", by=ANYONE, error="unauthenticated", reason=f"no identity 'x{n}' at {n}"
        )
    auditor.record_unauthenticated("token.delegate", by=ANYONE, error="unauthenticated", reason="replayed jti")
    for n in range(50):
        auditor.record_unauthenticated(
            "token.delegate", by=ANYONE, error="unauthenticated", reason=f"reason{chr(97 + n % 26)}"
        )
    assert len(_delegations(auditor)) <= 4


def test_sampled_reads_write_one_event_per_caller_secret_and_outcome_a_minute(
    store: SqlStore, clock: FakeClock
) -> None:
    """BROKER_AUDIT_SECRET_READS=per-minute: 500 reads by one caller are the first read and,
    at the window's end, one event with the count; another caller or outcome is its own."""
    auditor = Auditor(store, clock)
    for _ in range(500):
        auditor.record_sampled("secret.access", by=OPERATOR, target="db", version=3)
    auditor.record_sampled("secret.verify", by=OPERATOR, target="db", outcome="failure", version=0)
    clock.advance(MINUTE)
    assert auditor.flush() == 2
    events, _ = auditor.list(page_size=100, page_token="", flt=AuditFilter(target="db"))
    shown = [(e.action, e.actor, e.outcome, e.details.get("count")) for e in sorted(events, key=lambda e: e.seq)]
    assert shown == [
        ("secret.access", OPERATOR.actor, "success", None),
        ("secret.verify", OPERATOR.actor, "failure", None),
        ("secret.access", OPERATOR.actor, "success", 499),
    ]


def test_events_older_than_the_retention_are_purged_in_bounded_batches(store: SqlStore, clock: FakeClock) -> None:
    """purge(before) deletes the old events only, batch by batch."""
    auditor = Auditor(store, clock)
    for n in range(25):
        auditor.record("identity.create", by=OPERATOR, target=f"old-{n}")
    clock.advance(timedelta(days=2))
    auditor.record("identity.create", by=OPERATOR, target="new")
    assert auditor.purge(clock.now() - timedelta(days=1), batch=10, batches=2) == 20
    assert auditor.purge(clock.now() - timedelta(days=1), batch=10) == 5
    events, _ = auditor.list(page_size=100, page_token="", flt=AuditFilter())
    assert [e.target for e in events] == ["new"]


# item 3: fetches never hold request threads -------------------------------------------------------------
def _url_issuer(url: str) -> TrustedIssuer:
    return TrustedIssuer(issuer=GITHUB_ISSUER, jwks_url=url, audience="https://broker.example.com")


def test_while_a_fetch_runs_every_other_caller_fails_at_once() -> None:
    """The caller that starts a slow fetch waits at most `wait`; the others meanwhile get UNAVAILABLE at once."""
    github = TestIssuer(GITHUB_ISSUER)
    with jwks_server(github.jwks_json()) as server:
        server.delay = 2.0
        fetcher = JwksFetcher(wait=0.3, timeout=5)
        issuer = _url_issuer(server.url)
        started = time.monotonic()
        with pytest.raises(Unavailable):
            fetcher.keys(issuer, refresh=True)
        assert time.monotonic() - started < 1.0
        times = []
        for _ in range(20):
            t = time.monotonic()
            with pytest.raises(Unavailable):
                fetcher.keys(issuer, refresh=True)
            times.append(time.monotonic() - t)
        assert max(times) < 0.05
        assert len(server.requests) == 1
        deadline = time.monotonic() + 5  # the fetch finishes in the background and serves the next caller
        while time.monotonic() < deadline:
            try:
                assert fetcher.keys(issuer, refresh=False).get(github.kid) is not None
                break
            except Unavailable:
                time.sleep(0.05)
        else:
            raise AssertionError("the background fetch never landed")
        fetcher.close()


def test_a_hundred_threads_on_unknown_kids_do_not_queue_behind_a_black_holed_url() -> None:
    """Threads asking for a black-holed issuer's keys all return within the wait, not the fetch timeout."""
    with jwks_server("{}") as server:
        server.delay = 8.0
        fetcher = JwksFetcher(wait=0.5, timeout=8)
        issuer = _url_issuer(server.url)
        durations: list[float] = []

        def ask() -> None:
            t = time.monotonic()
            with pytest.raises(Unavailable):
                fetcher.keys(issuer, refresh=True)
            durations.append(time.monotonic() - t)

        threads = [threading.Thread(target=ask) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        assert len(durations) == 100 and max(durations) < 1.0
        fetcher.close()


# item 6: redirects --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("origin", "target", "allowed"),
    [
        ("https://idp.example/jwks", "https://cdn.example/jwks", True),
        ("https://idp.example/jwks", "http://cdn.example/jwks", False),
        ("https://idp.example/jwks", "http://127.0.0.1:8200/v1/sys", False),
        ("https://idp.example/jwks", "https://localhost/jwks", False),
        ("http://127.0.0.1:9000/jwks", "http://127.0.0.1:9001/jwks", True),
        ("http://127.0.0.1:9000/jwks", "http://internal.example/jwks", False),
        ("https://idp.example/jwks", "file:///etc/passwd", False),
    ],
)
def test_a_redirect_leads_only_where_the_url_itself_could_point(origin: str, target: str, allowed: bool) -> None:
    """No https -> http, no remote -> loopback, no non-http scheme."""
    assert redirect_allowed(origin, target) is allowed


def test_a_redirect_from_a_loopback_url_to_a_remote_http_url_is_not_followed() -> None:
    """The redirect is refused before any request to the target is made."""
    github = TestIssuer(GITHUB_ISSUER)
    with jwks_server(github.jwks_json()) as server:
        server.status, server.location = 302, "http://jwks.internal.example/keys"
        fetcher = JwksFetcher()
        with pytest.raises(Unavailable) as refused:
            fetcher.keys(_url_issuer(server.url), refresh=False)
        assert refused.value.message == "the issuer's keys could not be loaded"
        fetcher.close()


# item 4: bindings by index, misses remembered ---------------------------------------------------------
def test_binding_lookups_are_one_indexed_read_and_misses_are_remembered(store: SqlStore, clock: FakeClock) -> None:
    """A miss is not read again within the negative TTL unless an identity was written; a hit always is."""
    reads: list[tuple[str, str]] = []

    class Counting:
        def bound_identity_ids(self, issuer: str, subject: str) -> list[str]:
            reads.append((issuer, subject))
            return store.bound_identity_ids(issuer, subject)

    index = BindingIndex(Counting(), clock, negative_ttl=timedelta(seconds=2))
    registry = IdentityRegistry(
        store, clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1), on_write=index.forget
    )
    assert index.candidates("https://k8s", "sa:a") == ()
    assert index.candidates("https://k8s", "sa:a") == ()
    assert len(reads) == 1
    registry.create(
        Identity(id="a", kind=IdentityKind.SERVICE_ACCOUNT, bindings=(Binding("https://k8s", "sa:a"),)), by=OPERATOR
    )
    assert index.candidates("https://k8s", "sa:a") == ("a",)
    clock.advance(timedelta(seconds=3))
    assert index.candidates("https://k8s", "sa:b") == ()
    assert len(reads) == 3


def test_the_binding_index_follows_updates_and_deletes(store: SqlStore, clock: FakeClock) -> None:
    """Changing an identity's bindings moves its index rows; deleting it drops them."""
    registry = IdentityRegistry(store, clock, Auditor(store, clock), max_token_ttl=timedelta(hours=1))
    registry.create(
        Identity(id="a", kind=IdentityKind.SERVICE_ACCOUNT, bindings=(Binding("https://k8s", "sa:a"),)), by=OPERATOR
    )
    registry.update("a", {"bindings": (Binding("https://k8s", "sa:b"),)}, by=OPERATOR)
    assert store.bound_identity_ids("https://k8s", "sa:a") == []
    assert store.bound_identity_ids("https://k8s", "sa:b") == ["a"]
    registry.delete("a", by=OPERATOR)
    assert store.bound_identity_ids("https://k8s", "sa:b") == []


def test_a_binding_to_an_issuer_that_does_not_exist_is_refused(store: SqlStore, clock: FakeClock) -> None:
    """FAILED_PRECONDITION naming the binding: it could never match."""
    registry = IdentityRegistry(
        store,
        clock,
        Auditor(store, clock),
        max_token_ttl=timedelta(hours=1),
        issuer_exists=lambda url: url == "https://k8s",
    )
    registry.create(
        Identity(id="a", kind=IdentityKind.SERVICE_ACCOUNT, bindings=(Binding("https://k8s", "sa:a"),)), by=OPERATOR
    )
    with pytest.raises(Exception, match=r"bindings\[0\].issuer: 'https://typo' is not a trusted issuer"):
        registry.update("a", {"bindings": (Binding("https://typo", "sa:a"),)}, by=OPERATOR)


# item 7: inputs that used to be INTERNAL ---------------------------------------------------------------
def test_durations_and_timestamps_out_of_protobuf_range_are_invalid_arguments() -> None:
    """2^62 s and year 10000 are refused, naming the field, instead of overflowing."""
    with pytest.raises(InvalidArgument, match="requested_ttl: out of range"):
        convert.from_duration(duration_pb2.Duration(seconds=2**62), True, "requested_ttl")
    with pytest.raises(InvalidArgument, match="expire_time: out of range"):
        convert.from_timestamp(timestamp_pb2.Timestamp(seconds=253402300800), True, "expire_time")
    assert convert.from_duration(duration_pb2.Duration(seconds=60), True, "x") == timedelta(seconds=60)


def test_oversize_versions_page_tokens_and_unicode_digits_are_invalid_arguments(
    store: SqlStore, clock: FakeClock
) -> None:
    """'²' passes str.isdigit() but is no page token; a version past 2^31 is refused before the store."""
    secrets = SecretManager(store, clock, Auditor(store, clock))
    secrets.create(
        "db", generator=Generator.PASSWORD, policy=RotationPolicy(interval=None, grace_period=MINUTE), by=OPERATOR
    )
    for token in ("²", "1" * 40, "-1"):
        with pytest.raises(InvalidArgument, match="page_token"):
            secrets.versions("db", page_size=10, page_token=token)
    with pytest.raises(InvalidArgument, match="version"):
        secrets.access("db", 2**40, by=OPERATOR)
    with pytest.raises(InvalidArgument, match="page_token"):
        Auditor(store, clock).list(page_size=1, page_token="x" * 10_000, flt=AuditFilter())


# item 12: what VerifySecretValue says of an expired value ---------------------------------------------
def test_an_expired_value_is_named_while_its_material_is_retained_and_unknown_once_destroyed(
    store: SqlStore, clock: FakeClock
) -> None:
    """Past its grace, the old value answers valid=False with its version and EXPIRED (retention keeps the
    material); after the retention it is destroyed and reads as any unknown value."""
    secrets = SecretManager(store, clock, Auditor(store, clock))
    policy = RotationPolicy(interval=None, grace_period=MINUTE, retention=timedelta(hours=1))
    secrets.create("db", generator=Generator.PASSWORD, policy=policy, by=OPERATOR)
    old = secrets.access("db", by=OPERATOR).value
    assert old is not None
    secrets.rotate("db", by=OPERATOR)
    clock.advance(2 * MINUTE)
    secrets.expire(clock.now())
    answer = secrets.verify("db", old.reveal(), by=OPERATOR)
    assert (answer.valid, answer.version, answer.state) == (False, 1, VersionState.EXPIRED)
    clock.advance(timedelta(hours=2))
    secrets.expire(clock.now())
    gone = secrets.verify("db", old.reveal(), by=OPERATOR)
    assert (gone.valid, gone.version, gone.state) == (False, 0, None)

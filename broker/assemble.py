"""Pure wiring: settings + clock + an opened store -> core services -> servicers and the HTTP app.

Nothing here migrates, creates keys, binds a port or starts a thread that serves: that is
bootstrap.py (first start) and lifecycle.py (the process). Tests build the same graph
with ``assemble`` on a temporary SQLite store and a fake clock.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, cast

import grpc
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from broker_client.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    issuer_pb2,
    issuer_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)

from . import http, workers
from .api.audit import AuditServicer
from .api.auth import Authenticator
from .api.handler import ApiContext, RpcMetrics, add_servicer
from .api.identity import IdentityServicer
from .api.issuer import IssuerServicer
from .api.limits import CallLimits
from .api.login import AuthServicer, PasswordWork
from .api.secret import SecretServicer
from .api.token import TokenServicer
from .api.user import UserServicer
from .config import Settings
from .core.attestation import AssertionVerifier
from .core.audit import Announcer, Auditor
from .core.audit_chain import AuditChain
from .core.certificates import CertificateVerifier
from .core.clock import Clock
from .core.enrolment import MfaEnrolment
from .core.errors import Unavailable
from .core.exchange import TokenExchange
from .core.external import BindingIndex, ExternalIssuerVerifier
from .core.identities import IdentityRegistry
from .core.issuers import IssuerRegistry, issuer_from_config
from .core.keys import Keyring
from .core.liveness import LiveTokens
from .core.people import PasswordHasher, PasswordPolicy, PeopleRegistry
from .core.privacy import PersonalData
from .core.ratelimit import Limiter, RateLimit, RateLimitStore
from .core.secrets import SecretManager
from .core.sessions import Logins, SessionLifetimes
from .core.throttle import LoginThrottle, ThrottlePolicy
from .core.tokens import TokenCore
from .metrics import BrokerMetrics, StateCollector, timed_store
from .runtime import inline
from .runtime.audit_sink import JsonLinesSink
from .runtime.audit_writer import AuditWriter
from .runtime.blocking import blocking
from .runtime.jwks_fetch import JwksFetcher
from .runtime.replay import ReplayGuard
from .scheduler import Scheduler
from .store.base import Store

#: Every service this broker declares (reflection and health list them).
SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (token_pb2, "TokenService"),
        (identity_pb2, "IdentityService"),
        (issuer_pb2, "IssuerService"),
        (secret_pb2, "SecretService"),
        (auth_pb2, "AuthService"),
        (auth_pb2, "UserService"),
        (audit_pb2, "AuditService"),
    )
)
#: Password hashes (Argon2id, 64 MiB each) computed at once per process (api/login.py).
PASSWORD_HASHING_SLOTS = 1


def common_passwords() -> list[str]:
    """The bundled list of the 20,000 most common passwords (Django's, BSD-3-Clause)."""
    data = resources.files("broker").joinpath("wordlists/common-passwords.txt.gz").read_bytes()
    return gzip.decompress(data).decode().split()


@dataclass
class Broker:
    """The assembled daemon: every long-lived object, built once from Settings."""

    settings: Settings
    clock: Clock
    store: Store
    keyring: Keyring
    tokens: TokenCore
    registry: IdentityRegistry
    people: PeopleRegistry
    logins: Logins
    enrolment: MfaEnrolment
    throttle: LoginThrottle
    auditor: Auditor
    audit_chain: AuditChain
    live: LiveTokens
    exchange: TokenExchange
    issuers: IssuerRegistry
    jwks: JwksFetcher
    replay: ReplayGuard
    secrets: SecretManager
    scheduler: Scheduler
    metrics_registry: CollectorRegistry
    metrics: BrokerMetrics
    state_metrics: StateCollector
    stopping: asyncio.Event
    audit_sink: JsonLinesSink | None
    audit_writer: AuditWriter
    rate_buckets: RateLimitStore | None

    def close(self) -> None:
        """Stop the background writers and fetchers, then close the store (after serving ends)."""
        self.replay.close()
        self.audit_writer.close()
        self.jwks.close()
        self.store.close()
        if self.audit_sink is not None:
            self.audit_sink.close()


def assemble(settings: Settings, clock: Clock, store: Store) -> Broker:
    """Wire the core services on ``store``; configured issuers are parsed (a bad one raises)."""
    collectors = CollectorRegistry()
    metrics = BrokerMetrics(collectors)
    shares_buckets = settings.shares_rate_limits and isinstance(store, RateLimitStore)
    store = timed_store(store, metrics.store_latency)
    rate_buckets = cast(RateLimitStore, store) if shares_buckets else None
    # A shared bucket is a store write: inline, the exchange goes to a worker thread first.
    shared = blocking(rate_buckets) if rate_buckets is not None else None
    # Reads that an inline exchange may need go through ``blocking`` (runtime/blocking.py).
    io = blocking(store)
    keyring = Keyring(io, clock, alg=settings.signing_alg, max_token_ttl=settings.max_token_ttl)
    tokens = TokenCore(keyring, clock, issuer=settings.issuer, is_revoked=store.is_token_revoked)
    jwks = JwksFetcher()
    sink = JsonLinesSink(settings.audit_log) if settings.audit_log else None
    replica = f"{socket.gethostname()}/{os.getpid()}"
    announce = Announcer(sink)
    audit_writer = AuditWriter(store, announce=announce)
    auditor = Auditor(
        store,
        clock,
        replica=replica,
        announce=announce,
        observer=metrics.observe_audit,
        append=inline.deferring_audit(audit_writer.append),
    )
    audit_chain = AuditChain(store, auditor, tokens, interval=settings.audit_checkpoint_interval)
    issuers = IssuerRegistry(
        io,
        clock,
        auditor,
        reserved=settings.issuer,
        configured=[issuer_from_config(raw, i, reserved=settings.issuer) for i, raw in enumerate(settings.issuers)],
        keys=jwks,
    )
    bindings = BindingIndex(io, clock, negative_ttl=settings.identity_cache_ttl)
    registry = IdentityRegistry(
        io,
        clock,
        auditor,
        max_token_ttl=settings.max_token_ttl,
        cache_ttl=settings.identity_cache_ttl,
        on_write=bindings.forget,
        issuer_exists=issuers.exists,
    )
    replay = ReplayGuard(store.consume_jtis)
    consume_jti = inline.deferring(replay.consume)
    assertions = AssertionVerifier(registry.lookup, clock, audience=settings.issuer, consume_jti=consume_jti)
    # Only fetching an issuer's keys is I/O of its own; the issuer list reads through ``io``.
    external = ExternalIssuerVerifier(
        issuers, bindings, registry.lookup, clock, consume_jti=consume_jti, keys=blocking(jwks)
    )
    people = PeopleRegistry(
        io,
        clock,
        auditor,
        policy=PasswordPolicy(common_passwords()),
        hasher=PasswordHasher(),
        end_sessions=lambda username, reason: io.end_families_of(username, clock.now(), reason),
        erase_sessions=io.delete_families_of,
        cache_ttl=settings.identity_cache_ttl,
    )
    throttle = LoginThrottle(io, clock, ThrottlePolicy(max_backoff=settings.login_max_backoff))
    logins = Logins(
        people,
        io,
        throttle,
        tokens,
        auditor,
        clock,
        lifetimes=SessionLifetimes(settings.login_access_ttl, settings.login_idle, settings.login_absolute),
        mfa_for_admins=settings.mfa_for_admins,
    )
    enrolment = MfaEnrolment(people, throttle, auditor, clock, issuer_name=f"broker {settings.issuer}")
    live = LiveTokens(
        tokens,
        registry.lookup,
        trust_domain=settings.trust_domain,
        people=people.lookup,
        live_session=logins.is_live_session,
    )
    exchange = TokenExchange(
        tokens,
        assertions,
        live,
        auditor,
        clock,
        max_ttl=settings.max_token_ttl,
        default_ttl=settings.default_token_ttl,
        max_delegation_depth=settings.max_delegation_depth,
        revoke_jti=store.revoke_token,
        external=external,
        certificates=blocking(CertificateVerifier(bindings, registry.lookup)),
        per_identity=_limiter("exchange_per_identity", settings.rate_limit_exchange, clock, metrics, shared),
    )
    secrets = SecretManager(store, clock, auditor, sample_reads=settings.audit_secret_reads == "per-minute")
    scheduler = Scheduler(
        store,
        secrets,
        keyring,
        auditor,
        clock,
        tick=settings.scheduler_tick,
        lease_ttl=settings.leader_lease_ttl,
        signing_key_rotation=settings.signing_key_rotation,
        jwks_cache_ttl=settings.jwks_cache_ttl,
        audit_retention=settings.audit_retention,
        audit_chain=audit_chain,
        on_failure=lambda job: metrics.job_failures.labels(job).inc(),
        purge_logins=logins.purge,
    )
    for job in scheduler.job_names():
        metrics.job_failures.labels(job)
    state_metrics = StateCollector(
        is_leader=scheduler.is_leader,
        signing_key_since=lambda: _signing_key_since(keyring, clock),
        audit_chain_length=lambda: auditor.last_seq,
        next_rotation=lambda: scheduler.next_rotation,
        now=clock.now,
    )
    collectors.register(state_metrics)
    return Broker(
        settings=settings,
        clock=clock,
        store=store,
        keyring=keyring,
        tokens=tokens,
        registry=registry,
        people=people,
        logins=logins,
        enrolment=enrolment,
        throttle=throttle,
        auditor=auditor,
        audit_chain=audit_chain,
        live=live,
        exchange=exchange,
        issuers=issuers,
        jwks=jwks,
        replay=replay,
        secrets=secrets,
        scheduler=scheduler,
        metrics_registry=collectors,
        metrics=metrics,
        state_metrics=state_metrics,
        stopping=asyncio.Event(),
        audit_sink=sink,
        audit_writer=audit_writer,
        rate_buckets=rate_buckets,
    )


def _limiter(
    name: str, setting: str, clock: Clock, metrics: BrokerMetrics, shared: RateLimitStore | None
) -> Limiter | None:
    limit = RateLimit.parse(setting)
    if limit is None:
        return None
    return Limiter(name, limit, clock, on_refused=metrics.rate_limited.labels(name).inc, shared=shared)


def _signing_key_since(keyring: Keyring, clock: Clock) -> datetime | None:
    try:
        return keyring.signing_key(clock.now()).activate_time
    except Unavailable:
        return None


def grpc_server(broker: Broker, health_servicer: health.aio.HealthServicer) -> grpc.aio.Server:
    """A gRPC server (no port yet) with every service, health and reflection registered."""
    auth = Authenticator(broker.live.verify, issuer=broker.tokens.issuer)
    settings, clock, metrics = broker.settings, broker.clock, broker.metrics
    limits = CallLimits(
        by_address=_limiter("per_client_address", settings.rate_limit_address, clock, metrics, broker.rate_buckets),
        by_caller=_limiter(
            "secret_reads_per_caller", settings.rate_limit_secret_reads, clock, metrics, broker.rate_buckets
        ),
    )
    api = ApiContext(
        auth=auth,
        metrics=RpcMetrics(broker.metrics_registry),
        limits=limits,
        timeout=settings.rpc_timeout.total_seconds(),
    )
    # 2 MiB: room for a 1 MiB token plus the request around it, so oversized tokens reach
    # jws.parse and get its INVALID_ARGUMENT rather than gRPC's RESOURCE_EXHAUSTED.
    # The port is shared only between this broker's own workers (workers.py).
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 2 << 20),
            ("grpc.so_reuseport", int(broker.settings.workers > 1)),
        ],
    )
    work = PasswordWork(PASSWORD_HASHING_SLOTS)
    servicers: list[tuple[Callable[[Any, Any], None], Any]] = [
        (
            token_pb2_grpc.add_TokenServiceServicer_to_server,
            TokenServicer(
                api, broker.exchange, broker.tokens, broker.keyring, broker.clock, broker.replay, broker.audit_writer
            ),
        ),
        (
            identity_pb2_grpc.add_IdentityServiceServicer_to_server,
            IdentityServicer(api, broker.registry),
        ),
        (audit_pb2_grpc.add_AuditServiceServicer_to_server, AuditServicer(api, broker.auditor, broker.audit_chain)),
        (issuer_pb2_grpc.add_IssuerServiceServicer_to_server, IssuerServicer(api, broker.issuers)),
        (
            secret_pb2_grpc.add_SecretServiceServicer_to_server,
            SecretServicer(api, broker.secrets, broker.stopping, broker.clock),
        ),
        (auth_pb2_grpc.add_AuthServiceServicer_to_server, AuthServicer(api, broker.logins, broker.enrolment, work)),
        (
            auth_pb2_grpc.add_UserServiceServicer_to_server,
            UserServicer(
                api,
                broker.people,
                broker.logins,
                broker.enrolment,
                PersonalData(broker.people, broker.store, broker.store, broker.auditor),
                broker.throttle,
                work,
            ),
        ),
    ]
    for add_to_server, servicer in servicers:
        add_servicer(server, add_to_server, servicer)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    return server


def http_app(broker: Broker, serving: Callable[[], bool]) -> web.Application:
    """The HTTP listener's application (JWKS, discovery, metrics, health)."""
    settings = broker.settings
    return http.build_app(
        issuer=settings.issuer,
        signing_alg=settings.signing_alg,
        keyring=broker.keyring,
        clock=broker.clock,
        registry=workers.exposed_registry(broker.metrics_registry, broker.state_metrics),
        ping_store=broker.store.ping,
        jwks_cache_ttl=settings.jwks_cache_ttl,
        serving=serving,
    )

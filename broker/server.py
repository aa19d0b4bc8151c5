"""Assembly only: store -> core services -> gRPC + HTTP listeners -> (scheduler).

``build`` wires the object graph from one frozen Settings (synchronous, usable from
tests); ``serve`` runs it until SIGTERM/SIGINT and shuts down gracefully: health goes
NOT_SERVING, in-flight RPCs get ``shutdown_grace`` to finish, then the store closes.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import make_url

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

from . import __version__, http, logs, workers
from .api.audit import AuditServicer
from .api.auth import Authenticator
from .api.handler import ApiContext, RpcMetrics
from .api.identity import IdentityServicer
from .api.issuer import IssuerServicer
from .api.secret import SecretServicer
from .api.token import TokenServicer
from .bootstrap import ensure_admin
from .config import Settings
from .core import inline
from .core.attestation import AssertionVerifier
from .core.audit import Auditor
from .core.clock import Clock, SystemClock
from .core.errors import BrokerError
from .core.exchange import TokenExchange
from .core.identities import IdentityRegistry
from .core.issuers import BindingIndex, ExternalIssuerVerifier, IssuerRegistry, issuer_from_config
from .core.keys import Keyring
from .core.replay import ReplayGuard
from .core.secrets import SecretManager
from .core.tokens import TokenCore
from .jwks_fetch import JwksFetcher
from .scheduler import Scheduler
from .store import open_store
from .store.base import Store
from .store.sealing import Sealer, load_or_create_kek

_log = structlog.get_logger("broker.server")

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


@dataclass
class Broker:
    """The assembled daemon: every long-lived object, built once from Settings."""

    settings: Settings
    clock: Clock
    store: Store
    keyring: Keyring
    tokens: TokenCore
    registry: IdentityRegistry
    auditor: Auditor
    exchange: TokenExchange
    issuers: IssuerRegistry
    replay: ReplayGuard
    metrics_registry: CollectorRegistry
    admin_key_created: bool
    secrets: SecretManager
    scheduler: Scheduler
    stopping: asyncio.Event


def build(settings: Settings, clock: Clock | None = None) -> Broker:
    """Wire store -> core services from settings (no listeners yet)."""
    clock = clock or SystemClock()
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # database, admin key, KEK
    sealer = Sealer(load_or_create_kek(settings.kek or None, settings.kek_file))
    store = open_store(settings, sealer)
    store.migrate()
    keyring = Keyring(store, clock, alg=settings.signing_alg, max_token_ttl=settings.max_token_ttl)
    keyring.ensure_initial_key()
    tokens = TokenCore(keyring, clock, issuer=settings.issuer, is_revoked=store.is_token_revoked)
    registry = IdentityRegistry(
        store, clock, max_token_ttl=settings.max_token_ttl, cache_ttl=settings.identity_cache_ttl
    )
    auditor = Auditor(store, clock)
    replay = ReplayGuard(store.consume_jtis)
    consume_jti = inline.deferring(replay.consume)
    assertions = AssertionVerifier(registry.lookup, clock, audience=settings.issuer, consume_jti=consume_jti)
    jwks_fetcher = JwksFetcher()
    issuers = IssuerRegistry(
        store,
        clock,
        reserved=settings.issuer,
        configured=[issuer_from_config(raw, i, reserved=settings.issuer) for i, raw in enumerate(settings.issuers)],
        keys=jwks_fetcher,
    )
    external = ExternalIssuerVerifier(
        issuers, BindingIndex(store, clock), registry.lookup, clock, consume_jti=consume_jti, keys=jwks_fetcher
    )
    exchange = TokenExchange(
        tokens,
        assertions,
        registry.lookup,
        auditor,
        clock,
        max_ttl=settings.max_token_ttl,
        default_ttl=settings.default_token_ttl,
        trust_domain=settings.trust_domain,
        max_delegation_depth=settings.max_delegation_depth,
        revoke_jti=store.revoke_token,
        external=external,
    )
    created = ensure_admin(registry, settings.admin_key_file)
    secrets = SecretManager(store, clock)
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
    )
    return Broker(
        settings=settings,
        clock=clock,
        store=store,
        keyring=keyring,
        tokens=tokens,
        registry=registry,
        auditor=auditor,
        exchange=exchange,
        issuers=issuers,
        replay=replay,
        metrics_registry=CollectorRegistry(),
        admin_key_created=created,
        secrets=secrets,
        scheduler=scheduler,
        stopping=asyncio.Event(),
    )


def _unimplemented(servicer_class: Any) -> Any:
    """An instance of a generated servicer base class, whose every RPC is UNIMPLEMENTED."""
    return servicer_class()


def _grpc_server(broker: Broker, health_servicer: health.aio.HealthServicer) -> grpc.aio.Server:
    auth = Authenticator(broker.exchange.verify_broker_token, issuer=broker.tokens.issuer)
    api = ApiContext(auth=auth, metrics=RpcMetrics(broker.metrics_registry))
    # 2 MiB: room for a 1 MiB token plus the request around it, so oversized tokens reach
    # jws.parse and get its INVALID_ARGUMENT rather than gRPC's RESOURCE_EXHAUSTED.
    # The port is shared only between this broker's own workers (workers.py).
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 2 << 20),
            ("grpc.so_reuseport", int(broker.settings.workers > 1)),
        ],
    )
    token_pb2_grpc.add_TokenServiceServicer_to_server(
        TokenServicer(api, broker.exchange, broker.tokens, broker.keyring, broker.clock, broker.replay),
        server,
    )
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(
        IdentityServicer(api, broker.registry, broker.auditor), server
    )
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(api, broker.auditor), server)
    issuer_pb2_grpc.add_IssuerServiceServicer_to_server(IssuerServicer(api, broker.issuers, broker.auditor), server)
    # Declared in the API, not built yet: the generated bases answer UNIMPLEMENTED.
    secret_pb2_grpc.add_SecretServiceServicer_to_server(
        SecretServicer(api, broker.secrets, broker.auditor, broker.stopping), server
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(_unimplemented(auth_pb2_grpc.AuthServiceServicer), server)
    auth_pb2_grpc.add_UserServiceServicer_to_server(_unimplemented(auth_pb2_grpc.UserServiceServicer), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    return server


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL (vault://...)
        return url.rsplit("@", maxsplit=1)[-1]


def _banner(broker: Broker) -> str:
    s = broker.settings
    key_note = "created now; keep it secret" if broker.admin_key_created else "existing"
    return "\n".join(
        [
            f"identity broker {__version__} serving",
            f"  gRPC       {s.grpc_listen}",
            f"  HTTP       http://{s.http_listen}  (JWKS at {s.issuer}/.well-known/jwks.json)",
            f"  issuer     {s.issuer}",
            f"  store      {_redacted(s.store_url)}",
            f"  admin key  {s.admin_key_file} ({key_note})",
        ]
    )


async def _start_http(broker: Broker, serving: Callable[[], bool]) -> web.AppRunner:
    settings = broker.settings
    app = http.build_app(
        issuer=settings.issuer,
        keyring=broker.keyring,
        clock=broker.clock,
        registry=workers.exposed_registry(broker.metrics_registry),
        ping_store=broker.store.ping,
        jwks_cache_ttl=settings.jwks_cache_ttl,
        serving=serving,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = settings.http_listen.rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    return runner


async def _until_stopped(pool: workers.WorkerPool | None, *, is_worker: bool) -> int:
    """Wait for SIGTERM/SIGINT, a dead worker (status 1) or, in a worker, a gone primary."""
    stop = asyncio.Event()
    status = 0
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if pool is not None:

        def worker_died(reason: str) -> None:
            nonlocal status
            _log.error("worker died; stopping the broker", reason=reason)
            status = 1
            stop.set()

        pool.watch(loop, worker_died)
    sentinel = workers.parent_sentinel() if is_worker else None
    if sentinel is not None:
        loop.add_reader(sentinel, stop.set)
    await stop.wait()
    return status


async def serve(
    broker: Broker,
    *,
    worker: int = 0,
    pool: workers.WorkerPool | None = None,
    serving: Callable[[], object] | None = None,
) -> int:
    """Run an assembled broker until SIGTERM or SIGINT; returns the exit status.

    ``worker`` 0 is the primary: it alone serves HTTP, and owns ``pool`` (/readyz waits
    for every worker). A worker (workers.py) calls ``serving`` once it serves, and stops
    also when the primary is gone.
    """
    settings = broker.settings
    health_servicer = health.aio.HealthServicer()
    server = _grpc_server(broker, health_servicer)
    if server.add_insecure_port(settings.grpc_listen) == 0:
        raise OSError(f"cannot listen on {settings.grpc_listen} (gRPC)")
    started = asyncio.Event()  # /readyz answers 200 while this process and every worker serve
    runner = (
        await _start_http(broker, lambda: started.is_set() and (pool is None or pool.serving()))
        if worker == 0
        else None
    )
    await server.start()
    await asyncio.to_thread(broker.scheduler.start)
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if worker == 0:
        print(_banner(broker), flush=True)
        _log.info("serving", grpc=settings.grpc_listen, http=settings.http_listen, issuer=settings.issuer)
    else:
        _log.info("serving", grpc=settings.grpc_listen)
    started.set()
    if serving is not None:
        serving()

    status = await _until_stopped(pool, is_worker=worker != 0)

    _log.info("shutting down", grace_seconds=settings.shutdown_grace.total_seconds())
    started.clear()  # /readyz: 503 from now on
    if pool is not None:
        pool.terminate()  # the workers shut down gracefully alongside
    await health_servicer.enter_graceful_shutdown()
    broker.stopping.set()  # long-lived streams (WatchSecret) end now, not after the grace
    await server.stop(settings.shutdown_grace.total_seconds())
    if runner is not None:
        await runner.cleanup()
    await asyncio.to_thread(broker.replay.close)
    await asyncio.to_thread(broker.scheduler.stop)
    await asyncio.to_thread(broker.store.close)
    _log.info("stopped")
    return status


def run(settings: Settings) -> int:
    """Entry point for ``broker serve``; returns the exit status.

    Start-up failures (a bad key-encryption key, an unreachable or too-new store, a
    port in use) end with one line on stderr and status 1. With ``workers`` > 1 the
    workers start once this process has migrated the store and written the admin key.
    """
    if settings.workers == 1:
        return _run_process(settings, 0)
    with workers.shared_metrics():
        return _run_process(settings, 0, pool=workers.WorkerPool(run_worker, (settings,), settings.workers))


def run_worker(settings: Settings, index: int, serving: Callable[[], object]) -> None:
    """A worker process's entry point (workers.WorkerPool spawns it)."""
    raise SystemExit(_run_process(settings, index, serving=serving))


def _run_process(
    settings: Settings,
    index: int,
    *,
    pool: workers.WorkerPool | None = None,
    serving: Callable[[], object] | None = None,
) -> int:
    logs.configure(fmt=settings.log_format, level=settings.log_level, worker=index if settings.workers > 1 else None)
    try:
        broker = build(settings)
    except (OSError, ValueError, BrokerError) as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    if pool is not None:
        pool.start()
    try:
        return asyncio.run(serve(broker, worker=index, pool=pool, serving=serving))
    except OSError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    finally:
        if pool is not None:  # after a clean stop or a failed start alike
            pool.join(settings.shutdown_grace.total_seconds() + 5)

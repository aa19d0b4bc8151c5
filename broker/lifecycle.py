"""The process: listeners, bootstrap, serving, signals, workers, and a graceful stop.

``run`` is ``broker serve``. In order: logging; both listen addresses checked (the HTTP
socket is bound and kept), so a port in use fails in one line naming its setting before
the store is touched; the store opened and migrated, the first key and the admin
identity (bootstrap.py); the object graph (assemble.py); then serving until SIGTERM or
SIGINT: health goes NOT_SERVING, in-flight RPCs get ``shutdown_grace`` to finish, then
the background writers stop and the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from grpc_health.v1 import health, health_pb2
from sqlalchemy.engine import make_url

from . import __version__, logs, workers
from .assemble import SERVICE_NAMES, Broker, assemble, grpc_server, http_app
from .bootstrap import first_start, open_migrated_store
from .config import Settings, plaintext_warning
from .core.clock import SystemClock
from .core.errors import BrokerError
from .runtime.tls import ReloadingTLS

_log = structlog.get_logger("broker.lifecycle")


class ListenError(OSError):
    """A listen address cannot be bound; the message is one line naming the setting."""


@dataclass
class Listeners:
    """The HTTP socket, bound before anything else happens (the primary only), and the TLS both serve."""

    http: socket.socket | None
    tls: ReloadingTLS | None = None

    def close(self) -> None:
        """Close the HTTP socket (when serving never started)."""
        if self.http is not None:
            self.http.close()


def _bind(address: str, setting: str, *, reuse_port: bool, what: str) -> socket.socket:
    """A socket bound to ``host:port`` as the server will bind it, or ListenError naming ``setting``."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        family, kind, proto, _, where = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenError(f"cannot listen on {address} ({what}): {exc.strerror or exc}; check {setting}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(where)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc)).lower()
        raise ListenError(f"cannot listen on {address} ({what}): {reason}; set {setting} to a free host:port") from None
    return sock


def bind_listeners(settings: Settings, *, primary: bool) -> Listeners:
    """Check the gRPC address (it is bound again by gRPC itself), bind the HTTP socket, read the TLS files."""
    try:
        tls = ReloadingTLS(settings.tls) if settings.tls else None
    except ValueError as exc:
        raise ListenError(f"cannot serve TLS: {exc}; check BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE") from None
    if not settings.grpc_listen.endswith(":0"):
        _bind(settings.grpc_listen, "BROKER_GRPC_LISTEN", reuse_port=settings.workers > 1, what="gRPC").close()
    if not primary:
        return Listeners(http=None, tls=tls)
    sock = _bind(settings.http_listen, "BROKER_HTTP_LISTEN", reuse_port=False, what="HTTP")
    sock.listen(128)
    sock.setblocking(False)
    return Listeners(http=sock, tls=tls)


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL (vault://...)
        return url.rsplit("@", maxsplit=1)[-1]


def banner(settings: Settings, *, admin_key_created: bool) -> str:
    """What ``broker serve`` prints once it serves."""
    key_note = "created now; keep it secret" if admin_key_created else "existing"
    scheme = "https" if settings.tls else "http"
    return "\n".join(
        [
            f"identity broker {__version__} serving",
            f"  gRPC       {settings.grpc_listen}",
            f"  HTTP       {scheme}://{settings.http_listen}  (JWKS at {settings.issuer}/.well-known/jwks.json)",
            f"  issuer     {settings.issuer}",
            f"  store      {_redacted(settings.store_url)}",
            f"  admin key  {settings.admin_key_file} ({key_note})",
        ]
    )


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


@dataclass(frozen=True)
class Serving:
    """A broker that is serving: the gRPC port it listens on (the bound one, for ``:0``)."""

    grpc_port: int


@contextlib.asynccontextmanager
async def serving(
    broker: Broker,
    listeners: Listeners,
    *,
    pool: workers.WorkerPool | None = None,
    start_scheduler: bool = True,
) -> AsyncIterator[Serving]:
    """Serve gRPC (and HTTP on the primary's socket) while the block runs, then stop gracefully.

    On leaving: health goes NOT_SERVING and /readyz 503, the workers are told to stop,
    long-lived streams end, in-flight RPCs get ``shutdown_grace``, the scheduler stops and
    the store closes. ``start_scheduler=False`` leaves the periodic jobs to the caller
    (tests drive them with ``Scheduler.run_now`` on a fake clock).
    """
    settings = broker.settings
    health_servicer = health.aio.HealthServicer()
    server = grpc_server(broker, health_servicer)
    tls = listeners.tls
    try:
        if tls is None:
            port = server.add_insecure_port(settings.grpc_listen)
        else:
            port = server.add_secure_port(settings.grpc_listen, tls.grpc_credentials())
    except RuntimeError:  # taken between the check and now
        raise ListenError(
            f"cannot listen on {settings.grpc_listen} (gRPC): address already in use; "
            "set BROKER_GRPC_LISTEN to a free host:port"
        ) from None
    started = asyncio.Event()  # /readyz answers 200 while this process and every worker serve
    runner: web.AppRunner | None = None
    if listeners.http is not None:
        runner = web.AppRunner(
            http_app(broker, lambda: started.is_set() and (pool is None or pool.serving())), access_log=None
        )
        await runner.setup()
        await web.SockSite(runner, listeners.http, ssl_context=tls.ssl_context() if tls else None).start()
    await server.start()
    if start_scheduler:
        await asyncio.to_thread(broker.scheduler.start)
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    started.set()
    try:
        yield Serving(grpc_port=port)
    finally:
        _log.info("shutting down", grace_seconds=settings.shutdown_grace.total_seconds())
        started.clear()  # /readyz: 503 from now on
        if pool is not None:
            pool.terminate()  # the workers shut down gracefully alongside
        await health_servicer.enter_graceful_shutdown()
        broker.stopping.set()  # long-lived streams (WatchSecret) end now, not after the grace
        await server.stop(settings.shutdown_grace.total_seconds())
        if runner is not None:
            await runner.cleanup()
        await asyncio.to_thread(broker.scheduler.stop)
        await asyncio.to_thread(broker.close)
        _log.info("stopped")


async def serve(
    broker: Broker,
    listeners: Listeners,
    *,
    admin_key_created: bool = False,
    worker: int = 0,
    pool: workers.WorkerPool | None = None,
    serving_hook: Callable[[], object] | None = None,
) -> int:
    """Run an assembled broker until SIGTERM or SIGINT; returns the exit status.

    ``worker`` 0 is the primary: it alone serves HTTP, and owns ``pool`` (/readyz waits
    for every worker). A worker (workers.py) calls ``serving_hook`` once it serves, and
    stops also when the primary is gone.
    """
    settings = broker.settings
    async with serving(broker, listeners, pool=pool):
        if worker == 0:
            print(banner(settings, admin_key_created=admin_key_created), flush=True)
            _log.info("serving", grpc=settings.grpc_listen, http=settings.http_listen, issuer=settings.issuer)
        else:
            _log.info("serving", grpc=settings.grpc_listen)
        if serving_hook is not None:
            serving_hook()
        return await _until_stopped(pool, is_worker=worker != 0)


def run(settings: Settings) -> int:
    """Entry point for ``broker serve``; returns the exit status.

    Start-up failures (a port in use, a bad key-encryption key, an unreachable or too-new
    store) end with one line on stderr and status 1. With ``workers`` > 1 the workers
    start once this process has migrated the store and written the admin key.
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
    warning = plaintext_warning(settings)
    if warning is not None:
        _log.warning(warning)
    try:
        listeners = bind_listeners(settings, primary=index == 0)
    except ListenError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    try:
        store = open_migrated_store(settings)
    except (OSError, ValueError, BrokerError) as exc:
        listeners.close()
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    try:
        broker = assemble(settings, SystemClock(), store)
    except (OSError, ValueError, BrokerError) as exc:
        listeners.close()
        store.close()
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    try:
        broker.issuers.check_configured()
        created = first_start(broker.keyring, broker.registry, settings.admin_key_file)
    except (OSError, ValueError, BrokerError) as exc:
        listeners.close()
        broker.close()
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    if pool is not None:
        pool.start()
    try:
        return asyncio.run(
            serve(broker, listeners, admin_key_created=created, worker=index, pool=pool, serving_hook=serving)
        )
    except OSError as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 1
    finally:
        if pool is not None:  # after a clean stop or a failed start alike
            pool.join(settings.shutdown_grace.total_seconds() + 5)

"""The broker assembled in this process: temporary SQLite, a fake clock, grpc.aio on port 0.

``ApiBroker`` builds the same object graph as ``broker serve`` (``assemble``, the
bootstrap's first start, lifecycle's ``serving``) and serves it from a background event
loop, so tests talk real gRPC over a socket to it. Time moves only when a test says so
(``advance``), and the periodic jobs run only when a test runs them (``tick``): API
behaviour that depends on time is tested without sleeping. Its client-side helpers are
those of tests/e2e/harness.py's ``BrokerProcess``, so a test reads the same either way.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import duration_pb2

from broker.assemble import Broker, assemble
from broker.bootstrap import first_start, open_migrated_store
from broker.config import load_settings
from broker.core.clock import FakeClock
from broker.lifecycle import Listeners, serving
from broker_client import keys
from broker_client.v1 import token_pb2
from tests.e2e.harness import Metadata, bearer, exchange_assertion

#: The scheduler's jobs in the order one tick of a lone replica runs them.
JOBS = (
    "lease",
    "refresh_keyring",
    "rotate_secrets",
    "expire_secrets",
    "rotate_signing_keys",
    "purge_expired",
    "purge_audit",
    "flush_audit",
)


class ApiBroker:
    """One broker served from this process until ``stop``."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None, *, clock: FakeClock | None = None):
        self.data_dir = data_dir
        self.clock = clock or FakeClock(datetime.now(UTC).replace(microsecond=0))
        self.extra_env = dict(env or {})
        self.grpc_port = 0
        self.http_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None

    # the server ---------------------------------------------------------------------
    @property
    def broker(self) -> Broker:
        """The assembled object graph (its services, store and scheduler)."""
        assert self._broker is not None, "not started"
        return self._broker

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def issuer(self) -> str:
        return self.broker.settings.issuer

    @property
    def admin_key(self) -> Path:
        return self.data_dir / "admin.key"

    def start(self) -> None:
        """Assemble on a fresh store and serve; returns once gRPC and HTTP accept calls."""
        http = socket.socket()
        http.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        http.bind(("127.0.0.1", 0))
        http.listen(128)
        http.setblocking(False)
        self.http_port = int(http.getsockname()[1])
        env = {
            "BROKER_DATA_DIR": str(self.data_dir),
            "BROKER_GRPC_LISTEN": "127.0.0.1:0",
            "BROKER_HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            **self.extra_env,
        }
        settings = load_settings(environ=env)
        store = open_migrated_store(settings)
        broker = assemble(settings, self.clock, store)
        broker.issuers.check_configured()
        first_start(broker.keyring, broker.registry, settings.admin_key_file)
        self._broker = broker
        ready: Future[int] = Future()
        self._thread = threading.Thread(target=self._serve, args=(Listeners(http=http), ready), daemon=True)
        self._thread.start()
        self.grpc_port = ready.result(timeout=30)
        self.tick("lease")  # a lone replica leads from its first tick

    def _serve(self, listeners: Listeners, ready: Future[int]) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                async with serving(self.broker, listeners, start_scheduler=False) as served:
                    ready.set_result(served.grpc_port)
                    await self._stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                raise

        asyncio.run(main())

    def stop(self) -> None:
        """Stop serving (gracefully, as SIGTERM would) and close the store."""
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._thread = None

    def __enter__(self) -> ApiBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # time -----------------------------------------------------------------------------
    def advance(self, delta: timedelta | float) -> None:
        """Move the broker's clock forward (seconds or a timedelta); nothing runs by itself."""
        self.clock.advance(delta if isinstance(delta, timedelta) else timedelta(seconds=delta))

    def tick(self, *jobs: str) -> None:
        """Run scheduler jobs once at the clock's now (every job, in tick order, when none are named)."""
        for job in jobs or JOBS:
            self.broker.scheduler.run_now(job)

    def now(self) -> float:
        """The broker's clock as a Unix time (what assertions are signed with)."""
        return self.clock.now().timestamp()

    # the client side (as in tests/e2e/harness.py) -------------------------------------
    def channel(self) -> grpc.Channel:
        """A plain-text channel to the broker."""
        return grpc.insecure_channel(self.addr)

    def http_json(self, path: str) -> Any:
        """GET a JSON document from the HTTP listener."""
        with urllib.request.urlopen(f"{self.http_url}{path}", timeout=5) as resp:
            return json.loads(resp.read())

    def assertion(self, identity_id: str, key: keys.PrivateKey, *, lifetime: int = 60, kid: str | None = None) -> str:
        """A self-signed assertion for the broker, signed at the broker's clock."""
        return keys.make_assertion(identity_id, key, self.issuer, lifetime=lifetime, kid=kid, now=self.now())

    def exchange(
        self,
        identity_id: str,
        key: keys.PrivateKey,
        *,
        scopes: Sequence[str] = (),
        audiences: Sequence[str] = (),
        requested_ttl: duration_pb2.Duration | None = None,
        requested_token_type: str = "",
    ) -> token_pb2.ExchangeTokenResponse:
        """Exchange a fresh self-signed assertion over gRPC."""
        return exchange_assertion(
            self.addr,
            self.assertion(identity_id, key),
            scopes=scopes,
            audiences=audiences,
            requested_ttl=requested_ttl,
            requested_token_type=requested_token_type,
        )

    def admin_token(self) -> str:
        """A fresh admin token, obtained with the admin key like the CLI does."""
        return self.exchange("admin", keys.load_private_key(self.admin_key), scopes=["broker.admin"]).access_token

    def admin_metadata(self) -> Metadata:
        """gRPC metadata carrying a fresh admin token."""
        return bearer(self.admin_token())

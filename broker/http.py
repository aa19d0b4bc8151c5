"""The HTTP listener: what a standard JWT/OIDC library needs, metrics and health.

- ``/.well-known/jwks.json``             the published signing keys (NEXT, CURRENT, PREVIOUS)
- ``/.well-known/openid-configuration``  issuer and jwks_uri (RFC 8414 / OIDC discovery)
- ``/metrics``                           Prometheus
- ``/healthz``                           the process is up
- ``/readyz``                            the broker (every worker) serves, the store answers, a signing key is active
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .core.algorithms import SIGNING_ALGORITHMS
from .core.clock import Clock
from .core.errors import BrokerError
from .core.keys import Keyring

_log = structlog.get_logger("broker.http")


def build_app(
    *,
    issuer: str,
    signing_alg: str,
    keyring: Keyring,
    clock: Clock,
    registry: CollectorRegistry,
    ping_store: Callable[[], None],
    jwks_cache_ttl: timedelta,
    serving: Callable[[], bool],
) -> web.Application:
    """The aiohttp application of the HTTP listener."""
    cache = f"public, max-age={int(jwks_cache_ttl.total_seconds())}"
    discovery = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        # what this broker signs with (the configured algorithm), and what assertions may use
        "id_token_signing_alg_values_supported": [signing_alg],
        "token_endpoint_auth_signing_alg_values_supported": sorted(SIGNING_ALGORITHMS),
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response(keyring.jwks(clock.now()), headers={"Cache-Control": cache})

    async def openid_configuration(_: web.Request) -> web.Response:
        return web.json_response(discovery, headers={"Cache-Control": cache})

    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        if not serving():
            return web.json_response({"status": "unavailable", "reason": "not serving yet or any more"}, status=503)
        try:
            await asyncio.to_thread(ping_store)
            keyring.signing_key(clock.now())
        except BrokerError as exc:  # the caller learns what is wrong, never where (the log has the detail)
            _log.warning("not ready", reason=exc.message, detail=exc.detail)
            return web.json_response({"status": "unavailable", "reason": exc.message}, status=503)
        return web.json_response({"status": "ready"})

    app = web.Application(client_max_size=1 << 20)  # 1 MiB: nothing it serves takes a body
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/.well-known/openid-configuration", openid_configuration)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app

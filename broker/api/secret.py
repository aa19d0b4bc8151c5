"""SecretService: rotating secrets with grace periods.

Who may call what (scopes are per secret, ``<scope>:<id>``, or for all, ``<scope>:*``):

::

    CreateSecret, GetSecret, ListSecrets,
    ListSecretVersions, UpdateSecret, DeleteSecret   broker.admin
    AccessSecretVersion                             broker.secrets.read
    RotateSecret (a generated value)                broker.secrets.rotate, write, or broker.admin
    RotateSecret with a value                       broker.secrets.write, or broker.admin
    VerifySecretValue                               broker.secrets.verify, or broker.secrets.read
    WatchSecret                                     read, verify, rotate or write, or broker.admin

The verify scope lets a service check a credential it receives without being able to
read it; the rotate scope only triggers a rotation (the broker generates the value), so
its holder cannot choose what every reader adopts next: that takes the write scope. The
admin scope manages secrets but never reads a value. Scope checks come before any
lookup, so a caller without them learns nothing about which secrets exist; with them,
an unknown secret is NOT_FOUND.

WatchSecret streams share one poller of the store's event log (``SecretEventFeed``),
so events written by any replica arrive, in order, at every stream. A stream shows its
secret's own event numbers (``secret_seq``), never the log's, so it reveals nothing of
other secrets; it ends, UNAUTHENTICATED, once its token expires or stops being valid
(revoked, its identity disabled or deleted), checked every ``recheck`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import structlog

from broker_client.v1 import secret_pb2, secret_pb2_grpc

from ..core.clock import Clock
from ..core.errors import BrokerError, InvalidArgument
from ..core.generators import Generator
from ..core.principals import ADMIN_SCOPE, Principal
from ..core.secrets import (
    EventType,
    RotationPolicy,
    Secret,
    SecretEvent,
    SecretManager,
    SecretVersion,
    VersionState,
)
from ..core.sensitive import Sensitive
from ..core.tokens import AccessClaims
from . import convert
from .handler import ApiContext, Ctx, Servicer, rpc, stream_rpc

_log = structlog.get_logger("broker.secrets")

#: The initial-metadata key of WatchSecret: the event seq the stream starts after.
WATCH_AFTER_SEQ = "broker-watch-after-seq"

GENERATOR_TO_PROTO = {
    Generator.RANDOM_BYTES: secret_pb2.SECRET_GENERATOR_RANDOM_BYTES,
    Generator.PASSWORD: secret_pb2.SECRET_GENERATOR_PASSWORD,
    Generator.API_KEY: secret_pb2.SECRET_GENERATOR_API_KEY,
    Generator.EXTERNAL: secret_pb2.SECRET_GENERATOR_EXTERNAL,
}
GENERATOR_FROM_PROTO: dict[int, Generator] = {int(v): k for k, v in GENERATOR_TO_PROTO.items()}
STATE_TO_PROTO = {
    VersionState.CURRENT: secret_pb2.SECRET_VERSION_STATE_CURRENT,
    VersionState.PREVIOUS: secret_pb2.SECRET_VERSION_STATE_PREVIOUS,
    VersionState.EXPIRED: secret_pb2.SECRET_VERSION_STATE_EXPIRED,
}
EVENT_TO_PROTO = {
    EventType.ROTATED: secret_pb2.SECRET_EVENT_TYPE_ROTATED,
    EventType.GRACE_EXPIRED: secret_pb2.SECRET_EVENT_TYPE_GRACE_EXPIRED,
    EventType.DELETED: secret_pb2.SECRET_EVENT_TYPE_DELETED,
}
_POLICY_PATHS = ("rotation.interval", "rotation.grace_period", "rotation.retention")
_UPDATE_PATHS = frozenset({"rotation", *_POLICY_PATHS, "length"})


# conversions ---------------------------------------------------------------------------
def secret_to_proto(secret: Secret) -> secret_pb2.Secret:
    """The wire form of a secret's metadata."""
    policy = secret.policy
    return secret_pb2.Secret(
        id=secret.id,
        generator=GENERATOR_TO_PROTO[secret.generator],
        length=secret.length,
        rotation=secret_pb2.RotationPolicy(
            interval=convert.duration(policy.interval),
            grace_period=convert.duration(policy.grace_period),
            retention=convert.duration(policy.retention),
        ),
        current_version=secret.current_version,
        next_rotation_time=convert.timestamp(secret.next_rotation_time),
        create_time=convert.timestamp(secret.create_time),
        update_time=convert.timestamp(secret.update_time),
        etag=secret.etag,
    )


def version_to_proto(version: SecretVersion) -> secret_pb2.SecretVersion:
    """The wire form of a version, without its value."""
    return secret_pb2.SecretVersion(
        secret_id=version.secret_id,
        version=version.version,
        state=STATE_TO_PROTO[version.state],
        create_time=convert.timestamp(version.create_time),
        grace_expire_time=convert.timestamp(version.grace_expire_time),
        destroyed=version.destroyed,
    )


def event_to_proto(event: SecretEvent) -> secret_pb2.WatchSecretResponse:
    """The wire form of an event (version numbers, never values)."""
    return secret_pb2.WatchSecretResponse(
        secret_id=event.secret_id,
        event_type=EVENT_TO_PROTO[event.type],
        version=event.version,
        current_version=event.current_version,
        event_time=convert.timestamp(event.event_time),
        seq=event.secret_seq,
    )


def policy_from_proto(msg: secret_pb2.RotationPolicy) -> RotationPolicy:
    """A domain policy from the wire (validated by the core); an unset grace or retention is zero."""
    return RotationPolicy(
        interval=convert.from_duration(msg.interval, msg.HasField("interval"), "rotation.interval"),
        grace_period=convert.from_duration(msg.grace_period, msg.HasField("grace_period"), "rotation.grace_period")
        or timedelta(0),
        retention=convert.from_duration(msg.retention, msg.HasField("retention"), "rotation.retention") or timedelta(0),
    )


def _policy_values(msg: secret_pb2.RotationPolicy) -> dict[str, timedelta | None]:
    """Each policy field of the wire message, by its update_mask path."""
    policy = policy_from_proto(msg)
    return {
        "rotation.interval": policy.interval,
        "rotation.grace_period": policy.grace_period,
        "rotation.retention": policy.retention,
    }


def generator_from_proto(value: int) -> Generator:
    """The domain generator; UNSPECIFIED and unknown numbers are refused, naming the field."""
    generator = GENERATOR_FROM_PROTO.get(value)
    if generator is None:
        names = ", ".join(secret_pb2.SecretGenerator.Name(v) for v in GENERATOR_TO_PROTO.values())
        raise InvalidArgument(f"generator: must be one of {names}")
    return generator


def secret_changes(msg: secret_pb2.Secret, paths: Sequence[str]) -> dict[str, Any]:
    """The fields named by an update mask (``rotation`` means all three policy fields)."""
    unknown = sorted(p for p in paths if p not in _UPDATE_PATHS)
    if unknown:
        raise InvalidArgument(f"update_mask: cannot update {', '.join(unknown)}")
    named = {q for p in paths for q in (_POLICY_PATHS if p == "rotation" else (p,))}
    values: dict[str, Any] = {**_policy_values(msg.rotation), "length": msg.length}
    return {name: values[name] for name in sorted(named)}


# WatchSecret fan-out --------------------------------------------------------------------
#: Re-checks a stream's bearer token: returns its claims, or raises Unauthenticated.
Recheck = Callable[[], Awaitable[AccessClaims]]


class Subscription:
    """One watcher's view of one secret's events: every one with secret_seq > ``after``, in order."""

    def __init__(
        self, feed: SecretEventFeed, queue: asyncio.Queue[SecretEvent | None], secret_id: str, after: int
    ) -> None:
        self._feed = feed
        self._queue = queue
        self.secret_id = secret_id
        self.after = after

    async def events(self, recheck: Recheck, every: float, clock: Clock) -> AsyncIterator[SecretEvent]:
        """The secret's events: first those already stored, then live ones; ends when the feed stops.

        ``recheck`` runs at least every ``every`` seconds and at the token's expiry; its
        error ends the stream.
        """
        last = self.after
        while True:
            page = await asyncio.to_thread(
                self._feed.secrets.events_of, self.secret_id, after=last, limit=self._feed.batch
            )
            for event in page:
                last = event.secret_seq
                yield event
            if len(page) < self._feed.batch:
                break
        claims = await recheck()
        while True:
            left = (claims.expires_at - clock.now()).total_seconds()
            try:
                live = await asyncio.wait_for(self._queue.get(), timeout=max(0.0, min(every, left)))
            except TimeoutError:
                claims = await recheck()
                continue
            if live is None:
                return
            if live.secret_seq > last:
                last = live.secret_seq
                yield live

    def close(self) -> None:
        """Stop receiving events."""
        self._feed.unsubscribe(self._queue)


class SecretEventFeed:
    """One poller of the store's secret events, fanned out to every subscription.

    It runs while anyone subscribes, reading events after its cursor every ``poll``
    seconds (so events from other replicas arrive too), hands each to the subscriptions
    of its secret, and ends every subscription when ``stopping`` is set (server shutdown).
    """

    def __init__(self, secrets: SecretManager, stopping: asyncio.Event, *, poll: float = 0.5, batch: int = 500) -> None:
        self.secrets = secrets
        self.batch = batch
        self._stopping = stopping
        self._poll = poll
        self._queues: dict[asyncio.Queue[SecretEvent | None], str] = {}
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()

    async def subscribe(self, secret_id: str, after: int) -> Subscription:
        """A subscription to ``secret_id`` from its event ``after`` (0, or past its newest: from now)."""
        if after < 0:
            raise InvalidArgument("after_seq: must not be negative")
        queue: asyncio.Queue[SecretEvent | None] = asyncio.Queue()
        self._queues[queue] = secret_id
        try:
            async with self._start_lock:  # the poller's cursor is set before any backfill reads
                if self._stopping.is_set():
                    queue.put_nowait(None)
                elif self._task is None:
                    cursor = await asyncio.to_thread(self.secrets.last_event_seq)
                    self._task = asyncio.create_task(self._run(cursor))
            newest = await asyncio.to_thread(self.secrets.last_event_of, secret_id)
        except BaseException:
            self._queues.pop(queue, None)
            raise
        # 0 means "from now"; a cursor past the newest event (one from before per-secret numbers) restarts there.
        start = newest if after == 0 or after > newest else after
        return Subscription(self, queue, secret_id, start)

    def unsubscribe(self, queue: asyncio.Queue[SecretEvent | None]) -> None:
        """Forget a subscription's queue."""
        self._queues.pop(queue, None)

    async def _run(self, cursor: int) -> None:
        try:
            while self._queues and not self._stopping.is_set():
                try:
                    page = await asyncio.to_thread(self.secrets.events, after_seq=cursor, limit=self.batch)
                except BrokerError as exc:
                    _log.warning("secret events unavailable", error=type(exc).__name__, reason=exc.message)
                    page = []
                for event in page:
                    cursor = event.seq
                    for queue, secret_id in list(self._queues.items()):
                        if secret_id == event.secret_id:
                            queue.put_nowait(event)
                if len(page) < self.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self._poll)
        finally:
            self._task = None
            for queue in self._queues:  # shutdown, or the poller failed: end the streams
                queue.put_nowait(None)


# the servicer ----------------------------------------------------------------------------
class SecretServicer(Servicer, secret_pb2_grpc.SecretServiceServicer):
    """Thin adapter from SecretService to the SecretManager."""

    def __init__(
        self,
        api: ApiContext,
        secrets: SecretManager,
        stopping: asyncio.Event,
        clock: Clock,
        *,
        watch_poll: float = 0.5,
        recheck: float = 2.0,
    ) -> None:
        super().__init__(api)
        self._secrets = secrets
        self._clock = clock
        self._recheck = recheck
        self._feed = SecretEventFeed(secrets, stopping, poll=watch_poll)

    @rpc(scope=ADMIN_SCOPE)
    async def CreateSecret(
        self, request: secret_pb2.CreateSecretRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.CreateSecretResponse:
        secret_id = request.secret_id or request.secret.id
        if request.secret.id and request.secret.id != secret_id:
            raise InvalidArgument("secret.id: differs from secret_id")

        def create() -> secret_pb2.CreateSecretResponse:
            created = self._secrets.create(
                secret_id,
                generator=generator_from_proto(request.secret.generator),
                policy=policy_from_proto(request.secret.rotation),
                length=request.secret.length,
                value=Sensitive(request.initial_value) if request.initial_value else None,
                by=principal,
            )
            return secret_pb2.CreateSecretResponse(secret=secret_to_proto(created))

        return await asyncio.to_thread(create)

    @rpc(scope=ADMIN_SCOPE)
    async def GetSecret(
        self, request: secret_pb2.GetSecretRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.GetSecretResponse:
        secret = await asyncio.to_thread(self._secrets.get, request.secret_id)
        return secret_pb2.GetSecretResponse(secret=secret_to_proto(secret))

    @rpc(scope=ADMIN_SCOPE)
    async def ListSecrets(
        self, request: secret_pb2.ListSecretsRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.ListSecretsResponse:
        items, next_token = await asyncio.to_thread(
            self._secrets.list, page_size=request.page_size, page_token=request.page_token
        )
        return secret_pb2.ListSecretsResponse(secrets=[secret_to_proto(s) for s in items], next_page_token=next_token)

    @rpc(limited=True)
    async def AccessSecretVersion(
        self, request: secret_pb2.AccessSecretVersionRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.AccessSecretVersionResponse:
        found = await asyncio.to_thread(self._secrets.access, request.secret_id, request.version, by=principal)
        return secret_pb2.AccessSecretVersionResponse(
            secret_id=found.secret_id,
            version=found.version,
            state=STATE_TO_PROTO[found.state],
            value=found.value.reveal() if found.value is not None else b"",
            grace_expire_time=convert.timestamp(found.grace_expire_time),
        )

    @rpc(scope=ADMIN_SCOPE)
    async def ListSecretVersions(
        self, request: secret_pb2.ListSecretVersionsRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.ListSecretVersionsResponse:
        items, next_token = await asyncio.to_thread(
            self._secrets.versions, request.secret_id, page_size=request.page_size, page_token=request.page_token
        )
        return secret_pb2.ListSecretVersionsResponse(
            versions=[version_to_proto(v) for v in items], next_page_token=next_token
        )

    @rpc()
    async def RotateSecret(
        self, request: secret_pb2.RotateSecretRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.RotateSecretResponse:
        value = Sensitive(request.value) if request.value else None
        rotated = await asyncio.to_thread(self._secrets.rotate, request.secret_id, value=value, by=principal)
        return secret_pb2.RotateSecretResponse(version=version_to_proto(rotated))

    @rpc(scope=ADMIN_SCOPE)
    async def UpdateSecret(
        self, request: secret_pb2.UpdateSecretRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.UpdateSecretResponse:
        def update() -> secret_pb2.UpdateSecretResponse:
            changes = secret_changes(request.secret, request.update_mask.paths)
            updated = self._secrets.update(request.secret.id, changes, by=principal, etag=request.secret.etag)
            return secret_pb2.UpdateSecretResponse(secret=secret_to_proto(updated))

        return await asyncio.to_thread(update)

    @rpc(scope=ADMIN_SCOPE)
    async def DeleteSecret(
        self, request: secret_pb2.DeleteSecretRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.DeleteSecretResponse:
        await asyncio.to_thread(self._secrets.delete, request.secret_id, by=principal, etag=request.etag)
        return secret_pb2.DeleteSecretResponse()

    @rpc(limited=True)
    async def VerifySecretValue(
        self, request: secret_pb2.VerifySecretValueRequest, context: Ctx, principal: Principal
    ) -> secret_pb2.VerifySecretValueResponse:
        answer = await asyncio.to_thread(self._secrets.verify, request.secret_id, request.value, by=principal)
        state = secret_pb2.SECRET_VERSION_STATE_UNSPECIFIED
        if answer.state is not None:
            state = STATE_TO_PROTO[answer.state]
        return secret_pb2.VerifySecretValueResponse(valid=answer.valid, version=answer.version, state=state)

    @stream_rpc()
    async def WatchSecret(
        self, request: secret_pb2.WatchSecretRequest, context: Ctx, principal: Principal
    ) -> AsyncIterator[secret_pb2.WatchSecretResponse]:
        await asyncio.to_thread(self._secrets.watch, request.secret_id, by=principal)
        subscription = await self._feed.subscribe(request.secret_id, request.after_seq)
        try:
            await context.send_initial_metadata(((WATCH_AFTER_SEQ, str(subscription.after)),))
            recheck = functools.partial(self.api.auth.authenticate, context)
            async for event in subscription.events(recheck, self._recheck, self._clock):
                yield event_to_proto(event)
                if event.type is EventType.DELETED:
                    return
        finally:
            subscription.close()

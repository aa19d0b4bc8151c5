"""SecretSource: a rotating secret's current value, kept current by WatchSecret.

The first ``value()`` reads the current version (AccessSecretVersion) and starts a
watcher thread. The watcher subscribes to WatchSecret, then reads the current version
again (so a rotation between the two is not missed), and on every ROTATED event reads
the new version and calls the ``on_rotate`` callbacks. When the stream breaks (a broker
restart) it resubscribes after the last event it saw, with capped exponential backoff
and jitter, and reads the current version again; it also resubscribes every
``resync_interval`` seconds. While the broker is unreachable ``value()`` keeps returning
the last value. Values never appear in a repr, a log line or an exception message.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import grpc

from ._errors import SecretUnavailable, TokenUnavailable, rpc_status
from ._refresh import backoff_delay
from ._token_source import TokenSource
from .v1 import secret_pb2, secret_pb2_grpc

_log = logging.getLogger("broker_client")
#: Initial metadata of WatchSecret: the event seq the stream starts after.
WATCH_AFTER_SEQ = "broker-watch-after-seq"
#: Pause before resubscribing after a stream that ended without an error.
RESUBSCRIBE_PAUSE = 0.2
_STATES = {
    secret_pb2.SECRET_VERSION_STATE_CURRENT: "CURRENT",
    secret_pb2.SECRET_VERSION_STATE_PREVIOUS: "PREVIOUS",
    secret_pb2.SECRET_VERSION_STATE_EXPIRED: "EXPIRED",
}


@dataclass(frozen=True, slots=True)
class SecretValue:
    """One version of a secret and its value (the value stays out of the repr)."""

    secret_id: str
    version: int
    value: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SecretCheck:
    """The broker's answer to VerifySecretValue; true when the value is valid."""

    valid: bool
    version: int = 0
    #: CURRENT, PREVIOUS (still in its grace period) or "" when not valid.
    state: str = ""

    def __bool__(self) -> bool:
        return self.valid


RotateCallback = Callable[[SecretValue], None]


class _Deleted(Exception):
    """The secret was deleted: the watcher stops."""


class SecretSource:
    """The current value of ``secret_id``, followed across rotations.

    ``tokens`` supplies the broker token; it needs scope ``broker.secrets.read:<id>``
    for ``value()`` (``broker.secrets.verify:<id>`` is enough for ``verify()``) and must
    be meant for the broker itself (no audience). Calls go over ``tokens.channel``
    unless ``channel`` is given.
    """

    def __init__(
        self,
        secret_id: str,
        tokens: TokenSource,
        *,
        channel: grpc.Channel | None = None,
        timeout: float = 10.0,
        max_backoff: float = 10.0,
        resync_interval: float = 300.0,
    ) -> None:
        self.secret_id = secret_id
        self._tokens = tokens
        self._stub = secret_pb2_grpc.SecretServiceStub(channel or tokens.channel)
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._resync_interval = resync_interval
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._lock = threading.Lock()
        self._current: SecretValue | None = None
        self._deleted = False
        self._seq = 0
        self._callbacks: list[RotateCallback] = []
        self._closed = threading.Event()
        self._call: grpc.Call | None = None
        self._watcher: threading.Thread | None = None

    # public ------------------------------------------------------------------------------
    def value(self) -> bytes:
        """The current value; raises SecretUnavailable if it was never read and cannot be now."""
        return self.current().value

    def current(self) -> SecretValue:
        """The current version and its value."""
        current = self._current
        if current is None:
            self.start()
            current = self._current
        if self._deleted:
            raise SecretUnavailable(f"secret {self.secret_id} was deleted", code="NOT_FOUND")
        assert current is not None
        return current

    def on_rotate(self, callback: RotateCallback) -> RotateCallback:
        """Call ``callback(new_value)`` after every rotation (from the watcher thread); usable as a decorator."""
        with self._lock:
            self._callbacks.append(callback)
        return callback

    def verify(self, value: bytes | str) -> SecretCheck:
        """Ask the broker whether ``value`` is the current value or one still in its grace period."""
        raw = value.encode() if isinstance(value, str) else value
        request = secret_pb2.VerifySecretValueRequest(secret_id=self.secret_id, value=raw)
        try:
            response = self._stub.VerifySecretValue(request, metadata=self._metadata(), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise SecretUnavailable.from_rpc(f"cannot verify a value of secret {self.secret_id}", exc) from None
        return SecretCheck(response.valid, response.version, _STATES.get(response.state, ""))

    def start(self) -> SecretSource:
        """Read the current value now and start following rotations (``value()`` does this on first use)."""
        with self._lock:
            if self._closed.is_set():
                raise SecretUnavailable("the secret source is closed")
            if self._watcher is not None:
                return self
        try:
            self._resync()
        except _Deleted:
            raise SecretUnavailable(f"secret {self.secret_id} does not exist", code="NOT_FOUND") from None
        with self._lock:
            if self._watcher is None and not self._closed.is_set():
                self._watcher = threading.Thread(target=self._watch_loop, name=f"broker-watch-{self.secret_id}")
                self._watcher.daemon = True
                self._watcher.start()
        return self

    def close(self) -> None:
        """Stop following rotations."""
        with self._lock:
            self._closed.set()
            call, watcher = self._call, self._watcher
        if call is not None:
            call.cancel()
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=self._timeout + 1)

    def __enter__(self) -> SecretSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        version = self._current.version if self._current else None
        return f"SecretSource({self.secret_id!r}, version={version})"

    # internals ---------------------------------------------------------------------------
    def _metadata(self) -> tuple[tuple[str, str], ...]:
        try:
            return (("authorization", self._tokens.authorization_header()),)
        except TokenUnavailable as exc:
            raise SecretUnavailable(f"no token to read secret {self.secret_id}: {exc}", code=exc.code) from None

    def _resync(self) -> None:
        """Read the current version; notify the callbacks if it is newer than the one held."""
        request = secret_pb2.AccessSecretVersionRequest(secret_id=self.secret_id, version=0)
        try:
            response = self._stub.AccessSecretVersion(request, metadata=self._metadata(), timeout=self._timeout)
        except grpc.RpcError as exc:
            if rpc_status(exc)[0] is grpc.StatusCode.NOT_FOUND:
                self._deleted = True
                raise _Deleted from None
            raise SecretUnavailable.from_rpc(f"cannot read secret {self.secret_id}", exc) from None
        fetched = SecretValue(self.secret_id, response.version, response.value)
        with self._lock:
            previous = self._current
            if previous is not None and previous.version >= fetched.version:
                return
            self._current = fetched
            callbacks = list(self._callbacks) if previous is not None else []
        if previous is not None:
            _log.info("secret %s rotated to version %d", self.secret_id, fetched.version)
        for callback in callbacks:
            try:
                callback(fetched)
            except Exception:  # noqa: BLE001 - one failing callback must not stop the watcher
                _log.exception("on_rotate callback for secret %s failed", self.secret_id)

    def _watch_loop(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                self._watch_once()
                failures = 0
                delay = RESUBSCRIBE_PAUSE
            except _Deleted:
                _log.warning("secret %s was deleted; no longer watching it", self.secret_id)
                return
            except ValueError:  # grpc: "Cannot invoke RPC on closed channel!"
                _log.info("the channel of secret %s was closed; no longer watching it", self.secret_id)
                return
            except (grpc.RpcError, SecretUnavailable) as exc:
                failures += 1
                delay = backoff_delay(failures, self._max_backoff, self._rng)
                reason = exc if isinstance(exc, SecretUnavailable) else SecretUnavailable.from_rpc("watch", exc)
                _log.warning("watching secret %s failed (retry in %.1fs): %s", self.secret_id, delay, reason)
            self._closed.wait(delay)

    def _watch_once(self) -> None:
        """One WatchSecret stream, until it ends, breaks or reaches ``resync_interval``."""
        request = secret_pb2.WatchSecretRequest(secret_id=self.secret_id, after_seq=self._seq)
        call = self._stub.WatchSecret(request, metadata=self._metadata(), timeout=self._resync_interval)
        with self._lock:
            self._call = call
        if self._closed.is_set():
            call.cancel()
        try:
            for key, value in call.initial_metadata() or ():
                if key == WATCH_AFTER_SEQ and isinstance(value, str) and value.isdigit():
                    self._seq = int(value)  # where the broker starts this stream (it may restart a stale cursor)
            self._resync()  # subscribed: a rotation from here on arrives as an event
            for event in call:
                self._seq = max(self._seq, event.seq)
                if event.event_type == secret_pb2.SECRET_EVENT_TYPE_DELETED:
                    self._deleted = True
                    raise _Deleted
                if event.event_type == secret_pb2.SECRET_EVENT_TYPE_ROTATED:
                    self._resync()
        except grpc.RpcError as exc:
            code = rpc_status(exc)[0]
            if self._closed.is_set() or code is grpc.StatusCode.DEADLINE_EXCEEDED:
                return
            raise
        finally:
            with self._lock:
                self._call = None

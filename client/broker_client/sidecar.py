"""broker-sidecar: keep broker tokens and secrets fresh in files, for programs that cannot use the library.

At start it exchanges every token and reads every secret, and fails fast (exit status 1,
one line saying why) if the broker refuses it; an unreachable broker is waited for up to
``start_timeout``. It writes each file atomically (a temporary file renamed over it,
mode 0600) and only when the content changed, then runs the child command, if any.
From then on it rewrites a token file when the TokenSource refreshed the token, a secret
file as soon as WatchSecret reports a rotation, and sends the child a signal (SIGHUP by
default) after every change. It rides through broker restarts on the cached values; a
token file whose token expired while the broker stayed unreachable is removed rather
than left holding an expired token. SIGTERM or SIGINT stop it cleanly (the child gets
SIGTERM); when the child exits by itself, the sidecar exits with its status.
``--once`` writes everything and exits (for init containers).

Configuration: see ``broker_client._sidecar_config`` (``broker-sidecar --help``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TypeVar

import grpc

from ._channel import open_channel, tls_credentials
from ._errors import SecretUnavailable, TokenUnavailable
from ._secrets import SecretSource
from ._sidecar_config import ConfigError, Credentials, SecretOutput, SidecarConfig, TokenOutput, load_config
from ._token_source import TokenSource

__all__ = ["ConfigError", "Sidecar", "SidecarConfig", "atomic_write", "load_config", "main"]

_log = logging.getLogger("broker_client.sidecar")
_RETRY_HINT = re.compile(r" \(next attempt in [0-9.]+s\)$")
#: How often the sidecar looks for refreshed or expiring tokens and a finished child.
TICK = 0.1
#: How long the child has to exit after SIGTERM before it is killed.
CHILD_GRACE = 10.0
#: Refusals that waiting will not cure: fail at start at once.
PERMANENT = frozenset(
    {"UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "ATTESTATION"}
)
T = TypeVar("T")


class StartError(Exception):
    """The sidecar cannot get its first token or secret."""


def atomic_write(path: Path, data: bytes) -> bool:
    """Make ``path`` hold ``data`` (mode 0600) by renaming a temporary file over it; False if it already did."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_bytes() == data:
            if path.stat().st_mode & 0o777 != 0o600:
                path.chmod(0o600)
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where directories can be fsynced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return True


def _who(creds: Credentials) -> str:
    if creds.client_certificate:
        return "the client certificate's identity"
    return creds.identity or f"the holder of {creds.attestation_file}"


class Sidecar:
    """One run of the sidecar for a configuration."""

    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._channel: grpc.Channel | None = None
        self._tokens: list[tuple[TokenOutput, TokenSource]] = []
        self._secrets: list[tuple[SecretOutput, SecretSource]] = []
        self._secret_tokens: list[TokenSource] = []
        self._child: subprocess.Popen[bytes] | None = None
        self._removed: set[Path] = set()
        self._written: dict[Path, bytes] = {}

    def run(self) -> int:
        """Start, write, supervise; the exit status."""
        if self.config.once and self.config.command:
            raise ConfigError("--once runs no command")
        try:
            self._build()
            self._start()
            self._sync()
            if self.config.once:
                _log.info("wrote %d file(s); exiting (--once)", len(self._tokens) + len(self._secrets))
                return 0
            if self.config.command:
                self._child = subprocess.Popen(list(self.config.command))
                _log.info("started %s (pid %d)", self.config.command[0], self._child.pid)
            return self._supervise()
        finally:
            self._close()

    def stop(self) -> None:
        """Ask ``run`` to finish (what SIGTERM does)."""
        self._stop.set()
        self._wake.set()

    # set-up ------------------------------------------------------------------------------
    def _build(self) -> None:
        tls, credentials = self.config.tls, None
        if tls is not None:
            try:
                credentials = tls_credentials(
                    tls.ca_file, cert_file=tls.client_cert_file or None, key_file=tls.client_key_file or None
                )
            except OSError as exc:
                raise ConfigError(f"cannot read a TLS file: {exc}") from None
        self._channel = open_channel(self.config.broker, credentials)
        for output in self.config.tokens:
            source = TokenSource(
                self._channel,
                output.credentials.attestor(),
                scopes=output.scopes,
                audiences=output.audiences,
                ttl=output.ttl,
            )
            self._tokens.append((output, source))
        groups: dict[Credentials, list[SecretOutput]] = {}
        for secret in self.config.secrets:
            groups.setdefault(secret.credentials, []).append(secret)
        for creds, outputs in groups.items():
            scopes = sorted({f"broker.secrets.read:{o.secret_id}" for o in outputs})
            tokens = TokenSource(self._channel, creds.attestor(), scopes=scopes)
            self._secret_tokens.append(tokens)
            for secret in outputs:
                watched = SecretSource(secret.secret_id, tokens)
                watched.on_rotate(lambda _value: self._wake.set())
                self._secrets.append((secret, watched))

    def _start(self) -> None:
        """The first token and value of everything, retried until ``start_timeout``. The library's
        per-attempt warnings stay quiet meanwhile: a failed start is the one StartError line."""
        deadline = time.monotonic() + self.config.start_timeout
        library = logging.getLogger("broker_client")
        level = library.level
        library.setLevel(logging.ERROR)
        try:
            for output, tokens in self._tokens:
                what = f"a token for {output.path} as {_who(output.credentials)}"
                self._first(tokens.token, what, deadline)
            for secret, source in self._secrets:
                self._first(source.start, f"secret {secret.secret_id} as {_who(secret.credentials)}", deadline)
        finally:
            library.setLevel(level)

    def _first(self, fetch: Callable[[], T], what: str, deadline: float) -> T:
        while True:
            try:
                return fetch()
            except (TokenUnavailable, SecretUnavailable) as exc:
                if exc.code in PERMANENT or time.monotonic() >= deadline or self._stop.is_set():
                    reason = _RETRY_HINT.sub("", str(exc))  # no next attempt: the sidecar gives up here
                    raise StartError(f"cannot get {what} from the broker at {self.config.broker}: {reason}") from None
            self._stop.wait(0.2)

    # steady state ------------------------------------------------------------------------
    def _sync(self) -> None:
        """Write every file whose content changed; signal the child if any did."""
        changed: list[str] = []
        for output, tokens in self._tokens:
            try:
                token = tokens.token()
            except TokenUnavailable as exc:
                if output.path not in self._removed:
                    self._removed.add(output.path)
                    self._written.pop(output.path, None)
                    with contextlib.suppress(FileNotFoundError):
                        output.path.unlink()
                        _log.warning("removed %s: no valid token (%s)", output.path, exc)
                continue
            self._removed.discard(output.path)
            if self._write(output.path, token.encode()):
                changed.append(str(output.path))
        for secret, source in self._secrets:
            try:
                current = source.current()
            except SecretUnavailable:
                continue
            if self._write(secret.path, current.value):
                _log.info("wrote secret %s version %d to %s", secret.secret_id, current.version, secret.path)
                changed.append(str(secret.path))
        if changed and self._child is not None and self._child.poll() is None:
            self._child.send_signal(self.config.signal)
            _log.info("sent %s to the child after a change of %s", self.config.signal.name, ", ".join(changed))

    def _write(self, path: Path, data: bytes) -> bool:
        """atomic_write, skipped without touching the disk when this content was written last and is there."""
        if self._written.get(path) == data and path.exists():
            return False
        changed = atomic_write(path, data)
        self._written[path] = data
        return changed

    def _supervise(self) -> int:
        while not self._stop.is_set():
            self._wake.wait(TICK)
            self._wake.clear()
            if self._stop.is_set():
                break
            self._sync()
            if self._child is not None and self._child.poll() is not None:
                code = self._child.returncode
                _log.info("the child exited with status %d", code)
                return 128 - code if code < 0 else code
        return self._stop_child()

    def _stop_child(self) -> int:
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(CHILD_GRACE)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        _log.info("stopped")
        return 0

    def _close(self) -> None:
        for _, source in self._secrets:
            source.close()
        for tokens in [t for _, t in self._tokens] + self._secret_tokens:
            tokens.close()
        if self._channel is not None:
            self._channel.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The ``broker-sidecar`` command."""
    logging.basicConfig(level=logging.INFO, format="broker-sidecar: %(message)s", stream=sys.stderr)
    try:
        config = load_config(sys.argv[1:] if argv is None else argv, os.environ)
        sidecar = Sidecar(config)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            sidecar.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        return sidecar.run()
    except ConfigError as exc:
        print(f"broker-sidecar: {exc}", file=sys.stderr)
        return 2
    except StartError as exc:
        print(f"broker-sidecar: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

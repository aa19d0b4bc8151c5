"""Server TLS read from disk and read again when the files change, without a restart.

Certificates are short-lived too (cert-manager, an ACME client, SPIRE), so the broker
never holds on to the pair it started with: before each new connection's handshake it
compares the files' stamps (inode, size, modification time) and, when they moved, loads
them again. A half-written or mismatched pair is logged and the last good one is kept,
so a renewal that writes the certificate before the key never breaks serving.

gRPC gets ``grpc.dynamic_ssl_server_credentials`` (its fetcher runs per handshake); HTTP
gets an ``ssl.SSLContext`` whose SNI callback hands each handshake the current context.
With a client CA, both listeners require a client certificate signed by it (mTLS).
"""

from __future__ import annotations

import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog

_log = structlog.get_logger("broker.tls")

_Stamp = tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class TLSFiles:
    """Where the serving certificate chain, its key and (for mTLS) the client CA live."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def paths(self) -> tuple[Path, ...]:
        """Every file the credentials are read from."""
        return (self.cert_file, self.key_file, *((self.client_ca_file,) if self.client_ca_file else ()))


@dataclass(frozen=True)
class _Loaded:
    stamp: _Stamp
    cert: bytes
    key: bytes
    client_ca: bytes | None
    context: ssl.SSLContext


def _stamp(files: TLSFiles) -> _Stamp:
    stats = [os.stat(path) for path in files.paths()]
    return tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def _context(files: TLSFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_file, files.key_file)
    if files.client_ca_file is not None:
        context.load_verify_locations(files.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _load(files: TLSFiles) -> _Loaded:
    """Read and check the files (the key must match the certificate); ValueError says which is wrong."""
    try:
        stamp = _stamp(files)
        cert, key = files.cert_file.read_bytes(), files.key_file.read_bytes()
        client_ca = files.client_ca_file.read_bytes() if files.client_ca_file else None
        context = _context(files)
    except OSError as exc:
        raise ValueError(f"cannot read {exc.filename}: {exc.strerror}") from None
    except ssl.SSLError as exc:
        raise ValueError(
            f"{files.cert_file} and {files.key_file} are not a PEM certificate chain and its key ({exc.reason})"
        ) from None
    return _Loaded(stamp, cert, key, client_ca, context)


class ReloadingTLS:
    """The current TLS material for both listeners; ``ValueError`` at start when the files are unusable."""

    def __init__(self, files: TLSFiles) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._loaded = _load(files)

    @property
    def mutual(self) -> bool:
        """Whether clients must present a certificate signed by the client CA."""
        return self.files.client_ca_file is not None

    def _refresh(self) -> tuple[_Loaded, bool]:
        """The current material, loaded again when the files changed; and whether it did change."""
        with self._lock:
            try:
                moved = _stamp(self.files) != self._loaded.stamp
            except OSError:
                moved = True  # a file is being replaced: try, and keep the old pair on failure
            if not moved:
                return self._loaded, False
            try:
                loaded = _load(self.files)
            except ValueError as exc:
                _log.warning("TLS files changed but cannot be used; serving the previous ones", reason=str(exc))
                return self._loaded, False
            self._loaded = loaded
            _log.info("TLS certificate reloaded", cert_file=str(self.files.cert_file))
            return loaded, True

    def _grpc_configuration(self, loaded: _Loaded) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([(loaded.key, loaded.cert)], loaded.client_ca)

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials for ``add_secure_port`` that pick up new files at each handshake."""

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            loaded, changed = self._refresh()
            return self._grpc_configuration(loaded) if changed else None

        return grpc.dynamic_ssl_server_credentials(
            self._grpc_configuration(self._loaded),
            fetch,  # type: ignore[arg-type]  # grpc documents None as "no change"; the stub omits it
            require_client_authentication=self.mutual,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A context for the HTTP listener whose handshakes each use the current files."""

        def current(sock: ssl.SSLObject | ssl.SSLSocket, _server_name: str | None, _ctx: ssl.SSLContext) -> None:
            sock.context = self._refresh()[0].context

        outer = _context(self.files)
        outer.sni_callback = current
        return outer

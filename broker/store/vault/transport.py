"""The Vault store's transport: where Vault is, how the broker logs in, one request at a time.

``VaultLocation`` parses ``vault://HOST:PORT/MOUNT/PREFIX`` (``vaults://`` for TLS);
``VaultAuth`` holds one auth method's credentials (token, AppRole or Kubernetes), wrapped
so no repr shows them. ``Transport.call`` runs one request on a pooled hvac client (one
HTTP session per concurrent request) with the current token: a login token is renewed
once most of its lifetime has passed, and one Vault refuses is replaced once before the
refusal is reported.

Every hvac and transport failure is translated here, in one place (``translate``):
sealed or unreachable is ``Unavailable``, permission denied is ``FailedPrecondition``, a
lost check-and-set is ``CasMismatch`` for the document layer to retry; messages name
paths, never tokens or values.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import hvac
import hvac.exceptions
import requests

from ...core.errors import FailedPrecondition, StoreUnavailable
from ...core.sensitive import Sensitive

__all__ = [
    "DEFAULT_K8S_TOKEN_FILE",
    "TIMEOUT_SECONDS",
    "VAULT_SCHEMES",
    "CasMismatch",
    "Transport",
    "VaultAuth",
    "VaultAuthMethod",
    "VaultLocation",
    "translate",
]

#: URL schemes of this backend: plain HTTP, or TLS (``vaults``, ``vault+https``).
VAULT_SCHEMES = {"vault": "http", "vault+http": "http", "vaults": "https", "vault+https": "https"}
DEFAULT_K8S_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
_DEFAULT_PORT = 8200
_DEFAULT_PREFIX = "broker"
#: One Vault request's timeout: shorter than any RPC deadline (the CLI's is 10 s), so a hung
#: Vault reads as UNAVAILABLE, not as the caller's DEADLINE_EXCEEDED.
TIMEOUT_SECONDS = 4
#: Renew a login token once this share of its lifetime has passed.
_RENEW_AT = 0.75
_CAS_MISMATCH = "check-and-set parameter did not match"
T = TypeVar("T")


class VaultAuthMethod(StrEnum):
    """How the broker logs in to Vault."""

    TOKEN = "token"
    APPROLE = "approle"
    KUBERNETES = "kubernetes"


@dataclass(frozen=True, slots=True)
class VaultAuth:
    """Credentials for one auth method; secrets wrapped so no repr shows them."""

    method: VaultAuthMethod = VaultAuthMethod.TOKEN
    token: Sensitive | None = None
    role_id: str = ""
    secret_id: Sensitive | None = None
    k8s_role: str = ""
    k8s_token_file: str = DEFAULT_K8S_TOKEN_FILE
    #: Where the auth method is mounted ('' = its default path, the method's name).
    mount: str = ""


@dataclass(frozen=True, slots=True)
class VaultLocation:
    """Where the store lives: Vault's address, a KV v2 mount and a prefix inside it."""

    address: str
    mount: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> VaultLocation:
        """Parse ``vault://HOST[:PORT]/MOUNT[/PREFIX...]``; ValueError naming BROKER_STORE_URL."""
        parts = urlsplit(url)
        scheme = VAULT_SCHEMES.get(parts.scheme.lower())
        if scheme is None:
            raise ValueError(f"BROKER_STORE_URL: scheme {parts.scheme!r} is not one of {', '.join(VAULT_SCHEMES)}")
        if "@" in parts.netloc:
            raise ValueError(
                "BROKER_STORE_URL: a vault:// URL must not carry credentials; set BROKER_VAULT_TOKEN "
                "(or BROKER_VAULT_AUTH=approle|kubernetes)"
            )
        try:
            host, port = parts.hostname, parts.port or _DEFAULT_PORT
        except ValueError:
            raise ValueError("BROKER_STORE_URL: the port of the vault:// URL is not a number") from None
        segments = [s for s in parts.path.split("/") if s]
        if not host or not segments:
            raise ValueError(
                "BROKER_STORE_URL: expected vault://HOST:PORT/MOUNT/PREFIX (e.g. vault://127.0.0.1:8200/secret/broker)"
            )
        if parts.query or parts.fragment or any(s in (".", "..") for s in segments):
            raise ValueError("BROKER_STORE_URL: a vault:// URL takes no query, fragment, '.' or '..'")
        netloc = f"[{host}]" if ":" in host else host
        prefix = "/".join(segments[1:]) or _DEFAULT_PREFIX
        return cls(address=f"{scheme}://{netloc}:{port}", mount=segments[0], prefix=prefix)

    def __str__(self) -> str:
        return f"{self.address}/{self.mount}/{self.prefix}"


class CasMismatch(Exception):
    """A check-and-set write lost: the document is not at the version we named."""


class Transport:
    """Requests to one Vault with one auth method: pooled clients, login, errors translated."""

    def __init__(self, where: VaultLocation, auth: VaultAuth, *, ca_file: str, timeout: int) -> None:
        if ca_file and not Path(ca_file).is_file():
            raise ValueError(f"BROKER_VAULT_CACERT: {ca_file} is not a readable file")
        self._where = where
        self._verify: bool | str = ca_file or True
        self._timeout = timeout
        self._auth = auth
        self._idle: queue.SimpleQueue[hvac.Client] = queue.SimpleQueue()
        self._auth_lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: float | None = None
        if auth.method is VaultAuthMethod.TOKEN:
            if auth.token is None or not auth.token.reveal():
                raise ValueError("BROKER_VAULT_TOKEN: required with BROKER_VAULT_AUTH=token (VAULT_TOKEN works too)")
            self._token = auth.token.reveal().decode()

    def close(self) -> None:
        """Close the idle HTTP sessions."""
        while True:
            try:
                self._idle.get_nowait().adapter.close()
            except queue.Empty:
                return

    def call(self, what: str, op: Callable[[hvac.Client], T]) -> T:
        """Run one request on a pooled client, hvac and transport errors translated; a refused
        login token is replaced once (AppRole, Kubernetes) before the refusal is reported."""
        retried = False
        while True:
            client = self._borrow()
            try:
                return op(client)
            except hvac.exceptions.Forbidden as exc:
                if not retried and self._auth.method is not VaultAuthMethod.TOKEN:
                    retried = True
                    self._forget_token(client.token)
                    continue
                raise translate(exc, what, self._where) from None
            except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
                raise translate(exc, what, self._where) from None
            finally:
                self._idle.put(client)

    def _borrow(self) -> hvac.Client:
        """An idle client (one HTTP session per concurrent request), carrying the current token."""
        token = self._current_token()
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._new_client()
        client.token = token
        return client

    def _new_client(self) -> hvac.Client:
        return hvac.Client(url=self._where.address, verify=self._verify, timeout=self._timeout)

    def _current_token(self) -> str:
        with self._auth_lock:
            if self._token is None or (self._renew_at is not None and time.monotonic() >= self._renew_at):
                self._token, lifetime = self._login()
                self._renew_at = None if lifetime <= 0 else time.monotonic() + lifetime * _RENEW_AT
            return self._token

    def _forget_token(self, token: str | None) -> None:
        """Drop a login token Vault refused, so the next request logs in again."""
        with self._auth_lock:
            if self._token == token:
                self._token = None

    def _login(self) -> tuple[str, float]:
        """Log in with AppRole or Kubernetes; returns the token and its lifetime in seconds (0: none)."""
        auth = self._auth
        mount = auth.mount or auth.method.value
        if auth.method is VaultAuthMethod.APPROLE:
            which, settings = "AppRole", "BROKER_VAULT_ROLE_ID and BROKER_VAULT_SECRET_ID"
        else:
            which, settings = "Kubernetes", "BROKER_VAULT_K8S_ROLE and the service-account token"
        client = self._new_client()
        try:
            if auth.method is VaultAuthMethod.APPROLE:
                secret_id = auth.secret_id.reveal().decode() if auth.secret_id is not None else None
                response = client.auth.approle.login(
                    role_id=auth.role_id, secret_id=secret_id, use_token=False, mount_point=mount
                )
            else:
                jwt = _read_token_file(auth.k8s_token_file)
                response = client.auth.kubernetes.login(role=auth.k8s_role, jwt=jwt, use_token=False, mount_point=mount)
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
            reason = _first_error(exc)
            raise FailedPrecondition(
                f"vault {which} login at auth/{mount} failed ({reason}): check {settings}"
            ) from None
        except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
            raise translate(exc, f"log in at auth/{mount}", self._where) from None
        finally:
            client.adapter.close()
        return str(response["auth"]["client_token"]), float(response["auth"].get("lease_duration") or 0)


# errors ------------------------------------------------------------------------


def translate(exc: Exception, what: str, where: VaultLocation) -> Exception:  # noqa: PLR0911 - one flat table
    """THE mapping of hvac and transport failures; messages carry no token and no value."""
    if isinstance(exc, hvac.exceptions.InvalidRequest):
        reason = _first_error(exc)
        if _CAS_MISMATCH in reason:
            return CasMismatch()
        if "upgrading" in reason.lower():
            return StoreUnavailable(f"vault at {where.address} is upgrading mount {where.mount!r}")
        return FailedPrecondition(f"vault refused to {what}: {reason}")
    if isinstance(exc, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized):
        return FailedPrecondition(
            f"vault denied access to {what}: check the token's policy (and that it has not expired)"
        )
    if isinstance(exc, hvac.exceptions.VaultDown):
        state = "sealed" if "sealed" in _first_error(exc).lower() else "down (503)"
        return StoreUnavailable(f"vault at {where.address} is {state}")
    if isinstance(exc, hvac.exceptions.VaultNotInitialized):
        return StoreUnavailable(f"vault at {where.address} is not initialized")
    if isinstance(
        exc, hvac.exceptions.InternalServerError | hvac.exceptions.BadGateway | hvac.exceptions.RateLimitExceeded
    ):
        return StoreUnavailable(f"vault at {where.address} failed to {what}: {_first_error(exc)}")
    if isinstance(exc, hvac.exceptions.InvalidPath):
        return FailedPrecondition(f"vault has no route to {what}: is {where.mount!r} a KV v2 mount?")
    if isinstance(exc, requests.exceptions.SSLError):
        return FailedPrecondition(
            f"vault at {where.address}: TLS verification failed; "
            "set BROKER_VAULT_CACERT to the CA that signed its certificate"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return StoreUnavailable(f"vault at {where.address} did not answer in time")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return StoreUnavailable(f"cannot connect to vault at {where.address}")
    if isinstance(exc, hvac.exceptions.VaultError | requests.exceptions.RequestException):
        return StoreUnavailable(f"vault at {where.address} failed to {what} ({type(exc).__name__})")
    return exc


def _first_error(exc: hvac.exceptions.VaultError) -> str:
    """Vault's first error line, shortened (Vault's errors name paths and reasons, never values)."""
    errors = exc.errors if isinstance(exc.errors, list) else [exc.errors] if exc.errors else []
    lines = [line.strip(" *\t") for e in errors for line in str(e).splitlines() if line.strip(" *\t")]
    lines = [line for line in lines if not line.endswith("error occurred:")]
    return (lines[0] if lines else type(exc).__name__)[:200]


def _read_token_file(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise FailedPrecondition(f"BROKER_VAULT_K8S_TOKEN_FILE: cannot read {path}: {exc.strerror}") from None

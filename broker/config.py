"""One frozen Settings object: defaults < YAML file (``--config``) < BROKER_* environment.

A bad value stops start-up with one ``SettingsError`` line naming the setting and what
is wrong (never its value, when the value is a secret).
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from .core.algorithms import SIGNING_ALGORITHMS
from .core.durations import format_duration, parse_duration
from .core.ratelimit import RateLimit
from .runtime.tls import TLSFiles

LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True)
class Settings:
    """Everything the daemon is configured with."""

    data_dir: Path = Path("data")
    grpc_listen: str = "127.0.0.1:50051"
    http_listen: str = "127.0.0.1:8080"
    issuer: str = ""
    store_url: str = ""
    signing_alg: str = "ES256"
    log_format: str = "json"
    log_level: str = "info"
    kek: str = field(default="", repr=False)
    max_token_ttl: timedelta = timedelta(hours=1)
    default_token_ttl: timedelta = timedelta(minutes=15)
    trust_domain: str = ""
    max_delegation_depth: int = 3
    signing_key_rotation: timedelta = timedelta(hours=24)
    jwks_cache_ttl: timedelta = timedelta(minutes=5)
    identity_cache_ttl: timedelta = timedelta(seconds=2)
    shutdown_grace: timedelta = timedelta(seconds=10)
    workers: int = 1
    scheduler_tick: timedelta = timedelta(seconds=10)
    leader_lease_ttl: timedelta = timedelta(seconds=30)
    audit_retention: timedelta = timedelta(days=90)
    audit_checkpoint_interval: timedelta = timedelta(minutes=1)
    audit_log: str = ""
    audit_secret_reads: str = "each"
    rate_limit_exchange: str = "200/s"
    rate_limit_secret_reads: str = "200/s"
    rate_limit_address: str = "2000/s"
    rate_limit_shared: str = "auto"
    rpc_timeout: timedelta = timedelta(seconds=30)
    login_access_ttl: timedelta = timedelta(minutes=15)
    login_idle: timedelta = timedelta(hours=12)
    login_absolute: timedelta = timedelta(days=7)
    mfa_for_admins: bool = False
    login_max_backoff: timedelta = timedelta(minutes=1)
    vault_auth: str = "token"
    vault_token: str = field(default="", repr=False)
    vault_role_id: str = ""
    vault_secret_id: str = field(default="", repr=False)
    vault_k8s_role: str = ""
    vault_k8s_token_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    vault_auth_mount: str = ""
    vault_cacert: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    allow_insecure: bool = False
    issuers: tuple[Mapping[str, Any], ...] = ()

    @property
    def tls(self) -> TLSFiles | None:
        """The serving certificate files, when both listeners serve TLS."""
        if not self.tls_cert_file:
            return None
        client_ca = Path(self.tls_client_ca_file) if self.tls_client_ca_file else None
        return TLSFiles(Path(self.tls_cert_file), Path(self.tls_key_file), client_ca)

    @property
    def shares_rate_limits(self) -> bool:
        """Whether the rate limits' buckets live in the store: asked for, or ``auto`` with a SQL
        store that more than one process uses (Postgres, or BROKER_WORKERS > 1)."""
        if self.rate_limit_shared != "auto":
            return self.rate_limit_shared == "store"
        return self.store_url.startswith("postgresql") or (self.workers > 1 and not self.store_url.startswith("vault"))

    @property
    def admin_key_file(self) -> Path:
        """Where the first start writes the admin's private key."""
        return self.data_dir / "admin.key"

    @property
    def kek_file(self) -> Path:
        """Where the key-encryption key lives when BROKER_KEK is not set."""
        return self.data_dir / "kek"


_DURATIONS = {
    "max_token_ttl",
    "default_token_ttl",
    "signing_key_rotation",
    "jwks_cache_ttl",
    "shutdown_grace",
    "identity_cache_ttl",
}
_DURATIONS |= {"scheduler_tick", "leader_lease_ttl", "audit_retention", "audit_checkpoint_interval", "rpc_timeout"}
_DURATIONS |= {"login_access_ttl", "login_idle", "login_absolute", "login_max_backoff"}
_FLAGS = {"allow_insecure", "mfa_for_admins"}
AUDIT_SECRET_READS = ("each", "per-minute")
RATE_LIMIT_SHARING = ("auto", "store", "process")
_RATE_LIMITS = {"rate_limit_exchange", "rate_limit_secret_reads", "rate_limit_address"}
_SECRETS = {"kek"}
_SECRETS |= {"vault_token", "vault_secret_id"}
VAULT_AUTH_METHODS = ("token", "approle", "kubernetes")
MAX_WORKERS = 64
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _env_name(name: str) -> str:
    return f"BROKER_{name.upper()}"


def _split_hostport(value: str, name: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{_env_name(name)}: {value!r} is not host:port")
    return host, int(port)


def _coerce(name: str, value: Any, kind: Any) -> Any:
    shown = "(hidden)" if name in _SECRETS else repr(value)
    if name in _DURATIONS:
        try:
            delta = value if isinstance(value, timedelta) else parse_duration(str(value))
        except ValueError as exc:
            reason = (
                "has no unit (e.g. 90s, 15m, 1h)" if "no unit" in str(exc) else "is not a duration (e.g. 90s, 15m, 1h)"
            )
            raise SettingsError(f"{_env_name(name)}: {shown} {reason}") from None
        if delta <= timedelta(0):
            raise SettingsError(f"{_env_name(name)}: must be positive")
        return delta
    if name in _FLAGS:
        text = str(value).strip().lower()
        if text not in _BOOLEANS:
            raise SettingsError(f"{_env_name(name)}: {shown} is not one of 1, 0, true, false")
        return _BOOLEANS[text]
    if name == "data_dir":
        return Path(str(value))
    if name in ("max_delegation_depth", "workers"):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{_env_name(name)}: {shown} is not an integer") from None
    if name == "issuers":
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            raise SettingsError("issuers: must be a list of mappings (YAML only)")
        return tuple(value)
    if not isinstance(value, str | int | float):
        raise SettingsError(f"{_env_name(name)}: {shown} is not a string")
    return str(value)


#: BROKER_* variables that other programs read (the CLI, the sidecar): never "unknown".
CLIENT_VARIABLES = frozenset(
    {
        "BROKER_ADDR",
        "BROKER_ADMIN_KEY_FILE",
        "BROKER_IDENTITY",
        "BROKER_KEY_FILE",
        "BROKER_ATTESTATION_FILE",
        "BROKER_CA_FILE",
        "BROKER_CLIENT_CERT_FILE",
        "BROKER_CLIENT_KEY_FILE",
    }
)


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each BROKER_* variable no setting reads, naming the nearest known one."""
    known = [_env_name(f.name) for f in dataclasses.fields(Settings) if f.name != "issuers"]
    warnings = []
    for name in sorted(env):
        if not name.startswith("BROKER_") or name in known or name in CLIENT_VARIABLES:
            continue
        if name.startswith("BROKER_SIDECAR_"):
            continue
        suffixes = [k.removeprefix("BROKER_") for k in (*known, *sorted(CLIENT_VARIABLES))]
        near = difflib.get_close_matches(name.removeprefix("BROKER_"), suffixes, n=1, cutoff=0.7)
        hint = f"; did you mean BROKER_{near[0]}?" if near else ""
        warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def _check_limits(s: Settings) -> None:
    if s.rate_limit_shared not in RATE_LIMIT_SHARING:
        choices = ", ".join(RATE_LIMIT_SHARING)
        raise SettingsError(f"BROKER_RATE_LIMIT_SHARED: {s.rate_limit_shared!r} is not one of {choices}")
    if s.rate_limit_shared == "store" and s.store_url.startswith(("vault://", "vaults://")):
        raise SettingsError(
            "BROKER_RATE_LIMIT_SHARED: store: the Vault store keeps no shared buckets; use auto or process"
        )
    if s.audit_secret_reads not in AUDIT_SECRET_READS:
        choices = " or ".join(AUDIT_SECRET_READS)
        raise SettingsError(f"BROKER_AUDIT_SECRET_READS: {s.audit_secret_reads!r} is not {choices}")
    for name in sorted(_RATE_LIMITS):
        try:
            RateLimit.parse(getattr(s, name))
        except ValueError as exc:
            raise SettingsError(f"{_env_name(name)}: {exc}") from None


def _validate(s: Settings, explicit: frozenset[str] = frozenset()) -> Settings:
    _split_hostport(s.grpc_listen, "grpc_listen")
    _check_limits(s)
    host, port = _split_hostport(s.http_listen, "http_listen")
    if s.signing_alg not in SIGNING_ALGORITHMS:
        raise SettingsError(f"BROKER_SIGNING_ALG: {s.signing_alg!r} is not one of {', '.join(SIGNING_ALGORITHMS)}")
    if s.log_format not in LOG_FORMATS:
        raise SettingsError(f"BROKER_LOG_FORMAT: {s.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    if s.log_level not in LOG_LEVELS:
        raise SettingsError(f"BROKER_LOG_LEVEL: {s.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    if s.default_token_ttl > s.max_token_ttl:
        default, maximum = format_duration(s.default_token_ttl), format_duration(s.max_token_ttl)
        if "default_token_ttl" in explicit:
            raise SettingsError(f"BROKER_DEFAULT_TOKEN_TTL: {default} exceeds BROKER_MAX_TOKEN_TTL ({maximum})")
        raise SettingsError(
            f"BROKER_MAX_TOKEN_TTL: {maximum} is shorter than BROKER_DEFAULT_TOKEN_TTL ({default}); "
            "lower BROKER_DEFAULT_TOKEN_TTL too"
        )
    if s.leader_lease_ttl < 2 * s.scheduler_tick:
        raise SettingsError("BROKER_LEADER_LEASE_TTL: must be at least twice BROKER_SCHEDULER_TICK")
    if not 1 <= s.max_delegation_depth <= 10:
        raise SettingsError("BROKER_MAX_DELEGATION_DEPTH: must be between 1 and 10")
    _check_logins(s)
    if not 1 <= s.workers <= MAX_WORKERS:
        raise SettingsError(f"BROKER_WORKERS: must be between 1 and {MAX_WORKERS}")
    if s.workers > 1 and _split_hostport(s.grpc_listen, "grpc_listen")[1] == 0:
        raise SettingsError("BROKER_GRPC_LISTEN: several workers share one fixed port; port 0 is not allowed")
    if s.trust_domain and not all(c.isalnum() or c in ".-_" for c in s.trust_domain):
        raise SettingsError(f"BROKER_TRUST_DOMAIN: {s.trust_domain!r} is not a trust domain name")
    _validate_vault(s)
    _validate_tls(s)
    scheme = "https" if s.tls else "http"
    issuer = s.issuer or f"{scheme}://{host}:{port}"
    if not issuer.startswith(("https://", "http://")) or issuer.endswith("/"):
        raise SettingsError(f"BROKER_ISSUER: {issuer!r} must be an http(s) URL without a trailing slash")
    store_url = s.store_url or f"sqlite:///{(s.data_dir / 'broker.db').resolve()}"
    return dataclasses.replace(s, issuer=issuer, store_url=store_url)


def _check_logins(s: Settings) -> None:
    """People's token lifetimes in order, and a backoff that fits the lockout's hour."""
    if s.login_max_backoff > timedelta(minutes=2):
        raise SettingsError("BROKER_LOGIN_MAX_BACKOFF: at most 2m (the backoffs before a lockout fit in its hour)")
    if not s.login_access_ttl <= s.login_idle <= s.login_absolute:
        raise SettingsError(
            "BROKER_LOGIN_IDLE: need BROKER_LOGIN_ACCESS_TTL <= BROKER_LOGIN_IDLE <= BROKER_LOGIN_ABSOLUTE"
        )


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _validate_tls(s: Settings) -> None:
    """Both TLS files or neither, readable; plain text only on loopback unless BROKER_ALLOW_INSECURE=1."""
    if bool(s.tls_cert_file) != bool(s.tls_key_file):
        raise SettingsError("BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE: set both or neither")
    if s.tls_client_ca_file and not s.tls_cert_file:
        raise SettingsError("BROKER_TLS_CLIENT_CA_FILE: mTLS needs BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE")
    for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
        path = getattr(s, name)
        if path and not Path(path).is_file():
            raise SettingsError(f"{_env_name(name)}: {path} is not a readable file")
    if s.tls or s.allow_insecure:
        return
    for name in ("grpc_listen", "http_listen"):
        address = getattr(s, name)
        if not _is_loopback(_split_hostport(address, name)[0]):
            raise SettingsError(
                f"{_env_name(name)}: {address} is not a loopback address; serving plain text there needs "
                "BROKER_ALLOW_INSECURE=1 (set BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE to serve TLS)"
            )


def plaintext_warning(s: Settings) -> str | None:
    """What the broker logs when BROKER_ALLOW_INSECURE=1 lets it serve plain text beyond loopback."""
    if s.tls:
        return None
    exposed = [a for a in (s.grpc_listen, s.http_listen) if not _is_loopback(a.rpartition(":")[0])]
    if not exposed:
        return None
    where = ", ".join(exposed)
    return f"serving plain text on {where} (BROKER_ALLOW_INSECURE=1): bearer tokens cross the network in the clear"


def _validate_vault(s: Settings) -> None:
    """The BROKER_VAULT_* settings a vault:// store needs (checked only for such a store)."""
    if s.vault_auth not in VAULT_AUTH_METHODS:
        raise SettingsError(f"BROKER_VAULT_AUTH: {s.vault_auth!r} is not one of {', '.join(VAULT_AUTH_METHODS)}")
    if not s.store_url.lower().startswith(("vault://", "vaults://", "vault+http://", "vault+https://")):
        return
    if s.vault_auth == "token" and not s.vault_token:
        raise SettingsError("BROKER_VAULT_TOKEN: required for a vault:// store with BROKER_VAULT_AUTH=token")
    if s.vault_auth == "approle" and not (s.vault_role_id and s.vault_secret_id):
        raise SettingsError(
            "BROKER_VAULT_ROLE_ID and BROKER_VAULT_SECRET_ID: both required with BROKER_VAULT_AUTH=approle"
        )
    if s.vault_auth == "kubernetes" and not s.vault_k8s_role:
        raise SettingsError("BROKER_VAULT_K8S_ROLE: required with BROKER_VAULT_AUTH=kubernetes")
    if s.vault_cacert and not Path(s.vault_cacert).is_file():
        raise SettingsError(f"BROKER_VAULT_CACERT: {s.vault_cacert} is not a readable file")


def load_settings(config_file: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from defaults, then the YAML file, then BROKER_* variables."""
    env = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text())
        except OSError as exc:
            raise SettingsError(f"--config: cannot read {config_file}: {exc.strerror}") from None
        except yaml.YAMLError:
            raise SettingsError(f"--config: {config_file} is not valid YAML") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"--config: {config_file} must hold a mapping of settings")
        for key, value in loaded.items():
            if key not in fields:
                raise SettingsError(f"--config: unknown setting {key!r}")
            values[key] = _coerce(key, value, fields[key].type)
    for name, f in fields.items():
        if name == "issuers":
            continue
        raw = env.get(_env_name(name))
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw, f.type)
    if "vault_token" not in values and env.get("VAULT_TOKEN"):
        values["vault_token"] = env["VAULT_TOKEN"]  # the variable Vault's own tools read
    return _validate(Settings(**values), frozenset(values))

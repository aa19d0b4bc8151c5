"""What the sidecar keeps: parsed from a YAML file, then the environment, then flags.

Each layer replaces what the one below it set (a list such as ``tokens`` is replaced as
a whole). The YAML file (``--config`` / ``BROKER_SIDECAR_CONFIG``)::

    broker: 127.0.0.1:50051          # BROKER_ADDR, --broker
    identity: payments               # BROKER_IDENTITY, --identity
    key_file: payments.pem           # BROKER_KEY_FILE, --key-file
    # attestation_file: /var/run/secrets/tokens/broker   (instead of identity + key_file)
    ca_file: ca.crt                  # BROKER_CA_FILE, --ca-file: the broker serves TLS
    client_cert_file: svid.crt       # BROKER_CLIENT_CERT_FILE, --client-cert-file (mTLS)
    client_key_file: svid.key        # BROKER_CLIENT_KEY_FILE, --client-key-file
    tokens:                          # BROKER_SIDECAR_TOKENS, --token (repeatable)
      - path: run/payments.token
        scopes: [payments.read]
        audiences: [https://payments.example.com]
        ttl: 5m
    secrets:                         # BROKER_SIDECAR_SECRETS, --secret (repeatable)
      - id: db-password
        path: run/db-password
    signal: SIGHUP                   # BROKER_SIDECAR_SIGNAL, --signal
    command: [nginx, -g, daemon off;]  # or: broker-sidecar ... -- nginx -g 'daemon off;'

On the command line and in the environment an entry is ``key=value`` pairs separated by
commas (``path=run/t,scope=a,scope=b,audience=https://x,ttl=5m``; ``id=db,path=run/db``),
entries in a variable separated by ``;``. Every entry may name its own ``identity``,
``key_file`` or ``attestation_file``; one that names neither, with a client certificate
configured, is proved by that certificate (an ``x509`` binding). JSON is valid YAML: without PyYAML installed (the
``yaml`` extra) a JSON config file still works.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._attestors import ClientCertificateAttestor, KeyAttestor, TokenFileAttestor
from ._typing import Attestor

DEFAULT_BROKER = "127.0.0.1:50051"
DEFAULT_START_TIMEOUT = 10.0
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TOKEN_KEYS = frozenset({"path", "scopes", "audiences", "ttl", "identity", "key_file", "attestation_file"})
_SECRET_KEYS = frozenset({"id", "path", "identity", "key_file", "attestation_file"})
_TLS_KEYS = ("ca_file", "client_cert_file", "client_key_file")
_TOP_KEYS = frozenset(
    {
        "broker",
        "identity",
        "key_file",
        "attestation_file",
        *_TLS_KEYS,
        "tokens",
        "secrets",
        "signal",
        "command",
        "start_timeout",
    }
)


class ConfigError(ValueError):
    """The sidecar's configuration is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True)
class Credentials:
    """How an entry proves its identity: identity + key file, an attestation token file,
    or the channel's client certificate."""

    identity: str = ""
    key_file: str = ""
    attestation_file: str = ""
    client_certificate: bool = False

    def attestor(self) -> Attestor:
        """The attestor these credentials describe (the key file is read now)."""
        if self.client_certificate:
            return ClientCertificateAttestor()
        if self.attestation_file:
            return TokenFileAttestor(self.attestation_file)
        try:
            return KeyAttestor(self.identity, self.key_file)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"key_file: cannot load private key {self.key_file}: {exc}") from None


@dataclass(frozen=True)
class TokenOutput:
    """A token to keep fresh at ``path``."""

    path: Path
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    ttl: float | None
    credentials: Credentials


@dataclass(frozen=True)
class SecretOutput:
    """A secret's current value to keep at ``path``."""

    secret_id: str
    path: Path
    credentials: Credentials


@dataclass(frozen=True)
class TlsFiles:
    """The broker serves TLS: the CA that signed it, and this workload's client certificate (mTLS)."""

    ca_file: str
    client_cert_file: str = ""
    client_key_file: str = ""


@dataclass(frozen=True)
class SidecarConfig:
    """Everything the sidecar does."""

    broker: str
    tokens: tuple[TokenOutput, ...]
    secrets: tuple[SecretOutput, ...]
    tls: TlsFiles | None = None
    command: tuple[str, ...] = ()
    signal: signal.Signals = signal.SIGHUP
    once: bool = False
    start_timeout: float = DEFAULT_START_TIMEOUT


def parse_duration(text: str | float, what: str) -> float:
    """Seconds from ``90s``, ``5m``, ``1h30m`` or a bare number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        value = str(text).strip()
        seconds, pos = 0.0, 0
        if re.fullmatch(r"\d+(\.\d+)?", value):
            seconds, pos = float(value), len(value)
        else:
            for match in _DURATION_PART.finditer(value):
                if match.start() != pos:
                    break
                seconds += int(match.group(1)) * _UNITS[match.group(2)]
                pos = match.end()
        if pos == 0 or pos != len(value):
            raise ConfigError(f"{what}: {text!r} is not a duration (e.g. 90s, 5m, 1h30m)")
    if seconds < 0:
        raise ConfigError(f"{what}: must not be negative")
    return seconds


def parse_signal(name: str | int) -> signal.Signals:
    """A signal from ``HUP``, ``SIGHUP`` or its number."""
    text = str(name).strip().upper()
    try:
        if text.isdigit():
            return signal.Signals(int(text))
        return signal.Signals[text if text.startswith("SIG") else f"SIG{text}"]
    except (KeyError, ValueError):
        raise ConfigError(f"signal: {name!r} is not a signal name") from None


def parse_entry(spec: str, what: str) -> dict[str, Any]:
    """``key=value,key=value`` into a mapping; ``scope`` and ``audience`` repeat into lists."""
    entry: dict[str, Any] = {}
    for part in spec.split(","):
        key, sep, value = part.strip().partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"{what}: {part.strip()!r} is not key=value (in {spec!r})")
        if key in ("scope", "audience"):
            entry.setdefault(f"{key}s", []).append(value.strip())
        elif key in entry:
            raise ConfigError(f"{what}: {key} given twice (in {spec!r})")
        else:
            entry[key] = value.strip()
    return entry


def _entries(text: str, what: str) -> list[dict[str, Any]]:
    return [parse_entry(chunk, what) for chunk in re.split(r"[;\n]", text) if chunk.strip()]


def read_config_file(path: str) -> dict[str, Any]:
    """The YAML (or JSON) config file as a mapping."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    try:
        import yaml  # noqa: PLC0415 - the optional ``yaml`` extra

        data: Any = yaml.safe_load(text)
    except ImportError:
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigError(
                f"config: {path} is not JSON, and reading YAML needs PyYAML: pip install 'identity-broker-client[yaml]'"
            ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path} must hold a mapping")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"config: unknown setting {unknown[0]!r} in {path}")
    return data


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what}: must be a string or a list of strings")


def _credentials(entry: Mapping[str, Any], top: Mapping[str, Any], what: str) -> Credentials:
    own = {k: entry.get(k) for k in ("identity", "key_file", "attestation_file") if entry.get(k)}
    source = own if ("key_file" in own or "attestation_file" in own) else {**top, **own}
    creds = Credentials(
        identity=str(source.get("identity") or ""),
        key_file=str(source.get("key_file") or ""),
        attestation_file=str(source.get("attestation_file") or ""),
    )
    if creds.key_file and creds.attestation_file:
        raise ConfigError(f"{what}: give key_file or attestation_file, not both")
    if not creds.key_file and not creds.attestation_file and top.get("client_cert_file"):
        return Credentials(client_certificate=True)
    if not creds.attestation_file and not (creds.identity and creds.key_file):
        raise ConfigError(f"{what}: needs identity and key_file, attestation_file, or a client certificate")
    return creds


def _tls(settings: Mapping[str, Any]) -> TlsFiles | None:
    files = {k: str(settings.get(k) or "") for k in _TLS_KEYS}
    if bool(files["client_cert_file"]) != bool(files["client_key_file"]):
        raise ConfigError("client_cert_file and client_key_file go together")
    if not any(files.values()):
        return None
    if not files["ca_file"]:
        raise ConfigError("ca_file: required with a client certificate (the CA that signed the broker's)")
    return TlsFiles(**files)


def _token(entry: Any, top: Mapping[str, Any], what: str) -> TokenOutput:
    if not isinstance(entry, dict):
        raise ConfigError(f"{what}: must be a mapping")
    unknown = sorted(set(entry) - _TOKEN_KEYS)
    if unknown:
        raise ConfigError(f"{what}: unknown key {unknown[0]!r}")
    if not entry.get("path"):
        raise ConfigError(f"{what}: path is required")
    ttl = entry.get("ttl")
    return TokenOutput(
        path=Path(str(entry["path"])),
        scopes=_strings(entry.get("scopes"), f"{what}.scopes"),
        audiences=_strings(entry.get("audiences"), f"{what}.audiences"),
        ttl=None if ttl in (None, "") else parse_duration(ttl, f"{what}.ttl"),
        credentials=_credentials(entry, top, what),
    )


def _secret(entry: Any, top: Mapping[str, Any], what: str) -> SecretOutput:
    if not isinstance(entry, dict):
        raise ConfigError(f"{what}: must be a mapping")
    unknown = sorted(set(entry) - _SECRET_KEYS)
    if unknown:
        raise ConfigError(f"{what}: unknown key {unknown[0]!r}")
    if not entry.get("id") or not entry.get("path"):
        raise ConfigError(f"{what}: id and path are required")
    return SecretOutput(str(entry["id"]), Path(str(entry["path"])), _credentials(entry, top, what))


def argument_parser() -> argparse.ArgumentParser:
    """The sidecar's command line."""
    parser = argparse.ArgumentParser(
        prog="broker-sidecar",
        description="Keep broker tokens and secrets fresh in files; optionally run and signal a child.",
        epilog="Settings come from --config < environment (BROKER_ADDR, BROKER_IDENTITY, BROKER_KEY_FILE, "
        "BROKER_ATTESTATION_FILE, BROKER_CA_FILE, BROKER_CLIENT_CERT_FILE, BROKER_CLIENT_KEY_FILE, "
        "BROKER_SIDECAR_*) < flags.",
    )
    parser.add_argument("--config", help="YAML (or JSON) file [BROKER_SIDECAR_CONFIG]")
    parser.add_argument("--broker", help=f"broker gRPC address [BROKER_ADDR, default {DEFAULT_BROKER}]")
    parser.add_argument("--identity", help="identity id for key assertions [BROKER_IDENTITY]")
    parser.add_argument("--key-file", help="private key (PEM) of the identity [BROKER_KEY_FILE]")
    parser.add_argument("--attestation-file", help="JWT file re-read at every exchange [BROKER_ATTESTATION_FILE]")
    parser.add_argument("--ca-file", help="PEM CA of a broker serving TLS [BROKER_CA_FILE]")
    parser.add_argument("--client-cert-file", help="client certificate for mTLS [BROKER_CLIENT_CERT_FILE]")
    parser.add_argument("--client-key-file", help="its private key [BROKER_CLIENT_KEY_FILE]")
    parser.add_argument("--token", action="append", metavar="SPEC", help="path=F,scope=S,audience=A,ttl=5m")
    parser.add_argument("--secret", action="append", metavar="SPEC", help="id=SECRET,path=F")
    parser.add_argument("--signal", help="sent to the child after a change [BROKER_SIDECAR_SIGNAL, default SIGHUP]")
    parser.add_argument("--start-timeout", help="how long to wait for an unreachable broker at start (default 10s)")
    parser.add_argument("--once", action="store_true", help="write every file once and exit (init containers)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS: the child to run")
    return parser


def load_config(argv: Sequence[str], environ: Mapping[str, str]) -> SidecarConfig:
    """The configuration from ``argv`` (without the program name) and ``environ``."""
    args = argument_parser().parse_args(list(argv))
    config_path = args.config or environ.get("BROKER_SIDECAR_CONFIG")
    settings: dict[str, Any] = read_config_file(config_path) if config_path else {}
    env_layer = {
        "broker": environ.get("BROKER_ADDR"),
        "identity": environ.get("BROKER_IDENTITY"),
        "key_file": environ.get("BROKER_KEY_FILE"),
        "attestation_file": environ.get("BROKER_ATTESTATION_FILE"),
        "ca_file": environ.get("BROKER_CA_FILE"),
        "client_cert_file": environ.get("BROKER_CLIENT_CERT_FILE"),
        "client_key_file": environ.get("BROKER_CLIENT_KEY_FILE"),
        "tokens": _entries(environ["BROKER_SIDECAR_TOKENS"], "BROKER_SIDECAR_TOKENS")
        if environ.get("BROKER_SIDECAR_TOKENS")
        else None,
        "secrets": _entries(environ["BROKER_SIDECAR_SECRETS"], "BROKER_SIDECAR_SECRETS")
        if environ.get("BROKER_SIDECAR_SECRETS")
        else None,
        "signal": environ.get("BROKER_SIDECAR_SIGNAL"),
        "start_timeout": environ.get("BROKER_SIDECAR_START_TIMEOUT"),
    }
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    flag_layer = {
        "broker": args.broker,
        "identity": args.identity,
        "key_file": args.key_file,
        "attestation_file": args.attestation_file,
        "ca_file": args.ca_file,
        "client_cert_file": args.client_cert_file,
        "client_key_file": args.client_key_file,
        "tokens": [parse_entry(spec, "--token") for spec in args.token] if args.token else None,
        "secrets": [parse_entry(spec, "--secret") for spec in args.secret] if args.secret else None,
        "signal": args.signal,
        "start_timeout": args.start_timeout,
        "command": command or None,
    }
    for layer in (env_layer, flag_layer):
        given = {k: v for k, v in layer.items() if v is not None}
        if "key_file" in given or "attestation_file" in given:  # a higher layer's choice of attestation wins
            settings.pop("key_file", None)
            settings.pop("attestation_file", None)
        settings.update(given)
    top = {k: settings.get(k) for k in ("identity", "key_file", "attestation_file", "client_cert_file")}
    tokens_raw = settings.get("tokens") or []
    secrets_raw = settings.get("secrets") or []
    if not isinstance(tokens_raw, list) or not isinstance(secrets_raw, list):
        raise ConfigError("tokens and secrets must be lists")
    tokens = tuple(_token(e, top, f"tokens[{i}]") for i, e in enumerate(tokens_raw))
    secrets = tuple(_secret(e, top, f"secrets[{i}]") for i, e in enumerate(secrets_raw))
    if not tokens and not secrets:
        raise ConfigError("nothing to do: give at least one --token or --secret")
    paths = [str(o.path) for o in tokens] + [str(o.path) for o in secrets]
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        raise ConfigError(f"path {duplicates[0]} is used twice")
    raw_command = settings.get("command") or ()
    if isinstance(raw_command, str) or not all(isinstance(c, str) for c in raw_command):
        raise ConfigError("command: must be a list of strings")
    return SidecarConfig(
        broker=str(settings.get("broker") or DEFAULT_BROKER),
        tokens=tokens,
        secrets=secrets,
        tls=_tls(settings),
        command=tuple(raw_command),
        signal=parse_signal(settings["signal"]) if settings.get("signal") else signal.SIGHUP,
        once=args.once,
        start_timeout=parse_duration(settings["start_timeout"], "start_timeout")
        if settings.get("start_timeout") not in (None, "")
        else DEFAULT_START_TIMEOUT,
    )

"""The sidecar's configuration: YAML/JSON file < environment < flags, and clear errors."""

from __future__ import annotations

import importlib.util
import json
import signal
from pathlib import Path

import pytest

from broker_client.sidecar import ConfigError, load_config

needs_yaml = pytest.mark.skipif(
    importlib.util.find_spec("yaml") is None,
    reason="optional extra not installed: pip install 'identity-broker-client[yaml]'",
)


def test_flags_alone_describe_tokens_and_secrets(key_file: Path) -> None:
    """--token and --secret specs, with identity and key from flags, make a complete configuration."""
    config = load_config(
        [
            "--broker", "10.0.0.1:50051", "--identity", "payments", "--key-file", str(key_file),
            "--token", "path=run/t,scope=payments.read,scope=payments.write,audience=https://api,ttl=5m",
            "--secret", "id=db,path=run/db",
            "--signal", "USR1",
            "--", "nginx", "-g", "daemon off;",
        ],
        {},
    )  # fmt: skip
    (token,) = config.tokens
    assert config.broker == "10.0.0.1:50051"
    assert token.path == Path("run/t") and token.scopes == ("payments.read", "payments.write")
    assert token.audiences == ("https://api",) and token.ttl == 300
    assert token.credentials.identity == "payments"
    assert config.secrets[0].secret_id == "db" and config.secrets[0].path == Path("run/db")
    assert config.signal is signal.SIGUSR1
    assert config.command == ("nginx", "-g", "daemon off;")


def test_environment_fills_in_what_flags_do_not_say(key_file: Path) -> None:
    """BROKER_ADDR, BROKER_IDENTITY, BROKER_KEY_FILE and BROKER_SIDECAR_* configure the sidecar."""
    env = {
        "BROKER_ADDR": "b:1",
        "BROKER_IDENTITY": "svc",
        "BROKER_KEY_FILE": str(key_file),
        "BROKER_SIDECAR_TOKENS": "path=a,scope=x; path=b,audience=https://y",
        "BROKER_SIDECAR_SIGNAL": "SIGUSR2",
    }
    config = load_config(["--broker", "c:2"], env)
    assert config.broker == "c:2"
    assert [t.path.name for t in config.tokens] == ["a", "b"]
    assert config.signal is signal.SIGUSR2 and config.secrets == () and config.start_timeout == 10


def test_json_config_file_works_without_pyyaml(tmp_path: Path, key_file: Path) -> None:
    """A JSON config file (JSON is YAML) is read; environment and flags override it."""
    path = tmp_path / "sidecar.json"
    path.write_text(
        json.dumps(
            {
                "broker": "file:1",
                "identity": "svc",
                "key_file": str(key_file),
                "tokens": [{"path": "t", "scopes": ["a"], "ttl": 60}],
                "command": ["sleep", "1"],
            }
        )
    )
    config = load_config(["--config", str(path)], {"BROKER_ADDR": "env:2"})
    assert config.broker == "env:2" and config.tokens[0].ttl == 60 and config.command == ("sleep", "1")


@needs_yaml
def test_yaml_config_file(tmp_path: Path, key_file: Path) -> None:
    """The YAML form of the README works, including per-entry credentials."""
    path = tmp_path / "sidecar.yaml"
    path.write_text(
        f"""
broker: 127.0.0.1:50051
identity: payments
key_file: {key_file}
tokens:
  - path: run/payments.token
    scopes: [payments.read]
    audiences: [https://payments.example.com]
    ttl: 1h30m
  - path: run/ci.token
    attestation_file: /var/run/ci-token
secrets:
  - id: db-password
    path: run/db-password
signal: HUP
"""
    )
    config = load_config([], {"BROKER_SIDECAR_CONFIG": str(path)})
    payments, ci = config.tokens
    assert payments.ttl == 5400 and payments.credentials.key_file == str(key_file)
    assert ci.credentials.attestation_file == "/var/run/ci-token" and not ci.credentials.key_file
    assert config.secrets[0].credentials.identity == "payments"


def test_a_higher_layer_choice_of_attestation_wins(key_file: Path) -> None:
    """An attestation file given by flag replaces a key file from the environment, and the reverse."""
    env = {"BROKER_IDENTITY": "svc", "BROKER_KEY_FILE": str(key_file), "BROKER_SIDECAR_TOKENS": "path=t"}
    config = load_config(["--attestation-file", "/var/run/token"], env)
    assert config.tokens[0].credentials.attestation_file == "/var/run/token"
    assert config.tokens[0].credentials.key_file == ""


def test_tls_files_and_certificate_attestation_from_each_layer(tmp_path: Path, key_file: Path) -> None:
    """ca_file and the client certificate come from YAML, environment or flags; an entry with
    neither key nor attestation file is then proved by the certificate, one with a key still by its key."""
    path = tmp_path / "c.json"
    by_key_entry = {"path": "u", "identity": "svc", "key_file": str(key_file)}
    path.write_text(json.dumps({"ca_file": "ca.crt", "tokens": [{"path": "t"}, by_key_entry]}))
    env = {"BROKER_CLIENT_CERT_FILE": "svid.crt"}
    config = load_config(["--config", str(path), "--client-key-file", "svid.key"], env)
    assert config.tls is not None
    assert (config.tls.ca_file, config.tls.client_cert_file, config.tls.client_key_file) == (
        "ca.crt",
        "svid.crt",
        "svid.key",
    )
    by_certificate, by_key = (t.credentials for t in config.tokens)
    assert by_certificate.client_certificate and not by_certificate.identity
    assert by_key.identity == "svc" and by_key.key_file == str(key_file) and not by_key.client_certificate


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to do"),
        (["--token", "path=t"], "needs identity and key_file, attestation_file, or a client certificate"),
        (["--token", "path=t", "--client-cert-file", "c.crt"], "client_cert_file and client_key_file go together"),
        (["--token", "path=t", "--client-cert-file", "c.crt", "--client-key-file", "c.key"], "ca_file: required"),
        (["--identity", "a", "--key-file", "k", "--token", "scope=x"], "path is required"),
        (["--identity", "a", "--key-file", "k", "--token", "path=t,colour=red"], "unknown key 'colour'"),
        (["--identity", "a", "--key-file", "k", "--token", "path=t,ttl=soon"], "not a duration"),
        (["--identity", "a", "--key-file", "k", "--token", "path"], "not key=value"),
        (["--identity", "a", "--key-file", "k", "--secret", "path=s"], "id and path are required"),
        (["--identity", "a", "--key-file", "k", "--token", "path=x", "--secret", "id=s,path=x"], "used twice"),
        (["--identity", "a", "--key-file", "k", "--token", "path=t", "--signal", "NOPE"], "not a signal"),
        (["--config", "/nonexistent/sidecar.yaml"], "cannot read"),
    ],
)
def test_bad_configuration_is_one_clear_line(argv: list[str], message: str) -> None:
    """Each mistake raises ConfigError with a message naming it."""
    with pytest.raises(ConfigError, match=message):
        load_config(argv, {})


def test_config_file_with_unknown_settings_is_refused(tmp_path: Path) -> None:
    """A misspelt top-level setting is named, not ignored."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"tokenz": []}))
    with pytest.raises(ConfigError, match="unknown setting 'tokenz'"):
        load_config(["--config", str(path)], {})

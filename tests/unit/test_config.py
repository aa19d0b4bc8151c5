"""Settings: defaults < YAML < environment, and one-line errors naming the setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from broker.config import SettingsError, load_settings, plaintext_warning, unknown_variables


def test_zero_configuration_defaults() -> None:
    """With nothing set the broker runs on loopback with SQLite under ./data."""
    s = load_settings(environ={})
    assert s.grpc_listen == "127.0.0.1:50051"
    assert s.http_listen == "127.0.0.1:8080"
    assert s.issuer == "http://127.0.0.1:8080"
    assert s.store_url.startswith("sqlite:///") and s.store_url.endswith("data/broker.db")
    assert s.signing_alg == "ES256"
    assert s.admin_key_file == Path("data/admin.key")


def test_issuer_follows_the_http_listener() -> None:
    """BROKER_ISSUER defaults to http://<HTTP listen address>."""
    s = load_settings(environ={"BROKER_HTTP_LISTEN": "127.0.0.1:9999"})
    assert s.issuer == "http://127.0.0.1:9999"


def test_environment_wins_over_yaml(tmp_path: Path) -> None:
    """A BROKER_* variable overrides the same setting in the YAML file."""
    config = tmp_path / "b.yaml"
    config.write_text("max_token_ttl: 30m\nsigning_alg: EdDSA\n")
    s = load_settings(config, environ={"BROKER_MAX_TOKEN_TTL": "2h"})
    assert s.max_token_ttl == timedelta(hours=2)
    assert s.signing_alg == "EdDSA"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"BROKER_GRPC_LISTEN": "nope"}, "BROKER_GRPC_LISTEN"),
        ({"BROKER_HTTP_LISTEN": "host:99999"}, "BROKER_HTTP_LISTEN"),
        ({"BROKER_SIGNING_ALG": "none"}, "BROKER_SIGNING_ALG"),
        ({"BROKER_LOG_FORMAT": "xml"}, "BROKER_LOG_FORMAT"),
        ({"BROKER_MAX_TOKEN_TTL": "0s"}, "BROKER_MAX_TOKEN_TTL"),
        ({"BROKER_DEFAULT_TOKEN_TTL": "2h"}, "BROKER_DEFAULT_TOKEN_TTL"),
        ({"BROKER_ISSUER": "ftp://x"}, "BROKER_ISSUER"),
        ({"BROKER_MAX_DELEGATION_DEPTH": "many"}, "BROKER_MAX_DELEGATION_DEPTH"),
        ({"BROKER_WORKERS": "two"}, "BROKER_WORKERS"),
        ({"BROKER_WORKERS": "0"}, "BROKER_WORKERS"),
        ({"BROKER_WORKERS": "65"}, "BROKER_WORKERS"),
        ({"BROKER_WORKERS": "2", "BROKER_GRPC_LISTEN": "127.0.0.1:0"}, "BROKER_GRPC_LISTEN"),
        ({"BROKER_LOGIN_MAX_BACKOFF": "5m"}, "BROKER_LOGIN_MAX_BACKOFF"),
        ({"BROKER_LOGIN_IDLE": "1m"}, "BROKER_LOGIN_IDLE"),
        ({"BROKER_MFA_FOR_ADMINS": "maybe"}, "BROKER_MFA_FOR_ADMINS"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], needle: str) -> None:
    """Each malformed value raises one SettingsError line that names the variable."""
    with pytest.raises(SettingsError) as info:
        load_settings(environ=env)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_errors_name_the_file_or_key(tmp_path: Path) -> None:
    """Unknown keys, non-mappings and unreadable files are refused clearly."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("colour: blue\n")
    with pytest.raises(SettingsError, match="unknown setting 'colour'"):
        load_settings(bad, environ={})
    bad.write_text("- a list\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(bad, environ={})
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_kek_never_appears_in_repr() -> None:
    """The key-encryption key is hidden from the Settings repr."""
    kek = "A" * 43 + "="
    assert kek not in repr(load_settings(environ={"BROKER_KEK": kek}))


@pytest.mark.parametrize("value", ["1", "1s"])
def test_a_short_max_token_ttl_names_the_setting_that_was_set(value: str) -> None:
    """BROKER_MAX_TOKEN_TTL=1 (no unit) or 1s (below the default TTL): the error names BROKER_MAX_TOKEN_TTL first."""
    with pytest.raises(SettingsError) as info:
        load_settings(environ={"BROKER_MAX_TOKEN_TTL": value})
    assert str(info.value).startswith("BROKER_MAX_TOKEN_TTL: ")


def test_an_unknown_broker_variable_is_named_with_the_nearest_setting() -> None:
    """A typo like BROKER_SIGNING_ALGO is reported with 'did you mean BROKER_SIGNING_ALG?'; client variables are not."""
    env = {"BROKER_SIGNING_ALGO": "EdDSA", "BROKER_ADDR": "x:1", "BROKER_SIDECAR_TOKENS": "", "BROKER_ZZZ": "1"}
    assert unknown_variables(env) == [
        "BROKER_SIGNING_ALGO is not a setting and is ignored; did you mean BROKER_SIGNING_ALG?",
        "BROKER_ZZZ is not a setting and is ignored",
    ]


def test_plain_text_is_refused_beyond_loopback_unless_allowed_and_then_warned() -> None:
    """0.0.0.0 without TLS files needs BROKER_ALLOW_INSECURE=1, and then a warning names the address."""
    for name in ("BROKER_GRPC_LISTEN", "BROKER_HTTP_LISTEN"):
        with pytest.raises(SettingsError, match=f"{name}: 0.0.0.0:9 is not a loopback address.*ALLOW_INSECURE=1"):
            load_settings(environ={name: "0.0.0.0:9"})
    for loopback in ("127.0.0.1:9", "localhost:9", "[::1]:9"):
        assert plaintext_warning(load_settings(environ={"BROKER_GRPC_LISTEN": loopback})) is None
    allowed = load_settings(environ={"BROKER_GRPC_LISTEN": "0.0.0.0:9", "BROKER_ALLOW_INSECURE": "1"})
    assert allowed.allow_insecure
    warning = plaintext_warning(allowed)
    assert warning is not None and "0.0.0.0:9" in warning and "127.0.0.1:8080" not in warning
    with pytest.raises(SettingsError, match="BROKER_ALLOW_INSECURE: 'maybe' is not one of"):
        load_settings(environ={"BROKER_ALLOW_INSECURE": "maybe"})


def test_tls_files_go_together_and_must_exist(tmp_path: Path) -> None:
    """Cert without key, a client CA without a certificate, or a missing file: one line naming it."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    with pytest.raises(SettingsError, match="BROKER_TLS_CERT_FILE and BROKER_TLS_KEY_FILE: set both"):
        load_settings(environ={"BROKER_TLS_CERT_FILE": str(cert)})
    with pytest.raises(SettingsError, match="BROKER_TLS_CLIENT_CA_FILE: mTLS needs"):
        load_settings(environ={"BROKER_TLS_CLIENT_CA_FILE": str(cert)})
    with pytest.raises(SettingsError, match=f"BROKER_TLS_KEY_FILE: {tmp_path}/gone is not a readable file"):
        load_settings(environ={"BROKER_TLS_CERT_FILE": str(cert), "BROKER_TLS_KEY_FILE": str(tmp_path / "gone")})
    served = load_settings(
        environ={
            "BROKER_TLS_CERT_FILE": str(cert),
            "BROKER_TLS_KEY_FILE": str(key),
            "BROKER_HTTP_LISTEN": "0.0.0.0:8443",
        }
    )
    assert served.tls is not None and served.tls.client_ca_file is None
    assert served.issuer == "https://0.0.0.0:8443" and plaintext_warning(served) is None

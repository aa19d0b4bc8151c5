"""Settings: defaults < YAML < environment, and one-line errors naming the setting."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from broker.config import SettingsError, load_settings, unknown_variables


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

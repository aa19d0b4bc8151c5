"""The attestors: key assertions, token files, callables."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from broker_client import CallableAttestor, KeyAttestor, TokenFileAttestor, keys
from broker_client._attestors import as_attestor


def test_key_attestor_signs_a_verifiable_assertion(key_file: Path) -> None:
    """The assertion verifies with the public key; iss = sub = identity, aud = the given issuer, kid = thumbprint."""
    key = keys.load_private_key(key_file)
    token = KeyAttestor("payments", key_file).attest("https://broker.test")
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience="https://broker.test")
    assert claims["iss"] == claims["sub"] == "payments"
    assert claims["exp"] - claims["iat"] == 60
    assert jwt.get_unverified_header(token)["kid"] == keys.thumbprint(keys.public_jwk(key))


def test_key_attestor_accepts_a_key_object_and_fixed_audience(key_file: Path) -> None:
    """A key object works as well as a path; an explicit audience overrides the broker's issuer."""
    key = keys.load_private_key(key_file)
    token = KeyAttestor("p", key, audience="https://fixed", kid="k1").attest("https://ignored")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "https://fixed"
    assert jwt.get_unverified_header(token)["kid"] == "k1"


def test_key_attestor_refuses_a_file_that_is_not_a_key(tmp_path: Path) -> None:
    """A file without a PEM private key is refused when the attestor is built."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ValueError):
        KeyAttestor("p", bad)


def test_key_attestor_repr_names_the_identity_only(key_file: Path) -> None:
    """repr shows the identity, never key material."""
    assert repr(KeyAttestor("payments", key_file)) == "KeyAttestor('payments')"


def test_token_file_attestor_reads_the_current_content(tmp_path: Path) -> None:
    """Each attest() returns what the file holds now, without surrounding whitespace."""
    path = tmp_path / "token"
    path.write_text("aaa.bbb.ccc\n")
    attestor = TokenFileAttestor(path)
    assert attestor.attest("x") == "aaa.bbb.ccc"
    path.write_text("ddd.eee.fff")
    assert attestor.attest("x") == "ddd.eee.fff"


def test_token_file_attestor_refuses_an_empty_file(tmp_path: Path) -> None:
    """An empty token file is an error, not an empty attestation."""
    path = tmp_path / "token"
    path.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        TokenFileAttestor(path).attest("x")


def test_callable_attestor_and_bare_callables() -> None:
    """A bare callable becomes a CallableAttestor; what it returns is the attestation."""
    attestor = as_attestor(lambda: "a.b.c")
    assert isinstance(attestor, CallableAttestor) and attestor.attest("x") == "a.b.c"


def test_callable_attestor_refuses_non_strings_and_non_callables() -> None:
    """A callable returning no JWT string, or a non-callable, is refused."""
    with pytest.raises(ValueError):
        CallableAttestor(lambda: None).attest("x")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        as_attestor(42)  # type: ignore[arg-type]

"""Strict JWS parsing: sizes, JSON shape and header allow-lists (RFC 7515 compact form)."""

from __future__ import annotations

import base64
import json

import pytest

from broker.core import jws
from broker.core.errors import InvalidArgument, Unauthenticated

ALGS = frozenset({"ES256"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(header: object, payload: object = None, sig: bytes = b"sig") -> str:
    head = _b64(json.dumps(header).encode()) if not isinstance(header, bytes) else _b64(header)
    body = _b64(json.dumps(payload if payload is not None else {"sub": "x"}).encode())
    return f"{head}.{body}.{_b64(sig)}"


def test_rfc7515_example_header_and_payload_parse() -> None:
    """The RFC 7515 A.3 (ES256) example parses; its claims come out as JSON."""
    token = (
        "eyJhbGciOiJFUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
    )
    parsed = jws.parse(token, algorithms=ALGS)
    assert parsed.alg == "ES256"
    assert parsed.claims["iss"] == "joe"
    assert len(parsed.signature) == 64


def test_oversized_token_is_invalid_argument_before_parsing() -> None:
    """Tokens over the cap are refused as INVALID_ARGUMENT, without decoding."""
    with pytest.raises(InvalidArgument):
        jws.parse("a" * (jws.MAX_TOKEN_BYTES + 1), algorithms=ALGS)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "HS256", "RS512", ""])
def test_algorithms_outside_the_allow_list_are_refused(alg: str) -> None:
    """alg none in any capitalisation, HMAC and unlisted algorithms never pass."""
    with pytest.raises(Unauthenticated):
        jws.parse(_token({"alg": alg, "kid": "k"}), algorithms=ALGS)


@pytest.mark.parametrize("kid", ["", "../../etc/passwd", "https://evil.example/key", "a b", 7])
def test_malformed_kids_are_refused(kid: object) -> None:
    """Empty, path, URL and non-string kids are refused before any lookup."""
    with pytest.raises(Unauthenticated):
        jws.parse(_token({"alg": "ES256", "kid": kid}), algorithms=ALGS)


def test_crit_header_is_refused() -> None:
    """The broker implements no JWS extension, so any crit header is refused."""
    with pytest.raises(Unauthenticated):
        jws.parse(_token({"alg": "ES256", "crit": ["exp"], "exp": 1}), algorithms=ALGS)


def test_duplicate_json_members_are_refused() -> None:
    """Duplicate keys would let two parsers disagree; they are refused."""
    header = b'{"alg":"ES256","alg":"none"}'
    with pytest.raises(Unauthenticated):
        jws.parse(_token(header), algorithms=ALGS)


def test_deep_nesting_is_refused() -> None:
    """JSON nested deeper than the cap is refused."""
    deep: object = "x"
    for _ in range(jws.MAX_JSON_DEPTH + 1):
        deep = {"a": deep}
    with pytest.raises(Unauthenticated):
        jws.parse(_token({"alg": "ES256"}, deep), algorithms=ALGS)


@pytest.mark.parametrize("token", ["a.b", "a.b.c.d", "!!.e30.c2ln", "e30.e30.", "WzFd.e30.c2ln"])
def test_malformed_compact_forms_are_refused(token: str) -> None:
    """Wrong part counts, bad base64url, empty signatures, non-object JSON."""
    with pytest.raises(Unauthenticated):
        jws.parse(token, algorithms=ALGS)


def test_self_keying_headers_are_ignored() -> None:
    """jku, x5u and jwk headers parse but are never used to pick a key."""
    parsed = jws.parse(
        _token({"alg": "ES256", "kid": "k", "jku": "https://evil", "x5u": "https://evil", "jwk": {"kty": "EC"}}),
        algorithms=ALGS,
    )
    assert parsed.kid == "k"

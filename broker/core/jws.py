"""Strict parsing of compact JWS tokens: sizes capped, JSON checked, headers allow-listed.

Every token the broker reads (its own access tokens, self-signed assertions, external
issuers' JWTs) goes through ``parse`` once; the signature is then checked with
``verify_signature`` against a key the caller chose from its own registry. Header
members that would make the token choose its own key (``jku``, ``x5u``, ``jwk``,
``x5c``, ``x5t``) are ignored: nothing here or downstream fetches or trusts them; a
``crit`` header is refused, since the broker implements no extension. JSON is strict:
duplicate members, ``NaN``/``Infinity`` and nesting deeper than ``MAX_JSON_DEPTH`` are
refused, so no two parsers can read one token differently.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, Unauthenticated

#: Tokens longer than this are refused before any parsing (INVALID_ARGUMENT).
MAX_TOKEN_BYTES = 8192
MAX_JSON_DEPTH = 12
KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class TokenFormatError(Unauthenticated):
    """The token is not a well-formed JWS; callers turn it into their own opaque error."""


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise TokenFormatError("invalid token", detail=f"duplicate JSON member {key[:40]!r}")
        out[key] = value
    return out


def _depth(value: Any) -> int:
    depth = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        depth = max(depth, level)
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return depth


def _b64decode(part: str, what: str) -> bytes:
    if not _B64URL.match(part):
        raise TokenFormatError("invalid token", detail=f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenFormatError("invalid token", detail=f"{what} is not base64url") from exc


def _reject_constant(name: str) -> Any:
    raise TokenFormatError("invalid token", detail=f"non-standard JSON constant {name[:10]!r}")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except TokenFormatError:
        raise
    except (ValueError, RecursionError) as exc:
        raise TokenFormatError("invalid token", detail=f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise TokenFormatError("invalid token", detail=f"{what} is not a JSON object")
    # Depth is at most the number of opening brackets: walk the value only when that could exceed it.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        raise TokenFormatError("invalid token", detail=f"{what} nests deeper than {MAX_JSON_DEPTH}")
    return value


@dataclass(frozen=True, slots=True)
class ParsedJws:
    """A compact JWS split and decoded, its signature not yet checked."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        """The header's alg (checked against an allow-list by ``parse``)."""
        return str(self.header["alg"])

    @property
    def kid(self) -> str | None:
        """The header's kid, if any (format already checked)."""
        kid = self.header.get("kid")
        return None if kid is None else str(kid)


def parse(token: str, *, algorithms: frozenset[str]) -> ParsedJws:
    """Split and decode a compact JWS; refuse algorithms not in ``algorithms``.

    Raises InvalidArgument for an oversized token, TokenFormatError for anything else.
    """
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidArgument(f"token: longer than {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenFormatError("invalid token", detail="not a compact JWS (three parts)")
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(_b64decode(header_b64, "header"), "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise TokenFormatError("invalid token", detail=f"algorithm {str(alg)[:20]!r} is not allowed")
    if "crit" in header:
        raise TokenFormatError("invalid token", detail="crit header is not supported")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not KID_PATTERN.match(kid)):
        raise TokenFormatError("invalid token", detail="malformed kid")
    claims = _json_object(_b64decode(payload_b64, "payload"), "payload")
    signature = _b64decode(signature_b64, "signature")
    if not signature:
        raise TokenFormatError("invalid token", detail="empty signature")
    return ParsedJws(
        header=header,
        claims=claims,
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=signature,
    )


def b64encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_json(value: Any) -> str:
    """Compact JSON, base64url-encoded: one JWS segment."""
    return b64encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())

"""New secret values: the generators, their lengths, and the broker's API-key format.

API keys look like ``brk_<random base62><6-char base62 CRC32 of the random part>``
(GitHub's token format): secret scanners find them by the prefix, and a mistyped key
is refused by its checksum before any store lookup. All randomness comes from the
``secrets`` module.
"""

from __future__ import annotations

import re
import secrets
import zlib
from collections.abc import Mapping
from enum import StrEnum

from .errors import InvalidArgument
from .sensitive import Sensitive


class Generator(StrEnum):
    """How new values are made."""

    RANDOM_BYTES = "random_bytes"
    PASSWORD = "password"
    API_KEY = "api_key"
    EXTERNAL = "external"


API_KEY_PREFIX = "brk_"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM_CHARS = 6  # 62**6 > 2**32: every CRC32 fits
_API_KEY = re.compile(rb"^brk_([0-9A-Za-z]{22,118})([0-9A-Za-z]{6})$")
#: Password characters: four classes, none of them quotes, spaces, backslashes or '_'.
_PASSWORD_CLASSES = ("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "#%+-.:=@^~")
#: (minimum, default, maximum) length per generator: bytes for RANDOM_BYTES, characters otherwise.
LENGTHS: Mapping[Generator, tuple[int, int, int]] = {
    Generator.RANDOM_BYTES: (16, 32, 4096),
    Generator.PASSWORD: (16, 32, 256),
    Generator.API_KEY: (32, 40, 128),
}


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits))


def _checksum(body: bytes) -> bytes:
    return _base62(zlib.crc32(body), _CHECKSUM_CHARS).encode("ascii")


def new_api_key(length: int) -> str:
    """A fresh API key of ``length`` characters: prefix, random base62, 6-character checksum."""
    body = "".join(secrets.choice(_BASE62) for _ in range(length - len(API_KEY_PREFIX) - _CHECKSUM_CHARS))
    return API_KEY_PREFIX + body + _checksum(body.encode("ascii")).decode("ascii")


def is_api_key(value: bytes) -> bool:
    """True if ``value`` has the broker API-key shape and its checksum matches."""
    match = _API_KEY.match(value)
    return match is not None and _checksum(match[1]) == match[2]


def mistyped_api_key(value: bytes) -> bool:
    """True if ``value`` has the broker API-key shape but a wrong checksum (no store needed)."""
    return _API_KEY.match(value) is not None and not is_api_key(value)


def new_password(length: int) -> str:
    """A random password with at least one lowercase, uppercase, digit and symbol character."""
    alphabet = "".join(_PASSWORD_CLASSES)
    chars = [secrets.choice(c) for c in _PASSWORD_CLASSES]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def generate(generator: Generator, length: int) -> Sensitive:
    """A new value from ``generator`` (not EXTERNAL), from the ``secrets`` module's randomness."""
    if generator is Generator.RANDOM_BYTES:
        return Sensitive(secrets.token_bytes(length))
    if generator is Generator.PASSWORD:
        return Sensitive(new_password(length).encode("ascii"))
    if generator is Generator.API_KEY:
        return Sensitive(new_api_key(length).encode("ascii"))
    raise InvalidArgument("generator: external secrets get their values from outside")


def validate_length(generator: Generator, length: int) -> int:
    """The length to store: the generator's default for 0, else ``length`` if in range."""
    if generator is Generator.EXTERNAL:
        if length:
            raise InvalidArgument("length: an external secret's values come from outside; leave length unset")
        return 0
    minimum, default, maximum = LENGTHS[generator]
    if length == 0:
        return default
    if not minimum <= length <= maximum:
        raise InvalidArgument(f"length: must be between {minimum} and {maximum} for {generator.value}, not {length}")
    return length

"""Loading trusted issuers' JWK Sets from URLs and files: the I/O that core leaves out.

``JwksFetcher`` implements ``core.issuers.JwksProvider``:

- a URL is fetched with ``urllib.request`` and a timeout, redirects only to http(s),
  the body capped at ``MAX_JWKS_BYTES``; a file is read with the same cap;
- each source's parsed key set is cached in memory for ``ttl`` (an LRU of at most
  ``max_entries`` sources), so the hot path parses no key;
- ``refresh=True`` (a token named an unknown kid) refetches once, but at most once per
  ``min_interval`` per source, so tokens with made-up kids cannot make the broker
  hammer an issuer; failed loads are rate limited the same way;
- when a refetch fails the last good set keeps serving (logged); with none, the caller
  gets ``Unavailable``. Concurrent callers share one load per source.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.client import HTTPMessage
from typing import IO, Any
from urllib.parse import urlsplit

import structlog

from .core.errors import InvalidArgument, Unavailable
from .core.issuers import MAX_JWKS_BYTES, IssuerKeys, TrustedIssuer, parse_jwks

_log = structlog.get_logger("broker.jwks")


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) URLs only (never file:// or ftp://)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-http(s) URL refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects())


@dataclass
class _Entry:
    """What is known about one source: its last good key set and when it was loaded/tried."""

    keys: IssuerKeys | None = None
    loaded_at: float = float("-inf")
    tried_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


class JwksFetcher:
    """JWK Sets of trusted issuers from URLs and files: cached, timed out, rate limited."""

    def __init__(
        self,
        *,
        ttl: timedelta = timedelta(minutes=5),
        min_interval: timedelta = timedelta(seconds=10),
        timeout: float = 5.0,
        max_entries: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl.total_seconds()
        self._min_interval = min_interval.total_seconds()
        self._timeout = timeout
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def keys(self, issuer: TrustedIssuer, *, refresh: bool) -> IssuerKeys:
        """The issuer's key set from its jwks_url or jwks_file (see the module docstring)."""
        if issuer.jwks_url:
            source = issuer.jwks_url
        elif issuer.jwks_file:
            source = f"file:{issuer.jwks_file}"
        else:
            raise Unavailable("issuer keys cannot be loaded", detail="the issuer has no URL or file key source")
        entry = self._entry(source)
        now = self._monotonic()
        if entry.keys is not None and not refresh and now - entry.loaded_at < self._ttl:
            return entry.keys
        with entry.lock:
            now = self._monotonic()
            if entry.keys is not None and now - entry.loaded_at < self._ttl and not refresh:
                return entry.keys  # loaded by another caller while this one waited
            if now - entry.tried_at < self._min_interval:
                return self._last_good(entry, "refetch rate limited")
            entry.tried_at = now
            try:
                text = self._load(source)
                keys = parse_jwks(text)
            except (OSError, ValueError, InvalidArgument) as exc:
                reason = exc.message if isinstance(exc, InvalidArgument) else f"{type(exc).__name__}: {exc}"[:300]
                _log.warning("issuer keys not loaded", issuer=issuer.issuer, source=_shown(source), reason=reason)
                return self._last_good(entry, reason)
            entry.keys, entry.loaded_at = keys, now
            return keys

    def _entry(self, source: str) -> _Entry:
        with self._lock:
            entry = self._entries.get(source)
            if entry is None:
                entry = self._entries[source] = _Entry()
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(source)
            return entry

    @staticmethod
    def _last_good(entry: _Entry, reason: str) -> IssuerKeys:
        if entry.keys is None:
            raise Unavailable("the keys of a trusted issuer cannot be loaded right now", detail=reason)
        return entry.keys

    def _load(self, source: str) -> str:
        if source.startswith("file:"):
            with open(source.removeprefix("file:"), "rb") as f:
                return _capped(f)
        if urlsplit(source).scheme not in ("http", "https"):
            raise ValueError("jwks_url must be http(s)")
        request = urllib.request.Request(source, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
        with _OPENER.open(request, timeout=self._timeout) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            return _capped(response)


def _capped(stream: Any) -> str:
    body: bytes = stream.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError(f"key set longer than {MAX_JWKS_BYTES} bytes")
    return body.decode("utf-8")


def _shown(source: str) -> str:
    """A source for the log: the URL without query or credentials, or the file path."""
    if source.startswith("file:"):
        return source
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

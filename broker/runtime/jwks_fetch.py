"""Loading trusted issuers' JWK Sets from URLs and files: the I/O that core leaves out.

``JwksFetcher`` implements ``core.issuers.JwksProvider``. Remote fetches never hold the
threads that serve requests:

- every load runs on the fetcher's own small thread pool, at most one at a time per
  source, with a timeout; the request that started it waits for it at most ``wait``
  (a second), every other request meanwhile gets the last good set at once, or
  ``Unavailable`` when there is none: an unknown kid while a fetch runs fails fast;
- each source's parsed key set is cached for ``ttl``; a load after that, or for a token
  naming an unknown kid (``refresh=True``), happens at most once per ``min_interval``,
  so tokens with made-up kids cannot make the broker hammer an issuer or queue work;
- a URL is fetched with ``urllib.request``, the body capped at ``MAX_JWKS_BYTES``; a
  redirect is followed only where the URL itself could point (https, or http on the
  loopback interface), never from https to http nor from another host to the loopback;
- a failed load keeps the last good set serving. Its precise reason goes to the log
  only; callers learn that the keys could not be loaded, never whether a host refused,
  timed out or answered 404 (no mapping of the broker's network through it).

``check`` (an admin creating an issuer) waits for one load, whatever the rate limit.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import timedelta
from http.client import HTTPMessage
from typing import IO, Any
from urllib.parse import urlsplit

import structlog

from ..core.errors import InvalidArgument, Unavailable
from ..core.issuers import MAX_JWKS_BYTES, IssuerKeys, TrustedIssuer, jwks_url_allowed, parse_jwks

_log = structlog.get_logger("broker.jwks")

#: What a caller is told when an issuer's keys cannot be had (the reason is in the log).
NOT_LOADED = "the issuer's keys could not be loaded"
_MAX_REDIRECTS = 3


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL a jwks_url could name, never to a weaker or a local one."""

    max_redirections = _MAX_REDIRECTS

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: HTTPMessage, newurl: str
    ) -> urllib.request.Request | None:
        if not redirect_allowed(req.full_url, newurl):
            raise urllib.error.HTTPError(newurl, code, "redirect to a URL a jwks_url could not name", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def redirect_allowed(origin: str, target: str) -> bool:
    """True if ``target`` is a valid jwks_url no weaker than ``origin``: no https -> http, no host -> loopback."""
    if not jwks_url_allowed(target):
        return False
    before, after = urlsplit(origin), urlsplit(target)
    if before.scheme == "https" and after.scheme != "https":
        return False
    return not (jwks_url_allowed(target, loopback_only=True) and not jwks_url_allowed(origin, loopback_only=True))


_OPENER = urllib.request.build_opener(_SafeRedirects())


@dataclass
class _Entry:
    """What is known about one source: its last good key set, when it was loaded and tried,
    the load under way (if any) and why the last one failed."""

    keys: IssuerKeys | None = None
    loaded_at: float = float("-inf")
    tried_at: float = float("-inf")
    pending: Future[IssuerKeys | None] | None = None
    failure: str = ""


class JwksFetcher:
    """JWK Sets of trusted issuers from URLs and files: cached, loaded off the request threads."""

    def __init__(
        self,
        *,
        ttl: timedelta = timedelta(minutes=5),
        min_interval: timedelta = timedelta(seconds=10),
        timeout: float = 5.0,
        wait: float = 1.0,
        workers: int = 2,
        max_entries: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl.total_seconds()
        self._min_interval = min_interval.total_seconds()
        self._timeout = timeout
        self._wait = min(wait, timeout)
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._lock = threading.Lock()  # guards the entries; never held while loading
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jwks-fetch")

    def keys(self, issuer: TrustedIssuer, *, refresh: bool) -> IssuerKeys:
        """The issuer's key set from its jwks_url or jwks_file (see the module docstring)."""
        source = _source(issuer)
        with self._lock:
            entry = self._entry(source)
            now = self._monotonic()
            fresh = entry.keys is not None and now - entry.loaded_at < self._ttl
            if fresh and not refresh:
                return entry.keys  # type: ignore[return-value]  # fresh implies keys
            if entry.pending is not None:
                return _last_good(entry, "a load of the issuer's keys is under way")
            if now - entry.tried_at < self._min_interval:
                return _last_good(entry, f"load rate limited; the last one failed: {entry.failure or 'no'}")
            pending = self._start(issuer, source, entry, now)
        try:
            loaded = pending.result(timeout=self._wait)
        except FutureTimeout:
            loaded = None
        with self._lock:
            return loaded if loaded is not None else _last_good(entry, entry.failure or "the load is slow")

    def check(self, issuer: TrustedIssuer) -> None:
        """Load the issuer's keys now (waiting up to the timeout); Unavailable if they cannot be had."""
        source = _source(issuer)
        with self._lock:
            entry = self._entry(source)
            pending = entry.pending or self._start(issuer, source, entry, self._monotonic())
        try:
            loaded = pending.result(timeout=self._timeout + 1)
        except FutureTimeout:
            loaded = None
        if loaded is None:
            raise Unavailable(NOT_LOADED, detail=entry.failure or "timed out")

    def close(self) -> None:
        """Stop the load threads (loads under way finish within their timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self, issuer: TrustedIssuer, source: str, entry: _Entry, now: float) -> Future[IssuerKeys | None]:
        """Submit one load of ``source``; called with the lock held."""
        entry.tried_at = now
        entry.pending = self._pool.submit(self._load_into, issuer, source, entry)
        return entry.pending

    def _load_into(self, issuer: TrustedIssuer, source: str, entry: _Entry) -> IssuerKeys | None:
        """On a load thread: fetch and parse, then record the keys or the failure."""
        try:
            keys = parse_jwks(self._load(source))
        except (OSError, ValueError, InvalidArgument) as exc:
            reason = exc.message if isinstance(exc, InvalidArgument) else f"{type(exc).__name__}: {exc}"[:300]
            _log.warning("issuer keys not loaded", issuer=issuer.issuer, source=_shown(source), reason=reason)
            with self._lock:
                entry.failure, entry.pending = reason, None
            return None
        with self._lock:
            entry.keys, entry.loaded_at, entry.failure, entry.pending = keys, self._monotonic(), "", None
        return keys

    def _entry(self, source: str) -> _Entry:
        entry = self._entries.get(source)
        if entry is None:
            entry = self._entries[source] = _Entry()
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(source)
        return entry

    def _load(self, source: str) -> str:
        if source.startswith("file:"):
            with open(source.removeprefix("file:"), "rb") as f:
                return _capped(f)
        if not jwks_url_allowed(source):
            raise ValueError("not a URL a jwks_url may name")
        request = urllib.request.Request(source, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked
        with _OPENER.open(request, timeout=self._timeout) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            return _capped(response)


def _source(issuer: TrustedIssuer) -> str:
    if issuer.jwks_url:
        return issuer.jwks_url
    if issuer.jwks_file:
        return f"file:{issuer.jwks_file}"
    raise Unavailable(NOT_LOADED, detail="the issuer has no URL or file key source")


def _last_good(entry: _Entry, reason: str) -> IssuerKeys:
    if entry.keys is None:
        raise Unavailable(NOT_LOADED, detail=reason)
    return entry.keys


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

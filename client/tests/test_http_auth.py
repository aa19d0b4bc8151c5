"""The token on HTTP requests: authorization_header(), RequestsAuth, HttpxAuth (optional extras)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from _support import FakeClock

import broker_client
from broker_client import AsyncTokenSource, RequestsAuth, TokenSource
from broker_client.testing import FakeBroker


def _extra(name: str) -> Any:
    """The optional extra's module, or skip: the one kind of skip these tests allow."""
    return pytest.importorskip(
        name, reason=f"optional extra not installed: pip install 'identity-broker-client[{name}]'"
    )


class _Echo(BaseHTTPRequestHandler):
    """Answers 200 with the Authorization header it received, or 401 without one."""

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.send_response(200 if auth else 401)
        body = auth.encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    """A local HTTP server that echoes the Authorization header."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def source(fake: FakeBroker, clock: FakeClock) -> Iterator[TokenSource]:
    with TokenSource(fake.address, lambda: fake.mint("a"), now=clock) as tokens:
        yield tokens


def test_authorization_header_works_with_urllib(source: TokenSource, echo_url: str) -> None:
    """The header value plugs into any HTTP client, here the standard library."""
    request = urllib.request.Request(echo_url, headers={"Authorization": source.authorization_header()})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.read().decode() == f"Bearer {source.token()}"


def test_requests_auth_sends_the_token(source: TokenSource, echo_url: str) -> None:
    """session.auth = RequestsAuth(source) sends 'Bearer <token>'; without it the server says 401."""
    requests = _extra("requests")
    with requests.Session() as session:
        assert session.get(echo_url, timeout=5).status_code == 401
        session.auth = RequestsAuth(source)
        response = session.get(echo_url, timeout=5)
    assert response.status_code == 200 and response.text == f"Bearer {source.token()}"


def test_httpx_auth_sends_the_token(source: TokenSource, echo_url: str) -> None:
    """httpx.Client(auth=broker_client.HttpxAuth(source)) sends the token; a plain client is refused."""
    httpx = _extra("httpx")
    assert httpx.get(echo_url, timeout=5).status_code == 401
    with httpx.Client(auth=broker_client.HttpxAuth(source)) as client:
        assert client.get(echo_url, timeout=5).text == f"Bearer {source.token()}"


async def test_httpx_async_auth_sends_the_token(fake: FakeBroker, clock: FakeClock, echo_url: str) -> None:
    """httpx.AsyncClient(auth=broker_client.HttpxAuth(async_source)) sends the token."""
    httpx = _extra("httpx")
    async with AsyncTokenSource(fake.address, lambda: fake.mint("a"), now=clock) as tokens:
        async with httpx.AsyncClient(auth=broker_client.HttpxAuth(tokens)) as client:
            response = await client.get(echo_url, timeout=5)
        assert response.text == f"Bearer {await tokens.token()}"


def test_httpx_auth_refuses_a_mismatched_source(fake: FakeBroker, clock: FakeClock, echo_url: str) -> None:
    """An AsyncTokenSource on a sync httpx.Client is a TypeError naming the right pairing."""
    httpx = _extra("httpx")
    tokens = AsyncTokenSource(fake.address, lambda: fake.mint("a"), now=clock)
    with httpx.Client(auth=broker_client.HttpxAuth(tokens)) as client, pytest.raises(TypeError, match="AsyncClient"):
        client.get(echo_url, timeout=5)

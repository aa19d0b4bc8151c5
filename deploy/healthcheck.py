"""The container's HEALTHCHECK: GET /healthz on the broker's HTTP listener; exit 0 if it answers 200.

The slim image has no curl. The address comes from BROKER_HTTP_LISTEN (an unspecified host,
0.0.0.0 or ::, is asked on the loopback); https when BROKER_TLS_CERT_FILE is set, without
checking the certificate (the loopback is asked, and nothing secret is sent). With mTLS
(BROKER_TLS_CLIENT_CA_FILE) the listener wants a client certificate this check does not
have, so it only checks that the port accepts connections. Settings given in a --config
file instead of the environment are not seen here: set the listener and TLS files in the
environment when you rely on this check.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import urllib.request
from collections.abc import Mapping

DEFAULT_LISTEN = "127.0.0.1:8080"
TIMEOUT = 2.0


def target(environ: Mapping[str, str]) -> tuple[str, str, int]:
    """(scheme, host, port) to ask, from the broker's own variables."""
    host, _, port = (environ.get("BROKER_HTTP_LISTEN") or DEFAULT_LISTEN).rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - the wildcard is what we map away from
        host = "127.0.0.1" if host != "::" else "::1"
    scheme = "https" if environ.get("BROKER_TLS_CERT_FILE") else "http"
    return scheme, host, int(port)


def check(environ: Mapping[str, str]) -> str | None:
    """None if the broker is up, else one line saying what failed."""
    scheme, host, port = target(environ)
    if scheme == "https" and environ.get("BROKER_TLS_CLIENT_CA_FILE"):
        try:
            socket.create_connection((host, port), timeout=TIMEOUT).close()
        except OSError as exc:
            return f"{host}:{port}: {exc}"
        return None
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}:{port}/healthz"
    context = None
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT, context=context) as response:  # noqa: S310 - http(s) only
            status = int(response.status)
    except OSError as exc:  # URLError, HTTPError (a 503), refused, timed out
        return f"{url}: {exc}"
    return None if status == 200 else f"{url}: status {status}"


def main() -> int:
    problem = check(os.environ)
    if problem is not None:
        print(f"healthcheck: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

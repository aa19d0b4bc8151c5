"""The public surface: exactly the names in __all__, typed, and free of the daemon."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import broker_client

PUBLIC = {
    "AsyncTokenInterceptor",
    "AsyncTokenSource",
    "Attestor",
    "BrokerClientError",
    "CallableAttestor",
    "ClientCertificateAttestor",
    "HttpxAuth",
    "InvalidToken",
    "KeyAttestor",
    "KeysUnavailable",
    "RequestsAuth",
    "SecretCheck",
    "SecretSource",
    "SecretUnavailable",
    "SecretValue",
    "TokenFileAttestor",
    "TokenSource",
    "TokenUnavailable",
    "VerifiedToken",
    "Verifier",
    "tls_credentials",
    "tls_credentials_from_env",
    "token_call_credentials",
}
PACKAGE = Path(broker_client.__file__).parent


def test_all_lists_exactly_the_public_names() -> None:
    """__all__ is the documented surface, no more, no less."""
    assert set(broker_client.__all__) == PUBLIC


def test_every_public_name_resolves_except_optional_extras() -> None:
    """Every name in __all__ is importable (HttpxAuth only with the httpx extra installed)."""
    httpx_installed = importlib.util.find_spec("httpx") is not None
    for name in PUBLIC - {"HttpxAuth"}:
        assert getattr(broker_client, name) is not None
    if httpx_installed:
        assert broker_client.HttpxAuth.__name__ == "HttpxAuth"


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The lazy attribute hook answers only for HttpxAuth."""
    try:
        broker_client.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_errors_share_one_base() -> None:
    """Every error the client raises on purpose is a BrokerClientError."""
    for name in ("TokenUnavailable", "SecretUnavailable", "InvalidToken", "KeysUnavailable"):
        assert issubclass(getattr(broker_client, name), broker_client.BrokerClientError)


def test_py_typed_ships_with_the_package() -> None:
    """The PEP 561 marker is in the installed package."""
    assert (PACKAGE / "py.typed").is_file()


def test_no_module_imports_the_daemon() -> None:
    """No client module imports the daemon package ``broker``, so the client installs alone."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "broker" or n.startswith("broker.") for n in names), f"{path} imports {names}"

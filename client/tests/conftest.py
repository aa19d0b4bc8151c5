"""Fixtures of the client's tests: the package's own FakeBroker, a fake clock, a workload key.

These tests import only broker_client and test tools, so they run from an install of
the client distribution alone (tests/e2e/test_client_install.py proves it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import FakeClock, write_key

from broker_client.testing import FakeBroker


@pytest.fixture
def fake() -> Iterator[FakeBroker]:
    """A running FakeBroker on a free port."""
    with FakeBroker() as broker:
        yield broker


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """An EC P-256 private key in a PEM file."""
    return write_key(tmp_path / "workload.pem")

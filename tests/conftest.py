"""Shared fixtures: the real broker process and the admin credentials it creates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import BrokerProcess


@pytest.fixture
def broker_proc(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A fresh `broker serve` on embedded SQLite, free ports, its own data dir."""
    proc = BrokerProcess(tmp_path / "data")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker for a whole test module (tests that do not disturb each other)."""
    proc = BrokerProcess(tmp_path_factory.mktemp("broker") / "data")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()

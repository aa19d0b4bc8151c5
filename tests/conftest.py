"""Shared fixtures: the real broker process and the admin credentials it creates.

The suite runs on several pytest-xdist workers (pyproject's addopts). Each test module
is one group that stays on one worker, so a module-scoped broker starts once; a package
may name a group of its own for all its modules (tests/security does: its last module
reads the log of the broker the others used).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import BrokerProcess


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test without an ``xdist_group`` joins its module's group (before xdist reads the groups)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            module = item.module if isinstance(item, pytest.Function) else None
            item.add_marker(pytest.mark.xdist_group(module.__name__ if module else item.nodeid))


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

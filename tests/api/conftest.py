"""Fixtures of the in-process API tests: a broker assembled here, on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.harness import ApiBroker


@pytest.fixture
def api_broker(tmp_path: Path) -> Iterator[ApiBroker]:
    """A fresh broker on embedded SQLite for one test."""
    with ApiBroker(tmp_path / "data") as broker:
        yield broker


@pytest.fixture(scope="module")
def shared_api_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiBroker]:
    """One broker for a whole test module (tests that do not disturb each other)."""
    with ApiBroker(tmp_path_factory.mktemp("broker") / "data") as broker:
        yield broker

"""Fixtures of the escalation tests: the small registry and the clock-time chain policy."""

from pathlib import Path

import pytest

from storage.db import Database
from storage.escalation.policy import Escalation
from tests.escalation.support import import_small_registry, load_escalation


@pytest.fixture
async def staff(db: Database, tmp_path: Path) -> dict[str, int]:
    """The small registry imported into `db`: inspector ids by staff code."""
    return await import_small_registry(db, tmp_path / "registry")


@pytest.fixture
def escalation(tmp_path: Path) -> Escalation:
    """The chain policy of `support.CHAIN_POLICY` with an empty calendar folder."""
    return load_escalation(tmp_path / "config")

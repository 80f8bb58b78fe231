"""The running griddispatch loop, one per test, for the bot tests."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.loop import Loop, running_loop


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    async with running_loop(database_url, tmp_path) as running:
        yield running

"""The `hooks` fixture: the whole loop with the hook server in front of it."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.hooks.support import Hooks, running_hooks


@pytest.fixture
async def hooks(database_url: str, tmp_path: Path) -> AsyncIterator[Hooks]:
    async with running_hooks(database_url, tmp_path) as running:
        yield running

"""An API on a free loopback port, either over the whole loop or over NATS and a database."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from griddispatch.clock import ManualClock
from griddispatch.nats_server import NatsServer
from griddispatch.settings import Settings
from storage.db import Database
from storage.escalation.policy import Escalation
from tests.api.support import Client, serving
from tests.harness.loop import START, TEST_POLICIES, Loop, running_loop


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    """The whole loop on the example registry: dispatcher, worker, bot and Bot API server."""
    async with running_loop(database_url, tmp_path) as running:
        yield running


@pytest.fixture
async def loop_api(loop: Loop, tmp_path: Path) -> AsyncIterator[Client]:
    """The API beside the whole loop, sharing its database, NATS, clock and file store."""
    async with serving(
        nats_url=loop.nats.url,
        db=loop.db,
        escalation=loop.escalation,
        clock=loop.clock,
        settings=Settings(data_dir=tmp_path),
    ) as client:
        yield client


@pytest.fixture
def clock() -> ManualClock:
    """A clock at the harness's Monday morning."""
    return ManualClock(START)


@pytest.fixture
async def api(
    nats_server: NatsServer, db: Database, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Client]:
    """The API alone over NATS and an empty migrated database; no dispatcher runs."""
    escalation = Escalation.load(TEST_POLICIES, tmp_path / "calendars")
    async with serving(
        nats_url=nats_server.url,
        db=db,
        escalation=escalation,
        clock=clock,
        settings=Settings(data_dir=tmp_path),
    ) as client:
        yield client

"""An API on a free loopback port, either over the whole loop or over NATS and a database."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


@asynccontextmanager
async def api_alone(
    nats_server: NatsServer, db: Database, clock: ManualClock, settings: Settings
) -> AsyncIterator[Client]:
    """Serve the API alone over NATS and a migrated database, with `settings`."""
    escalation = Escalation.load(TEST_POLICIES, settings.data_dir / "calendars")
    async with serving(
        nats_url=nats_server.url, db=db, escalation=escalation, clock=clock, settings=settings
    ) as client:
        yield client


@pytest.fixture
async def api(
    nats_server: NatsServer, db: Database, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Client]:
    """The API alone over NATS and an empty migrated database; no dispatcher runs."""
    async with api_alone(nats_server, db, clock, Settings(data_dir=tmp_path)) as client:
        yield client

"""Fixtures on real components: a nats-server per test and a migrated database.

Every database test runs on SQLite; when GRIDDISPATCH_TEST_DATABASE_URL names
a PostgreSQL server, it runs there too, each test in a database of its own.
"""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from griddispatch.nats_server import NatsServer, free_port
from storage.db import Database
from storage.scratch import scratch_database

POSTGRES_URL_ENV = "GRIDDISPATCH_TEST_DATABASE_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak", action="store_true", default=False, help="also run long soak and fault runs"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="long run; pass --soak to run it")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_URL_ENV) else ["sqlite"]


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A nats-server with JetStream on a free loopback port, its store in tmp_path."""
    server = NatsServer(port=free_port(), store_dir=tmp_path / "jetstream")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(params=_backends())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, migrated database: SQLite in tmp_path, or a fresh PostgreSQL one."""
    admin_url = os.environ[POSTGRES_URL_ENV] if request.param == "postgresql" else None
    async with scratch_database(tmp_path, admin_url, prefix="gd_test") as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database on the migrated test database."""
    database = Database(database_url)
    yield database
    await database.dispose()

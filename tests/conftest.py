"""Fixtures on real components: a nats-server per test and a migrated database.

Every database test runs on SQLite; when GRIDDISPATCH_TEST_DATABASE_URL names
a PostgreSQL server, it runs there too, each test in a database of its own.
"""

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from griddispatch.nats_server import NatsServer, free_port
from storage.db import Database
from storage.migrate import upgrade

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


async def _run_admin_statement(admin_url: str, statement: str) -> None:
    """Run one statement on the server of `admin_url`, outside any transaction."""
    url = make_url(admin_url)
    connection = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _create_postgres_database(admin_url: str) -> tuple[str, str]:
    """Create an empty database next to the one `admin_url` names; return (url, name)."""
    name = f"gd_test_{uuid.uuid4().hex[:12]}"
    await _run_admin_statement(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


async def _drop_postgres_database(admin_url: str, name: str) -> None:
    await _run_admin_statement(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=_backends())
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, migrated database: SQLite in tmp_path, or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'griddispatch.sqlite3'}"
        await upgrade(url)
        yield url
        return
    admin_url = os.environ[POSTGRES_URL_ENV]
    url, name = await _create_postgres_database(admin_url)
    try:
        await upgrade(url)
        yield url
    finally:
        await _drop_postgres_database(admin_url, name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database on the migrated test database."""
    database = Database(database_url)
    yield database
    await database.dispose()

"""Engine and session handling for SQLite and PostgreSQL with the same code.

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for write
transactions: with the default deferred BEGIN, a transaction that reads and
then writes fails at once with "database is locked" when another writer got
there first, instead of waiting its turn.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

_READ_ONLY = "griddispatch_read_only"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Turn off pysqlite's own transaction handling and begin transactions ourselves."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """Create an async engine for `url` with the settings its dialect needs."""
    if url.startswith("postgresql://"):
        raise ValueError(
            f"database URL {url.rsplit('@', maxsplit=1)[-1]!r} has no async driver; "
            "write it as postgresql+asyncpg://..."
        )
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


class Database:
    """An engine plus the two kinds of session the services use."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_options)
        self._write = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read = async_sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        """Return the dialect name: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a write transaction that commits on success and rolls back on error."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction that takes no write lock on SQLite."""
        async with self._read() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Run `SELECT 1`, raising the driver's error when the database cannot respond."""
        async with self.reading() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        log.debug("database engine disposed")

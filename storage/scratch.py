"""Scratch databases for tests and benchmarks: new, migrated, and gone afterwards.

`scratch_database` yields the URL of a fresh database migrated to the newest
schema: a SQLite file in a given folder, or a PostgreSQL database created on
the server an admin URL names and dropped, with its connections, on exit.
"""

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from storage.migrate import upgrade

log = logging.getLogger(__name__)

SQLITE_FILE_NAME = "griddispatch.sqlite3"


async def run_admin_statement(admin_url: str, statement: str) -> None:
    """Run one statement outside any transaction on the database `admin_url` names."""
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


def sqlite_url(folder: Path, file_name: str = SQLITE_FILE_NAME) -> str:
    """Build the SQLAlchemy URL of the SQLite file `file_name` in `folder`."""
    return f"sqlite+aiosqlite:///{folder / file_name}"


@asynccontextmanager
async def postgres_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """Create an empty database beside the one `admin_url` names; drop it on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await run_admin_statement(admin_url, f'CREATE DATABASE "{name}"')
    log.info("created scratch database name=%s", name)
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await run_admin_statement(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log.info("dropped scratch database name=%s", name)


@asynccontextmanager
async def scratch_database(
    folder: Path,
    admin_url: str | None = None,
    *,
    prefix: str = "gd_scratch",
    file_name: str = SQLITE_FILE_NAME,
) -> AsyncIterator[str]:
    """Yield the URL of a new database migrated to the newest schema.

    Without `admin_url` it is the SQLite file `file_name` in `folder`, which is
    left in place. With `admin_url` (a postgresql+asyncpg URL whose role may
    create databases) it is a database named `prefix` plus a random suffix,
    created on that server and dropped with `WITH (FORCE)` on exit.
    """
    if admin_url is None:
        url = sqlite_url(folder, file_name)
        await upgrade(url)
        yield url
        return
    async with postgres_database(admin_url, prefix) as url:
        await upgrade(url)
        yield url

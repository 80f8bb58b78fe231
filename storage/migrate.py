"""Apply Alembic migrations from code, for `up`, the CLI and the tests."""

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """Build an Alembic config for `database_url` without an alembic.ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_sync(database_url: str, revision: str = "heads") -> None:
    """Migrate the database to `revision`; must run outside an event loop."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade(database_url: str, revision: str = "heads") -> None:
    """Migrate the database to `revision` from async code."""
    log.info("migrating database to revision=%s", revision)
    await asyncio.to_thread(upgrade_sync, database_url, revision)
    log.info("database migrated")

"""The migrations build the schema the models declare, and they form one line."""

import asyncio
import importlib
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.models import Base
from storage.registry.names import normalize_name

GRID = "150602001001"
# The columns of divisions and subjects that the test fills, as revision 0004 left them.
_DIVISIONS_0004 = sa.table("divisions", sa.column("code"), sa.column("name"), sa.column("level"))
_SUBJECTS_0004 = sa.table(
    "subjects",
    sa.column("name"),
    sa.column("industry"),
    sa.column("grid_code"),
    sa.column("registered"),
)
_NAME_KEY_MIGRATION = importlib.import_module("storage.migrations.versions.0005_subject_name_key")


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        differences = await connection.run_sync(_differences)

    assert differences == []


def test_revisions_have_one_head(database_url: str) -> None:
    scripts = ScriptDirectory.from_config(alembic_config(database_url))

    assert len(scripts.get_heads()) == 1, scripts.get_heads()


def _subject_columns(connection: Connection) -> list[str]:
    return [column["name"] for column in sa.inspect(connection).get_columns("subjects")]


async def _insert_0004_subjects(database_url: str, names: list[str]) -> list[str]:
    """Insert a grid and one subject per name, and return the columns of subjects."""
    rows = [
        {"name": name, "industry": "planting", "grid_code": GRID, "registered": True}
        for name in names
    ]
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await session.execute(
                _DIVISIONS_0004.insert().values(code=GRID, name="交通街道第1网格", level="grid")
            )
            await session.execute(_SUBJECTS_0004.insert(), rows)
        async with db.engine.connect() as connection:
            return await connection.run_sync(_subject_columns)
    finally:
        await db.dispose()


async def test_upgrade_fills_existing_name_keys(database_url: str) -> None:
    batch_size = int(_NAME_KEY_MIGRATION.BATCH_SIZE)
    names = [
        "东胜区益农农业科技有限责任公司",
        "ＡＢＣ牧业 有限公司",
        *(f"测试主体{number}\u3000有限责任公司" for number in range(2 * batch_size + 1)),
    ]
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0004")
    columns_before = await _insert_0004_subjects(database_url, names)

    await upgrade(database_url)

    db = Database(database_url)
    try:
        async with db.reading() as session:
            rows = await session.execute(sa.text("SELECT name, name_key FROM subjects"))
            keys = {name: key for name, key in rows}
    finally:
        await db.dispose()
    assert "name_key" not in columns_before
    assert len(keys) == len(names)
    assert keys["东胜区益农农业科技有限责任公司"] == "东胜区益农农业科技有限公司"
    assert keys["ＡＢＣ牧业 有限公司"] == "abc牧业有限公司"
    assert keys["测试主体0\u3000有限责任公司"] == "测试主体0有限公司"
    assert keys == {name: normalize_name(name) for name in names}

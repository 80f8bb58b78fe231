"""deploy/postgres/setup.sql on the test PostgreSQL server, then a migration as its role.

Runs only when GRIDDISPATCH_TEST_DATABASE_URL names a PostgreSQL server and
psql is installed. The role and database get names of their own and are
dropped afterwards.
"""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from storage.db import Database
from storage.migrate import upgrade
from tests.conftest import POSTGRES_URL_ENV
from tests.deploy.cluster import DEPLOY

SETUP = DEPLOY / "postgres" / "setup.sql"

pytestmark = pytest.mark.skipif(
    not os.environ.get(POSTGRES_URL_ENV) or shutil.which("psql") is None,
    reason=f"needs {POSTGRES_URL_ENV} and psql",
)


def _psql(admin: URL, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PGPASSWORD": admin.password or ""}
    return subprocess.run(
        [
            "psql",
            "--no-psqlrc",
            f"--host={admin.host}",
            f"--port={admin.port or 5432}",
            f"--username={admin.username}",
            f"--dbname={admin.database}",
            *arguments,
        ],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )


@pytest.fixture
def names() -> Iterator[tuple[URL, str]]:
    """The admin URL and a fresh role and database name, dropped at the end."""
    admin = make_url(os.environ[POSTGRES_URL_ENV])
    name = f"gd_setup_{uuid.uuid4().hex[:10]}"
    yield admin, name
    _psql(admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _psql(admin, "-c", f'DROP ROLE IF EXISTS "{name}"')


async def test_setup_then_migrate_as_the_role(names: tuple[URL, str]) -> None:
    admin, name = names
    variables = ["-v", f"role={name}", "-v", f"database={name}", "-v", "password=s3cret-Pw"]

    first = _psql(admin, *variables, "-f", str(SETUP))
    again = _psql(admin, *variables, "-f", str(SETUP))
    url = admin.set(username=name, password="s3cret-Pw", database=name).render_as_string(
        hide_password=False
    )
    await upgrade(url)
    db = Database(url)
    try:
        async with db.reading() as session:
            schemas = set(
                await session.scalars(
                    text(
                        "SELECT DISTINCT table_schema FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                    )
                )
            )
            owner = await session.scalar(
                text("SELECT tableowner FROM pg_tables WHERE tablename = 'tasks'")
            )
    finally:
        await db.dispose()

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert schemas == {"griddispatch"}
    assert owner == name


def test_setup_without_password_fails(names: tuple[URL, str]) -> None:
    admin, name = names

    result = _psql(admin, "-v", f"role={name}", "-v", f"database={name}", "-f", str(SETUP))

    assert result.returncode != 0
    assert "missing password" in result.stderr

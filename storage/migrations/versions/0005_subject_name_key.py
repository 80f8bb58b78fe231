"""normalised subject names in subjects.name_key, indexed

Lead matching looks a subject's name up by `normalize_name(name)`. This
revision adds the column, fills it for existing subjects with the same
function, in batches of ids, and indexes it.

The column stays nullable, because SQLite can make an existing column NOT
NULL only by rebuilding the table. With foreign keys enforced, dropping the
old subjects table then fails while tasks, leads or plan entries point at it.

Revision ID: 0005
Revises: 0004
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.registry.names import normalize_name

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)

BATCH_SIZE = 1000

_subjects = sa.table(
    "subjects",
    sa.column("id", sa.BigInteger()),
    sa.column("name", sa.String()),
    sa.column("name_key", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("name_key", sa.Text(), nullable=True))
    _fill_name_keys(op.get_bind())
    op.create_index(op.f("ix_subjects_name_key"), "subjects", ["name_key"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_subjects_name_key"), table_name="subjects")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("name_key")


def _fill_name_keys(connection: sa.Connection) -> None:
    """Write normalize_name(name) into name_key for every subject, BATCH_SIZE rows at a time."""
    last_id = 0
    filled = 0
    while True:
        rows = _next_batch(connection, after_id=last_id)
        if not rows:
            break
        connection.execute(
            _subjects.update()
            .where(_subjects.c.id == sa.bindparam("subject_id"))
            .values(name_key=sa.bindparam("key")),
            [{"subject_id": subject_id, "key": normalize_name(name)} for subject_id, name in rows],
        )
        last_id = rows[-1][0]
        filled += len(rows)
    log.info("filled subjects.name_key rows=%d", filled)


def _next_batch(connection: sa.Connection, *, after_id: int) -> list[tuple[int, str]]:
    """Return the ids and names of the next BATCH_SIZE subjects with an id above `after_id`."""
    query = (
        sa.select(_subjects.c.id, _subjects.c.name)
        .where(_subjects.c.id > after_id)
        .order_by(_subjects.c.id)
        .limit(BATCH_SIZE)
    )
    return [(subject_id, name) for subject_id, name in connection.execute(query)]

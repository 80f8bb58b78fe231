"""partial index of tasks with a pending escalation step

The escalation sweep claims tasks with `next_step_at <= now ORDER BY
next_step_at, id`. The index on (next_step_at, id) returns them in that
order without a sort, and its `WHERE next_step_at IS NOT NULL` leaves out
closed and cancelled tasks, which accumulate while open tasks do not. It
replaces `ix_tasks_due_steps`, a plain index on next_step_at over every task.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text("next_step_at IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_tasks_next_step_due",
        "tasks",
        ["next_step_at", "id"],
        unique=False,
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.drop_index("ix_tasks_due_steps", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_due_steps", "tasks", ["next_step_at"], unique=False)
    op.drop_index("ix_tasks_next_step_due", table_name="tasks")

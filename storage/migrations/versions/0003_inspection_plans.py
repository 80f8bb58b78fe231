"""inspection plans: risk grades, grade trail, plan entries, coverage warnings

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = storage.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("risk_grade", sa.String(length=16), nullable=True))
    op.create_table(
        "subject_grade_changes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subject_id", _ID, nullable=False),
        sa.Column("old_grade", sa.String(length=16), nullable=True),
        sa.Column("new_grade", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_subject_grade_changes_subject_id_subjects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_grade_changes")),
    )
    op.create_index(
        op.f("ix_subject_grade_changes_subject_id"), "subject_grade_changes", ["subject_id"]
    )
    op.create_index(
        op.f("ix_subject_grade_changes_changed_at"), "subject_grade_changes", ["changed_at"]
    )
    op.create_table(
        "plan_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subject_id", _ID, nullable=False),
        sa.Column("period_key", sa.String(length=40), nullable=False),
        sa.Column("plan_version", sa.String(length=20), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("industry", sa.String(length=32), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.Column("inspector_id", _ID, nullable=True),
        sa.Column("task_id", _ID, nullable=True),
        sa.Column("period_start", _TIME, nullable=False),
        sa.Column("period_end", _TIME, nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("release_at", _TIME, nullable=False),
        sa.Column("notified_at", _TIME, nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("done_at", _TIME, nullable=True),
        sa.Column("result_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_plan_entries_subject_id_subjects")
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"],
            ["inspectors.id"],
            name=op.f("fk_plan_entries_inspector_id_inspectors"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_plan_entries_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["inspection_results.id"],
            name=op.f("fk_plan_entries_result_id_inspection_results"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_entries")),
        sa.UniqueConstraint(
            "subject_id", "period_key", name=op.f("uq_plan_entries_subject_id_period_key")
        ),
    )
    op.create_index("ix_plan_entries_release", "plan_entries", ["notified_at", "release_at"])
    op.create_index("ix_plan_entries_period", "plan_entries", ["period_key", "grid_code"])
    op.create_index(op.f("ix_plan_entries_inspector_id"), "plan_entries", ["inspector_id"])
    op.create_index(op.f("ix_plan_entries_task_id"), "plan_entries", ["task_id"])
    op.create_index(op.f("ix_plan_entries_state"), "plan_entries", ["state"])
    op.create_table(
        "plan_warnings",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("area_code", sa.String(length=20), nullable=False),
        sa.Column("period_key", sa.String(length=40), nullable=False),
        sa.Column("task_id", _ID, nullable=True),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["area_code"], ["divisions.code"], name=op.f("fk_plan_warnings_area_code_divisions")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_plan_warnings_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_warnings")),
        sa.UniqueConstraint(
            "area_code", "period_key", name=op.f("uq_plan_warnings_area_code_period_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("plan_warnings")
    op.drop_index(op.f("ix_plan_entries_state"), table_name="plan_entries")
    op.drop_index(op.f("ix_plan_entries_task_id"), table_name="plan_entries")
    op.drop_index(op.f("ix_plan_entries_inspector_id"), table_name="plan_entries")
    op.drop_index("ix_plan_entries_period", table_name="plan_entries")
    op.drop_index("ix_plan_entries_release", table_name="plan_entries")
    op.drop_table("plan_entries")
    op.drop_index(op.f("ix_subject_grade_changes_changed_at"), table_name="subject_grade_changes")
    op.drop_index(op.f("ix_subject_grade_changes_subject_id"), table_name="subject_grade_changes")
    op.drop_table("subject_grade_changes")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("risk_grade")

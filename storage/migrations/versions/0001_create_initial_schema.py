"""create initial schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=12), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("rate_per_s", sa.Float(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("hmac_secret", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "bot_drafts",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=100), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_drafts")),
    )
    op.create_table(
        "directives",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_code", sa.String(length=40), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=True),
        sa.Column("ack_within", sa.String(length=40), nullable=True),
        sa.Column("due_within", sa.String(length=40), nullable=True),
        sa.Column("assignment", sa.String(length=8), nullable=False),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directives")),
        sa.UniqueConstraint("message_id", name=op.f("uq_directives_message_id")),
    )
    op.create_table(
        "divisions",
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=20), nullable=True),
        sa.Column("boundary_geojson", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["divisions.code"], name=op.f("fk_divisions_parent_code_divisions")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_divisions")),
    )
    with op.batch_alter_table("divisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_divisions_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "hook_signatures",
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("seen_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_hook_signatures")),
    )
    with op.batch_alter_table("hook_signatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hook_signatures_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("msg_id", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("msg_id", name=op.f("uq_outbox_msg_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_unpublished", ["published_at", "id"], unique=False)

    op.create_table(
        "inspectors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("division_code", sa.String(length=20), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["division_code"],
            ["divisions.code"],
            name=op.f("fk_inspectors_division_code_divisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspectors")),
        sa.UniqueConstraint("code", name=op.f("uq_inspectors_code")),
        sa.UniqueConstraint("telegram_user_id", name=op.f("uq_inspectors_telegram_user_id")),
    )
    with op.batch_alter_table("inspectors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspectors_division_code"), ["division_code"], unique=False
        )

    op.create_table(
        "invites",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_invites_inspector_id_inspectors")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_invites")),
    )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invites_inspector_id"), ["inspector_id"], unique=False)

    op.create_table(
        "subjects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("credit_code", sa.String(length=18), nullable=True),
        sa.Column("other_id", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("industry", sa.String(length=32), nullable=False),
        sa.Column("grid_code", sa.String(length=20), nullable=False),
        sa.Column(
            "inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("registered", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_code"], ["divisions.code"], name=op.f("fk_subjects_grid_code_divisions")
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_subjects_inspector_id_inspectors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_subjects_credit_code")),
        sa.UniqueConstraint("other_id", name=op.f("uq_subjects_other_id")),
    )
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subjects_grid_code"), ["grid_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_subjects_inspector_id"), ["inspector_id"], unique=False
        )

    op.create_table(
        "lab_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("sample_id", sa.String(length=100), nullable=False),
        sa.Column("lab", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("subject_ref", sa.JSON(), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("commodity", sa.String(length=100), nullable=False),
        sa.Column("analyte", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("value_mg_per_kg", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("limit_mg_per_kg", sa.Float(), nullable=True),
        sa.Column("ratio", sa.Float(), nullable=True),
        sa.Column("standard", sa.String(length=200), nullable=True),
        sa.Column("confidence", sa.String(length=16), nullable=True),
        sa.Column("table_row", sa.String(length=100), nullable=True),
        sa.Column("lead_message_id", sa.String(length=100), nullable=True),
        sa.Column("sampled_on", sa.Date(), nullable=False),
        sa.Column("received_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_lab_samples_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_samples")),
        sa.UniqueConstraint(
            "source", "sample_id", "analyte", name=op.f("uq_lab_samples_source_sample_id_analyte")
        ),
    )
    with op.batch_alter_table("lab_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lab_samples_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "leads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("routing", sa.String(length=16), nullable=False),
        sa.Column("routing_detail", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("callback_url", sa.String(length=2000), nullable=True),
        sa.Column("callback_token", sa.String(length=32), nullable=True),
        sa.Column(
            "folded_into_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("lead_count", sa.Integer(), nullable=False),
        sa.Column("ack_within", sa.String(length=40), nullable=True),
        sa.Column("due_within", sa.String(length=40), nullable=True),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["folded_into_id"], ["leads.id"], name=op.f("fk_leads_folded_into_id_leads")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_leads_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint(
            "source", "dedup_key", "episode", name=op.f("uq_leads_source_dedup_key_episode")
        ),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_leads_folded_into_id"), ["folded_into_id"], unique=False
        )
        batch_op.create_index("ix_leads_source_message", ["source", "message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_leads_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "tasks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "directive_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("routing", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assignment", sa.String(length=8), nullable=False),
        sa.Column(
            "claimed_by_inspector_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("policy_name", sa.String(length=40), nullable=False),
        sa.Column("ack_within", sa.String(length=40), nullable=False),
        sa.Column("due_within", sa.String(length=40), nullable=False),
        sa.Column("ack_due_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("review_due_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deadline_provisional", sa.Boolean(), nullable=False),
        sa.Column("fired_steps", sa.JSON(), nullable=False),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.Column("next_step_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claimed_by_inspector_id"],
            ["inspectors.id"],
            name=op.f("fk_tasks_claimed_by_inspector_id_inspectors"),
        ),
        sa.ForeignKeyConstraint(
            ["directive_id"], ["directives.id"], name=op.f("fk_tasks_directive_id_directives")
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_tasks_inspector_id_inspectors")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_tasks_lead_id_leads")),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_tasks_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sa.UniqueConstraint(
            "directive_id", "inspector_id", name=op.f("uq_tasks_directive_id_inspector_id")
        ),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_due_steps", ["next_step_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_inspector_id"), ["inspector_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "callbacks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("token_name", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_callbacks_lead_id_leads")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_callbacks_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
        sa.UniqueConstraint("event_id", "lead_id", name=op.f("uq_callbacks_event_id_lead_id")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index("ix_callbacks_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_callbacks_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_callbacks_task_id"), ["task_id"], unique=False)

    op.create_table(
        "deliveries",
        sa.Column("notification_id", sa.String(length=100), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_deliveries_inspector_id_inspectors")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_deliveries_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_task_id"), ["task_id"], unique=False)

    op.create_table(
        "inspection_results",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "inspector_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("checklist_group", sa.String(length=40), nullable=False),
        sa.Column("checklist_version", sa.String(length=20), nullable=False),
        sa.Column("compliant", sa.Boolean(), nullable=False),
        sa.Column("opinion", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("location_flagged", sa.Boolean(), nullable=False),
        sa.Column("verification_code", sa.String(length=12), nullable=False),
        sa.Column("submitted_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspector_id"],
            ["inspectors.id"],
            name=op.f("fk_inspection_results_inspector_id_inspectors"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_inspection_results_subject_id_subjects")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_inspection_results_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_results")),
        sa.UniqueConstraint("task_id", name=op.f("uq_inspection_results_task_id")),
        sa.UniqueConstraint(
            "verification_code", name=op.f("uq_inspection_results_verification_code")
        ),
    )
    with op.batch_alter_table("inspection_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspection_results_inspector_id"), ["inspector_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inspection_results_subject_id"), ["subject_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inspection_results_submitted_at"), ["submitted_at"], unique=False
        )

    op.create_table(
        "task_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "actor_inspector_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_inspector_id"],
            ["inspectors.id"],
            name=op.f("fk_task_events_actor_inspector_id_inspectors"),
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_events_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_events")),
    )
    with op.batch_alter_table("task_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_events_task_id"), ["task_id"], unique=False)

    op.create_table(
        "callback_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "callback_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_callback_attempts_callback_id_callbacks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_callback_attempts_callback_id"), ["callback_id"], unique=False
        )

    op.create_table(
        "photos",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("result_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("telegram_file_id", sa.String(length=200), nullable=False),
        sa.Column("telegram_file_unique_id", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(length=60), nullable=False),
        sa.Column("received_at", storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["inspection_results.id"],
            name=op.f("fk_photos_result_id_inspection_results"),
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_photos_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
    )
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_photos_result_id"), ["result_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_photos_task_id"), ["task_id"], unique=False)

    op.create_table(
        "result_items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "result_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=8), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["inspection_results.id"],
            name=op.f("fk_result_items_result_id_inspection_results"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_items")),
    )
    with op.batch_alter_table("result_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_result_items_result_id"), ["result_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("result_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_result_items_result_id"))

    op.drop_table("result_items")
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photos_task_id"))
        batch_op.drop_index(batch_op.f("ix_photos_result_id"))

    op.drop_table("photos")
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_attempts_callback_id"))

    op.drop_table("callback_attempts")
    with op.batch_alter_table("task_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_events_task_id"))

    op.drop_table("task_events")
    with op.batch_alter_table("inspection_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_results_submitted_at"))
        batch_op.drop_index(batch_op.f("ix_inspection_results_subject_id"))
        batch_op.drop_index(batch_op.f("ix_inspection_results_inspector_id"))

    op.drop_table("inspection_results")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_task_id"))

    op.drop_table("deliveries")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_task_id"))
        batch_op.drop_index(batch_op.f("ix_callbacks_lead_id"))
        batch_op.drop_index("ix_callbacks_due")

    op.drop_table("callbacks")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_subject_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_state"))
        batch_op.drop_index(batch_op.f("ix_tasks_lead_id"))
        batch_op.drop_index(batch_op.f("ix_tasks_inspector_id"))
        batch_op.drop_index("ix_tasks_due_steps")

    op.drop_table("tasks")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_subject_id"))
        batch_op.drop_index("ix_leads_source_message")
        batch_op.drop_index(batch_op.f("ix_leads_folded_into_id"))

    op.drop_table("leads")
    with op.batch_alter_table("lab_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lab_samples_subject_id"))

    op.drop_table("lab_samples")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjects_inspector_id"))
        batch_op.drop_index(batch_op.f("ix_subjects_grid_code"))

    op.drop_table("subjects")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invites_inspector_id"))

    op.drop_table("invites")
    with op.batch_alter_table("inspectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspectors_division_code"))

    op.drop_table("inspectors")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unpublished")

    op.drop_table("outbox")
    op.drop_table("leases")
    with op.batch_alter_table("hook_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hook_signatures_expires_at"))

    op.drop_table("hook_signatures")
    with op.batch_alter_table("divisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_divisions_parent_code"))

    op.drop_table("divisions")
    op.drop_table("directives")
    op.drop_table("bot_drafts")
    op.drop_table("api_tokens")

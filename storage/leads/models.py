"""The lead table."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class Lead(Base):
    """A risk lead (线索) from a monitoring source.

    The dedup key is scoped to its source, because two systems may reuse the
    same key; a lead re-sent with the same (source, dedup_key) is the same lead.
    Once the source resolved it, the same key opens a new `episode`, as an
    alert that fires again after it cleared is a new problem.

    A lead about a subject whose task from the same source is still open does
    not get a task of its own: it is folded into that task, `folded_into_id`
    names the lead that opened the task, and that lead's `lead_count` counts
    the leads the task now stands for.
    """

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("source", "dedup_key", "episode"),
        Index("ix_leads_source_message", "source", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(40))
    dedup_key: Mapped[str] = mapped_column(String(200))
    episode: Mapped[int] = mapped_column(Integer, default=1)
    message_id: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    routing: Mapped[str] = mapped_column(String(16))
    routing_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(300))
    # WGS-84, converted from the system the source used.
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    # Name of the API token whose HMAC secret signs the callbacks.
    callback_token: Mapped[str | None] = mapped_column(String(32))
    folded_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("leads.id"), index=True)
    lead_count: Mapped[int] = mapped_column(Integer, default=1)
    ack_within: Mapped[str | None] = mapped_column(String(40))
    due_within: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

"""Callback deliveries and their attempts."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class CallbackState:
    """The state of a callback delivery."""

    PENDING = "pending"  # waiting for its next attempt at `next_attempt_at`
    DELIVERED = "delivered"  # the receiver returned a 2xx status
    PARKED = "parked"  # given up on: too many failures, or a URL no longer allowed


class Callback(Base):
    """One state change of a task, to be POSTed to the callback URL of one of its leads.

    (event_id, lead_id) is unique, so a task event seen twice queues one
    delivery per lead.
    """

    __tablename__ = "callbacks"
    __table_args__ = (
        UniqueConstraint("event_id", "lead_id"),
        Index("ix_callbacks_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(BigId)
    lead_id: Mapped[int] = mapped_column(BigId, ForeignKey("leads.id"), index=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Name of the API token whose HMAC secret signs the request.
    token_name: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallbackAttempt(Base):
    """One try at delivering a callback, successful or not. Rows are only ever inserted."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    callback_id: Mapped[int] = mapped_column(BigId, ForeignKey("callbacks.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)

"""The lab sample table: every result received, passed or not, as evidence."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class LabSample(Base):
    """One analyte measured in one sample, with the verdict against the limit tables.

    `verdict` is "pass", "exceeds", "banned" or "no_limit" (no limit or ban
    covers it). The limit's figures and source are copied, so the record
    still shows what it was judged against after the tables change.
    """

    __tablename__ = "lab_samples"
    __table_args__ = (UniqueConstraint("source", "sample_id", "analyte"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(40))
    sample_id: Mapped[str] = mapped_column(String(100))
    lab: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(200))
    subject_ref: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    commodity: Mapped[str] = mapped_column(String(100))
    analyte: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(20))
    value_mg_per_kg: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    limit_mg_per_kg: Mapped[float | None] = mapped_column(Float)
    ratio: Mapped[float | None] = mapped_column(Float)
    standard: Mapped[str | None] = mapped_column(String(200))
    confidence: Mapped[str | None] = mapped_column(String(16))
    table_row: Mapped[str | None] = mapped_column(String(100))
    lead_message_id: Mapped[str | None] = mapped_column(String(100))
    sampled_on: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

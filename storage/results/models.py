"""Inspection result tables."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class InspectionResult(Base):
    """A submitted inspection: one per task, with the checklist version it answered."""

    __tablename__ = "inspection_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id"), unique=True)
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    inspector_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspectors.id"), index=True)
    checklist_group: Mapped[str] = mapped_column(String(40))
    checklist_version: Mapped[str] = mapped_column(String(20))
    compliant: Mapped[bool] = mapped_column(Boolean)
    opinion: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    location_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    verification_code: Mapped[str] = mapped_column(String(12), unique=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ResultItem(Base):
    """The answer to one checklist item: pass, fail or not applicable, with a note."""

    __tablename__ = "result_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspection_results.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    item_code: Mapped[str] = mapped_column(String(8))
    answer: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)


class Photo(Base):
    """A photo kept as evidence: where it is stored, its SHA-256, size and when it arrived."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    result_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inspection_results.id"), index=True
    )
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id"), index=True)
    telegram_file_id: Mapped[str] = mapped_column(String(200))
    telegram_file_unique_id: Mapped[str] = mapped_column(String(100))
    storage_key: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

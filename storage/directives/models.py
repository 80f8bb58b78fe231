"""The directive table."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class Directive(Base):
    """A directive (指令) as received, keyed by the sender's message id."""

    __tablename__ = "directives"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(16))
    target_code: Mapped[str] = mapped_column(String(40))
    issued_by: Mapped[str | None] = mapped_column(String(100))
    ack_within: Mapped[str | None] = mapped_column(String(40))
    due_within: Mapped[str | None] = mapped_column(String(40))
    assignment: Mapped[str] = mapped_column(String(8), default="each")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

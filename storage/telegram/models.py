"""Telegram delivery records."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class Delivery(Base):
    """A notification sent to an inspector's chat, keyed by its notification id.

    A redelivered notification whose id is here is not sent again.
    """

    __tablename__ = "deliveries"

    notification_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tasks.id"), index=True)
    inspector_id: Mapped[int] = mapped_column(BigId, ForeignKey("inspectors.id"))
    kind: Mapped[str] = mapped_column(String(32))
    condition: Mapped[str | None] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)

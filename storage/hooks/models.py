"""The replay cache of signed hook requests."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class SeenSignature(Base):
    """A hook request signature already accepted, kept until its timestamp is too old anyway."""

    __tablename__ = "hook_signatures"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

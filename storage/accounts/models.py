"""The console's user and session tables."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class UserRole(StrEnum):
    """The role of a console user, which sets what it may see and do."""

    ADMIN = "admin"  # everything, every county
    COMMAND_CENTRE = "command_centre"  # everything, every county
    COUNTY = "county"  # reads and acts within one county only


class User(Base):
    """A console account; the password is kept as a scrypt hash only."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    county_code: Mapped[str | None] = mapped_column(String(20), ForeignKey("divisions.code"))
    language: Mapped[str] = mapped_column(String(16), default="zh_CN")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Wrong passwords since the last sign-in or lock; at MAX_FAILED_SIGN_INS the account locks.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Session(Base):
    """A signed-in browser: the SHA-256 of its cookie value, and its CSRF token."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("console_users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

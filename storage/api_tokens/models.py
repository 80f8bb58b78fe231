"""The API token table."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime


class ApiScope(StrEnum):
    """A permission a token carries on the HTTP API."""

    COMMAND_CENTRE = "command_centre"  # issue and cancel directives, import the registry, read
    HOOK = "hook"  # inject leads through the monitoring hook routes
    READ_ONLY = "read_only"  # read tasks, directives, the registry and the statistics


class ApiToken(Base):
    """A bearer token of the HTTP API, stored as the SHA-256 of the token.

    `rate_per_s` and `burst` size the token bucket that limits its requests.
    `hmac_secret` signs hook request bodies; it is kept as is, because the
    receiver recomputes the HMAC with it.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(12))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    rate_per_s: Mapped[float] = mapped_column(Float)
    burst: Mapped[int] = mapped_column(Integer)
    # NOTE: stored in plain text, because HMAC verification needs the secret itself.
    # Anyone who can read this table can sign hook requests for this token.
    hmac_secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def has_scope(self, scope: ApiScope) -> bool:
        """Return whether the token carries `scope`."""
        return scope.value in self.scopes

"""Conversation state of the bot (aiogram FSM), kept in the database so drafts survive restarts.

An inspector halfway through a submission keeps their answers when the bot
process restarts, because every step writes the state and its data here.
"""

from typing import Any

from sqlalchemy import JSON, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base
from storage.db import Database


class Draft(Base):
    """One conversation's FSM state and data, keyed as aiogram's key builder builds it."""

    __tablename__ = "bot_drafts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


async def load_draft(db: Database, key: str) -> tuple[str | None, dict[str, Any]]:
    """Return a conversation's state and data; (None, {}) when it has none."""
    async with db.reading() as session:
        draft = await session.get(Draft, key)
        if draft is None:
            return None, {}
        return draft.state, dict(draft.data or {})


async def save_state(db: Database, key: str, state: str | None) -> None:
    """Store a conversation's state, keeping its data; a cleared conversation is removed."""
    async with db.transaction() as session:
        draft = await session.get(Draft, key)
        if draft is None:
            if state is not None:
                session.add(Draft(key=key, state=state, data={}))
            return
        draft.state = state
        if state is None and not draft.data:
            await session.execute(delete(Draft).where(Draft.key == key))


async def save_data(db: Database, key: str, data: dict[str, Any]) -> None:
    """Store a conversation's data, keeping its state."""
    async with db.transaction() as session:
        draft = await session.get(Draft, key)
        if draft is None:
            if data:
                session.add(Draft(key=key, state=None, data=dict(data)))
            return
        if draft.state is None and not data:
            await session.execute(delete(Draft).where(Draft.key == key))
            return
        draft.data = dict(data)

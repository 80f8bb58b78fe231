"""Binding inspectors to simulated Telegram users on the local Bot API server.

With no Telegram token, `up` runs the local Bot API server. So that tasks
reach someone, every inspector without a Telegram binding gets a simulated
user there, with user id `LOCAL_USER_BASE + inspector id`. They are bound directly in the
database, because the local server keeps no state across restarts and
exchanging 779 invite codes through the bot would only slow the start.
"""

import logging
from datetime import datetime

from sqlalchemy import select

from bots.local_api.client import LocalBotApiControl
from storage.db import Database
from storage.registry.models import Inspector
from storage.registry.service import bind_local_users

log = logging.getLogger(__name__)

LOCAL_USER_BASE = 7_100_000_000


def local_user_id(inspector_id: int) -> int:
    """Return the simulated Telegram user id of an inspector on the local Bot API server."""
    return LOCAL_USER_BASE + inspector_id


async def _unbound_inspectors(db: Database) -> list[Inspector]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(Inspector).where(Inspector.telegram_user_id.is_(None)).order_by(Inspector.id)
        )
        return list(rows)


async def create_local_users(db: Database, control: LocalBotApiControl) -> None:
    """Create a simulated user for every bound inspector, as the server keeps no state."""
    async with db.reading() as session:
        bound = list(
            await session.scalars(select(Inspector).where(Inspector.telegram_user_id.is_not(None)))
        )
    for inspector in bound:
        assert inspector.telegram_user_id is not None
        await control.create_user(inspector.telegram_user_id, inspector.name)


async def bind_all_locally(db: Database, control: LocalBotApiControl, *, now: datetime) -> int:
    """Bind every unbound inspector to a new simulated user; return how many were bound."""
    inspectors = await _unbound_inspectors(db)
    for inspector in inspectors:
        await control.create_user(local_user_id(inspector.id), inspector.name)
    await bind_local_users(
        db, {inspector.id: local_user_id(inspector.id) for inspector in inspectors}, now=now
    )
    return len(inspectors)

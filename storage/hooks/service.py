"""Remembering signed hook requests, so each signature is accepted once."""

import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.hooks.models import SeenSignature

log = logging.getLogger(__name__)


async def signature_seen(db: Database, signature: str) -> bool:
    """Return whether `signature` was accepted before and is still remembered."""
    async with db.reading() as session:
        found = await session.scalar(
            select(SeenSignature.signature).where(SeenSignature.signature == signature)
        )
    return found is not None


async def remember_signature(
    db: Database, signature: str, *, now: datetime, expires_at: datetime
) -> bool:
    """Store a signature until `expires_at`; return False if it was already stored.

    Signatures that expired are deleted in the same transaction, so the table
    holds only the replay window's worth of requests.
    """
    try:
        async with db.transaction() as session:
            await session.execute(delete(SeenSignature).where(SeenSignature.expires_at < now))
            if await session.get(SeenSignature, signature) is not None:
                return False
            session.add(SeenSignature(signature=signature, seen_at=now, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


async def forget_signature(db: Database, signature: str) -> None:
    """Drop a stored signature, so the sender may retry a request that failed after it."""
    async with db.transaction() as session:
        await session.execute(delete(SeenSignature).where(SeenSignature.signature == signature))
    log.info("signature forgotten after a failed request")

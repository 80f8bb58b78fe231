"""A lease that lets one worker process at a time sweep a SQLite database.

SQLite has no `SKIP LOCKED`, so several sweeping processes would only
queue behind each other's write locks. The holder renews the lease at
every sweep; when it dies, another worker takes over once the lease has
expired.
"""

import logging
from datetime import datetime, timedelta

from storage.db import Database
from storage.escalation.models import Lease

log = logging.getLogger(__name__)

SWEEP_LEASE = "escalation-sweep"


async def acquire_lease(
    db: Database, *, name: str, holder: str, ttl_s: float, now: datetime
) -> bool:
    """Take or renew the lease `name` for `holder`; return whether `holder` now has it."""
    async with db.transaction() as session:
        lease = await session.get(Lease, name, with_for_update=True)
        expires_at = now + timedelta(seconds=ttl_s)
        if lease is None:
            session.add(Lease(name=name, holder=holder, expires_at=expires_at))
            log.info("lease taken lease=%s holder=%s", name, holder)
            return True
        if lease.holder != holder and lease.expires_at > now:
            return False
        if lease.holder != holder:
            log.warning(
                "lease taken over lease=%s holder=%s previous=%s expired_at=%s",
                name,
                holder,
                lease.holder,
                lease.expires_at,
            )
        lease.holder = holder
        lease.expires_at = expires_at
        return True


async def release_lease(db: Database, *, name: str, holder: str) -> None:
    """Give up the lease if `holder` has it, so another worker need not wait for expiry."""
    async with db.transaction() as session:
        lease = await session.get(Lease, name, with_for_update=True)
        if lease is not None and lease.holder == holder:
            await session.delete(lease)
            log.info("lease released lease=%s holder=%s", name, holder)

"""`verify_token` with a cache of verified tokens on a manual clock, on a real database."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select

from griddispatch.clock import ManualClock
from storage.api_tokens.cache import VerifiedTokens
from storage.api_tokens.models import ApiToken
from storage.api_tokens.service import create_token, hash_token, revoke_token, verify_token
from storage.db import Database
from tests.harness.loop import START

TTL = timedelta(seconds=5)
# Longer than LAST_USED_RESOLUTION, so that a cached token becomes due for a touch.
LONG_TTL = timedelta(minutes=5)


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    """Collect the SQL statements `db` sends while the block runs."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _last_used_at(db: Database, name: str) -> datetime | None:
    async with db.reading() as session:
        record = await session.scalar(select(ApiToken).where(ApiToken.name == name))
    assert record is not None, f"token {name} is not stored"
    return record.last_used_at


async def test_cache_hit_reads_nothing(db: Database) -> None:
    clock = ManualClock(START)
    cache = VerifiedTokens(TTL, clock)
    _, plaintext = await create_token(db, "reader", ["read_only"])
    first = await verify_token(db, plaintext, now=clock.now(), cache=cache)

    clock.advance(TTL / 2)
    with _statements(db) as sent:
        second = await verify_token(db, plaintext, now=clock.now(), cache=cache)

    assert first is not None
    assert second is first
    assert sent == []


async def test_revoked_token_passes_until_ttl(db: Database) -> None:
    clock = ManualClock(START)
    cache = VerifiedTokens(TTL, clock)
    _, plaintext = await create_token(db, "reader", ["read_only"])
    assert await verify_token(db, plaintext, now=clock.now(), cache=cache) is not None

    await revoke_token(db, "reader")
    clock.advance(TTL - timedelta(microseconds=1))
    within_ttl = await verify_token(db, plaintext, now=clock.now(), cache=cache)
    clock.advance(timedelta(microseconds=1))
    after_ttl = await verify_token(db, plaintext, now=clock.now(), cache=cache)

    assert within_ttl is not None
    assert after_ttl is None
    assert cache.get(hash_token(plaintext)) is None


async def test_unknown_token_is_not_cached(db: Database) -> None:
    clock = ManualClock(START)
    cache = VerifiedTokens(TTL, clock)
    unknown = "gdt_not-a-real-token"

    assert await verify_token(db, unknown, now=clock.now(), cache=cache) is None
    with _statements(db) as sent:
        again = await verify_token(db, unknown, now=clock.now(), cache=cache)

    assert again is None
    assert len(cache) == 0
    assert len(sent) >= 1


async def test_revoked_token_is_not_cached(db: Database) -> None:
    clock = ManualClock(START)
    cache = VerifiedTokens(TTL, clock)
    _, plaintext = await create_token(db, "reader", ["read_only"])
    await revoke_token(db, "reader")

    assert await verify_token(db, plaintext, now=clock.now(), cache=cache) is None
    assert len(cache) == 0


async def test_zero_ttl_sees_revocation_at_once(db: Database) -> None:
    clock = ManualClock(START)
    cache = VerifiedTokens(timedelta(0), clock)
    _, plaintext = await create_token(db, "reader", ["read_only"])
    assert await verify_token(db, plaintext, now=clock.now(), cache=cache) is not None

    await revoke_token(db, "reader")

    assert await verify_token(db, plaintext, now=clock.now(), cache=cache) is None
    assert len(cache) == 0


async def test_cache_hit_records_use_once_a_minute(db: Database) -> None:
    clock = ManualClock(START)
    cache = VerifiedTokens(LONG_TTL, clock)
    _, plaintext = await create_token(db, "reader", ["read_only"])
    first_use = clock.now()
    await verify_token(db, plaintext, now=first_use, cache=cache)

    clock.advance(timedelta(seconds=59))
    await verify_token(db, plaintext, now=clock.now(), cache=cache)
    stored_within_minute = await _last_used_at(db, "reader")
    due = clock.advance(timedelta(seconds=1))
    record = await verify_token(db, plaintext, now=due, cache=cache)
    stored_after_minute = await _last_used_at(db, "reader")

    assert stored_within_minute == first_use
    assert stored_after_minute == due
    assert record is not None
    assert record.last_used_at == due
    assert cache.get(hash_token(plaintext)) is record

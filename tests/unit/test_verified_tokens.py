"""The cache of verified API tokens on a manual clock, and the setting that sizes its TTL."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from griddispatch.clock import ManualClock
from griddispatch.settings import MAX_TOKEN_CACHE_S, Settings
from storage.api_tokens.cache import VerifiedTokens
from storage.api_tokens.models import ApiToken

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TTL = timedelta(seconds=5)


def _record(name: str, *, revoked: bool = False) -> ApiToken:
    return ApiToken(
        id=1,
        name=name,
        token_hash=name * 4,
        token_prefix="gdt_" + name,
        scopes=["read_only"],
        rate_per_s=10.0,
        burst=20,
        created_at=START,
        revoked=revoked,
    )


@pytest.fixture
def clock() -> ManualClock:
    """A clock at a fixed Monday morning."""
    return ManualClock(START)


def test_hit_within_ttl(clock: ManualClock) -> None:
    cache = VerifiedTokens(TTL, clock)
    record = _record("reader")

    cache.put("h1", record)
    clock.advance(TTL - timedelta(microseconds=1))

    assert cache.get("h1") is record


def test_entry_expires_at_ttl(clock: ManualClock) -> None:
    cache = VerifiedTokens(TTL, clock)
    cache.put("h1", _record("reader"))

    clock.advance(TTL)

    assert cache.get("h1") is None
    assert len(cache) == 0


def test_put_again_restarts_ttl(clock: ManualClock) -> None:
    cache = VerifiedTokens(TTL, clock)
    record = _record("reader")
    cache.put("h1", record)

    clock.advance(TTL - timedelta(seconds=1))
    cache.put("h1", record)
    clock.advance(timedelta(seconds=2))

    assert cache.get("h1") is record


def test_missing_hash_is_none(clock: ManualClock) -> None:
    cache = VerifiedTokens(TTL, clock)
    cache.put("h1", _record("reader"))

    assert cache.get("h2") is None


def test_zero_ttl_keeps_nothing(clock: ManualClock) -> None:
    cache = VerifiedTokens(timedelta(0), clock)

    cache.put("h1", _record("reader"))

    assert not cache.enabled
    assert len(cache) == 0
    assert cache.get("h1") is None


def test_revoked_record_is_not_cached(clock: ManualClock) -> None:
    cache = VerifiedTokens(TTL, clock)

    with pytest.raises(ValueError, match="'reader' is revoked"):
        cache.put("h1", _record("reader", revoked=True))

    assert len(cache) == 0


def test_size_bound_evicts_oldest(clock: ManualClock) -> None:
    cache = VerifiedTokens(TTL, clock, max_entries=2)
    first, second, third = _record("a"), _record("b"), _record("c")

    cache.put("h1", first)
    cache.put("h2", second)
    cache.put("h3", third)

    assert len(cache) == 2
    assert cache.get("h1") is None
    assert cache.get("h2") is second
    assert cache.get("h3") is third


def test_put_again_makes_entry_newest(clock: ManualClock) -> None:
    cache = VerifiedTokens(TTL, clock, max_entries=2)
    first, second, third = _record("a"), _record("b"), _record("c")

    cache.put("h1", first)
    cache.put("h2", second)
    cache.put("h1", first)
    cache.put("h3", third)

    assert cache.get("h1") is first
    assert cache.get("h2") is None
    assert cache.get("h3") is third


@pytest.mark.parametrize(
    ("ttl", "max_entries", "message"),
    [
        (timedelta(seconds=-1), 10, "negative"),
        (TTL, 0, "size 0 is invalid"),
    ],
)
def test_invalid_cache_arguments(
    clock: ManualClock, ttl: timedelta, max_entries: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        VerifiedTokens(ttl, clock, max_entries=max_entries)


def test_token_cache_setting_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDDISPATCH_TOKEN_CACHE_S", raising=False)

    assert Settings().token_cache_s == 5.0


@pytest.mark.parametrize("seconds", ["0", "0.5", str(MAX_TOKEN_CACHE_S)])
def test_token_cache_setting_accepts(monkeypatch: pytest.MonkeyPatch, seconds: str) -> None:
    monkeypatch.setenv("GRIDDISPATCH_TOKEN_CACHE_S", seconds)

    assert Settings().token_cache_s == float(seconds)


@pytest.mark.parametrize("seconds", ["-1", "300.5", "nan", "inf"])
def test_token_cache_setting_rejects(monkeypatch: pytest.MonkeyPatch, seconds: str) -> None:
    monkeypatch.setenv("GRIDDISPATCH_TOKEN_CACHE_S", seconds)

    expected = f"GRIDDISPATCH_TOKEN_CACHE_S {seconds} is out of range"
    with pytest.raises(ValidationError, match=re.escape(expected)):
        Settings()

"""Rate limits: 429 with retry_after when enforced, and the send counters."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from bots.local_api import LocalBotApiControl, LocalBotApiServer
from bots.local_api.errors import BotApiError
from bots.local_api.limits import SendLimiter
from tests.local_api.conftest import OTHER_USER_ID, USER_ID, make_bot


async def test_second_message_in_second_gets_429() -> None:
    async with LocalBotApiServer(enforce_limits=True) as limited_server:
        bot = make_bot(limited_server)
        try:
            async with LocalBotApiControl(limited_server.base_url, bot.token) as control:
                await control.create_user(USER_ID, "Wei")
                await bot.send_message(USER_ID, "first")

                with pytest.raises(TelegramRetryAfter) as caught:
                    await bot.send_message(USER_ID, "second")
                stats = await control.stats()
        finally:
            await bot.session.close()

    assert caught.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in caught.value.message
    assert stats.sends == 1
    assert stats.rejected_429 == 1
    assert stats.per_chat[USER_ID].rejected_429 == 1


async def test_limits_switch_at_runtime(bot: Bot, control: LocalBotApiControl) -> None:
    await bot.send_message(USER_ID, "one")
    await bot.send_message(USER_ID, "two")

    await control.set_limits(enforce=True)
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(USER_ID, "three")
    await control.set_limits(enforce=False)
    await bot.send_message(USER_ID, "four")

    stats = await control.stats()
    assert stats.sends == 3
    assert stats.rejected_429 == 1
    assert stats.enforce_limits is False


async def test_other_chat_not_limited(bot: Bot, control: LocalBotApiControl) -> None:
    await control.create_user(OTHER_USER_ID, "Fang")
    await control.set_limits(enforce=True)

    await bot.send_message(USER_ID, "to Wei")
    await bot.send_message(OTHER_USER_ID, "to Fang")

    stats = await control.stats()
    assert stats.per_chat[USER_ID].sends == 1
    assert stats.per_chat[OTHER_USER_ID].sends == 1
    assert stats.rejected_429 == 0


async def test_group_allows_20_a_minute(bot: Bot, control: LocalBotApiControl) -> None:
    await control.create_group(-300, "Grid team", [USER_ID])
    await control.set_limits(enforce=True)

    for number in range(20):
        await bot.send_message(-300, f"notice {number}")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(-300, "notice 20")

    assert 55 <= caught.value.retry_after <= 60


def test_bot_window_allows_30_a_second() -> None:
    now = [100.0]
    limiter = SendLimiter(bot_id=1, enforce=True, clock=lambda: now[0])

    for chat_id in range(1, 31):
        limiter.admit(chat_id)
    with pytest.raises(BotApiError, match="retry after 1") as caught:
        limiter.admit(31)
    now[0] += 1.0
    limiter.admit(31)

    assert caught.value.status == 429
    assert limiter.sends == 31
    assert limiter.rejected == 1

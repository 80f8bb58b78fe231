"""The control client: typed results, waiting, and errors."""

from __future__ import annotations

import time

import pytest
from aiogram import Bot

from bots.local_api import LocalBotApiControl
from bots.local_api.errors import ControlError, ControlTimeoutError
from tests.local_api.conftest import USER_ID, make_png


async def test_wait_for_messages_returns_when_present(
    bot: Bot, control: LocalBotApiControl
) -> None:
    await bot.send_message(USER_ID, "ready")

    messages = await control.wait_for_messages(USER_ID, 1, timeout_s=1)

    assert [message.text for message in messages] == ["ready"]


async def test_wait_for_messages_timeout_names_chat(bot: Bot, control: LocalBotApiControl) -> None:
    await bot.send_message(USER_ID, "only one")
    started = time.monotonic()

    with pytest.raises(TimeoutError) as caught:
        await control.wait_for_messages(USER_ID, 2, timeout_s=0.3)

    assert isinstance(caught.value, ControlTimeoutError)
    assert f"chat {USER_ID} contains 1 bot messages" in str(caught.value)
    assert "'only one'" in str(caught.value)
    assert time.monotonic() - started < 2


async def test_messages_of_unknown_chat_rejected(control: LocalBotApiControl) -> None:
    with pytest.raises(ControlError, match="chat 31337 not found") as caught:
        await control.messages(31337)

    assert caught.value.status == 404


async def test_blocked_user_cannot_write(control: LocalBotApiControl) -> None:
    await control.block(USER_ID)

    with pytest.raises(ControlError, match="has blocked the bot"):
        await control.send_text(USER_ID, "hello")


async def test_photo_must_be_image(control: LocalBotApiControl) -> None:
    with pytest.raises(ControlError, match="not a PNG, JPEG or GIF"):
        await control.send_photo(USER_ID, b"plain text")


async def test_user_photo_in_pending_updates(control: LocalBotApiControl) -> None:
    sent = await control.send_photo(USER_ID, make_png(4, 4), caption="bag")

    pending = await control.pending_updates()

    assert [update["update_id"] for update in pending] == [sent.update_id]
    assert pending[0]["message"]["caption"] == "bag"
    assert pending[0]["message"]["photo"][0]["width"] == 4


async def test_create_user_returns_user(control: LocalBotApiControl) -> None:
    user = await control.create_user(6001, "Min", language_code="en")

    assert user == {"id": 6001, "is_bot": False, "first_name": "Min", "language_code": "en"}

"""Updates: user actions reach the bot through getUpdates, with long polling and offsets."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.local_api import LocalBotApiControl, LocalBotApiServer
from bots.local_api.errors import ControlError
from tests.local_api.conftest import OTHER_USER_ID, USER_ID, make_bot


async def send_task_card(bot: Bot) -> int:
    """Send a message with two callback buttons and return its id."""
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Accept", callback_data="task:9:accept"),
                InlineKeyboardButton(text="Decline", callback_data="task:9:decline"),
            ]
        ]
    )
    sent = await bot.send_message(USER_ID, "Task 9", reply_markup=markup)
    return sent.message_id


async def test_tap_ends_long_poll_promptly(bot: Bot, control: LocalBotApiControl) -> None:
    message_id = await send_task_card(bot)
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.2)

    started = time.monotonic()
    tap = await control.tap(USER_ID, message_id, data="task:9:accept")
    updates = await asyncio.wait_for(poll, timeout=5)
    elapsed_s = time.monotonic() - started

    assert elapsed_s < 2, f"long poll returned {elapsed_s:.2f} s after the tap"
    assert len(updates) == 1
    query = updates[0].callback_query
    assert query is not None
    assert query.id == tap.callback_query_id
    assert query.data == "task:9:accept"
    assert query.from_user.id == USER_ID
    assert query.message is not None and query.message.message_id == message_id
    assert updates[0].update_id == tap.update_id


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()

    updates = await bot.get_updates(timeout=1)

    assert updates == []
    assert time.monotonic() - started >= 0.9


async def test_tap_by_button_text(bot: Bot, control: LocalBotApiControl) -> None:
    message_id = await send_task_card(bot)

    await control.tap(USER_ID, message_id, button_text="Decline")
    updates = await bot.get_updates()

    assert updates[0].callback_query is not None
    assert updates[0].callback_query.data == "task:9:decline"


async def test_tap_on_absent_button_rejected(bot: Bot, control: LocalBotApiControl) -> None:
    message_id = await send_task_card(bot)

    with pytest.raises(ControlError, match="shows no callback button") as caught:
        await control.tap(USER_ID, message_id, data="task:10:accept")

    assert caught.value.status == 400
    assert await control.pending_updates() == []


async def test_forged_callback_reaches_bot(bot: Bot, control: LocalBotApiControl) -> None:
    message_id = await send_task_card(bot)

    await control.tap(USER_ID, message_id, data="task:999:accept", forge=True)
    updates = await bot.get_updates()

    assert updates[0].callback_query is not None
    assert updates[0].callback_query.data == "task:999:accept"


async def test_forged_tap_in_other_chat(bot: Bot, control: LocalBotApiControl) -> None:
    await control.create_user(OTHER_USER_ID, "Fang")
    other_card = await bot.send_message(OTHER_USER_ID, "Task for Fang")

    await control.tap(
        USER_ID, other_card.message_id, data="task:1:accept", forge=True, chat_id=OTHER_USER_ID
    )
    updates = await bot.get_updates()

    query = updates[0].callback_query
    assert query is not None
    assert query.from_user.id == USER_ID
    assert query.message is not None and query.message.chat.id == OTHER_USER_ID


async def test_tap_in_other_chat_needs_forge(bot: Bot, control: LocalBotApiControl) -> None:
    await control.create_user(OTHER_USER_ID, "Fang")
    other_card = await bot.send_message(OTHER_USER_ID, "Task for Fang")

    with pytest.raises(ControlError, match="forge=true"):
        await control.tap(USER_ID, other_card.message_id, data="x", chat_id=OTHER_USER_ID)


async def test_offset_confirms_earlier_updates(bot: Bot, control: LocalBotApiControl) -> None:
    first = await control.send_text(USER_ID, "one")
    second = await control.send_text(USER_ID, "two")
    assert first.update_id is not None and second.update_id is not None

    both = await bot.get_updates()
    after_offset = await bot.get_updates(offset=first.update_id + 1)
    pending = await control.pending_updates()

    assert [update.update_id for update in both] == [first.update_id, second.update_id]
    assert [update.update_id for update in after_offset] == [second.update_id]
    assert [update["update_id"] for update in pending] == [second.update_id]


async def test_negative_offset_keeps_last(bot: Bot, control: LocalBotApiControl) -> None:
    for text in ("one", "two", "three"):
        await control.send_text(USER_ID, text)

    updates = await bot.get_updates(offset=-1)

    assert [update.message.text for update in updates if update.message] == ["three"]
    assert len(await control.pending_updates()) == 1


async def test_limit_caps_batch(bot: Bot, control: LocalBotApiControl) -> None:
    for text in ("one", "two", "three"):
        await control.send_text(USER_ID, text)

    updates = await bot.get_updates(limit=2)

    assert len(updates) == 2


async def test_allowed_updates_filters_types(bot: Bot, control: LocalBotApiControl) -> None:
    message_id = await send_task_card(bot)
    await bot.get_updates(allowed_updates=["callback_query"])

    skipped = await control.send_text(USER_ID, "ignored")
    await control.tap(USER_ID, message_id, data="task:9:accept")
    updates = await bot.get_updates()

    assert skipped.update_id is None
    assert [update.callback_query is not None for update in updates] == [True]


async def test_new_long_poll_ends_older_one(bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.2)

    newer = await bot.get_updates(timeout=1)

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(older, timeout=2)
    assert newer == []


async def test_command_gets_bot_command_entity(bot: Bot, control: LocalBotApiControl) -> None:
    await control.send_text(USER_ID, "/start INVITE42")

    updates = await bot.get_updates()
    message = updates[0].message

    assert message is not None
    assert message.text == "/start INVITE42"
    assert message.entities is not None
    assert [(entity.type, entity.offset, entity.length) for entity in message.entities] == [
        ("bot_command", 0, 6)
    ]
    assert message.from_user is not None
    assert message.from_user.language_code == "zh-hans"


async def test_user_edit_gives_edited_message(bot: Bot, control: LocalBotApiControl) -> None:
    written = await control.send_text(USER_ID, "sample 12")
    await control.edit_text(USER_ID, written.message_id, "sample 13")

    updates = await bot.get_updates()

    assert updates[1].edited_message is not None
    assert updates[1].edited_message.text == "sample 13"
    assert updates[1].edited_message.message_id == written.message_id


async def test_user_location_and_sticker(bot: Bot, control: LocalBotApiControl) -> None:
    await control.send_location(USER_ID, 30.5728, 104.0668)
    await control.send_sticker(USER_ID, emoji="👌")

    updates = await bot.get_updates()

    location = updates[0].message.location if updates[0].message else None
    sticker = updates[1].message.sticker if updates[1].message else None
    assert location is not None
    assert location.latitude == pytest.approx(30.5728)
    assert sticker is not None
    assert sticker.emoji == "👌"


async def test_block_gives_my_chat_member(bot: Bot, control: LocalBotApiControl) -> None:
    await control.block(USER_ID)

    updates = await bot.get_updates()

    member_update = updates[0].my_chat_member
    assert member_update is not None
    assert member_update.new_chat_member.status == "kicked"
    assert member_update.from_user.id == USER_ID


async def test_answer_callback_query_recorded(bot: Bot, control: LocalBotApiControl) -> None:
    message_id = await send_task_card(bot)
    tap = await control.tap(USER_ID, message_id, data="task:9:accept")

    assert await bot.answer_callback_query(tap.callback_query_id, text="Accepted", show_alert=True)
    answers = await control.callback_answers(USER_ID)

    assert len(answers) == 1
    assert answers[0].callback_query_id == tap.callback_query_id
    assert answers[0].text == "Accepted"
    assert answers[0].show_alert is True
    assert answers[0].data == "task:9:accept"


async def test_second_answer_rejected(bot: Bot, control: LocalBotApiControl) -> None:
    message_id = await send_task_card(bot)
    tap = await control.tap(USER_ID, message_id, data="task:9:accept")
    await bot.answer_callback_query(tap.callback_query_id)

    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(tap.callback_query_id)


async def test_unknown_query_id_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("12345")


async def test_unknown_user_rejected_by_control(control: LocalBotApiControl) -> None:
    with pytest.raises(ControlError, match="user 999 not found") as caught:
        await control.send_text(999, "hello")

    assert caught.value.status == 404


async def test_stop_ends_open_long_poll() -> None:
    server = LocalBotApiServer()
    await server.start()
    bot = make_bot(server)
    try:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await asyncio.sleep(0.2)
        started = time.monotonic()

        await server.stop()
        updates = await asyncio.wait_for(poll, timeout=5)
    finally:
        await bot.session.close()

    assert updates == []
    assert time.monotonic() - started < 3

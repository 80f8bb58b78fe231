"""Sending and editing messages through aiogram against the local server."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bots.local_api import LocalBotApiControl, LocalBotApiServer
from tests.local_api.conftest import OTHER_USER_ID, TOKEN, USER_ID, make_bot


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons
        ]
    )


async def test_get_me_returns_bot_identity(bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 123456789
    assert me.is_bot
    assert me.username == "griddispatch_local_bot"


async def test_get_me_uses_username_set_by_control(bot: Bot, control: LocalBotApiControl) -> None:
    await control.set_bot_profile(username="grid_test_bot")

    me = await bot.get_me()

    assert me.username == "grid_test_bot"


async def test_send_message_with_keyboard_reads_back(bot: Bot, control: LocalBotApiControl) -> None:
    sent = await bot.send_message(
        USER_ID, "Task 17 assigned", reply_markup=keyboard(("Accept", "task:17:accept"))
    )

    messages = await control.messages(USER_ID)

    assert sent.chat.id == USER_ID
    assert sent.from_user is not None and sent.from_user.id == 123456789
    assert [message.message_id for message in messages] == [sent.message_id]
    assert messages[0].text == "Task 17 assigned"
    assert messages[0].kind == "text"
    assert messages[0].buttons == [[("Accept", "task:17:accept")]]


async def test_reply_keyboard_kept_in_control_view(bot: Bot, control: LocalBotApiControl) -> None:
    markup = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Share location")]])

    sent = await bot.send_message(USER_ID, "Where are you?", reply_markup=markup)
    messages = await control.messages(USER_ID)

    assert sent.reply_markup is None, "Message.reply_markup carries inline keyboards only"
    assert messages[0].keyboard == [["Share location"]]


async def test_html_parse_mode_yields_entities(bot: Bot) -> None:
    sent = await bot.send_message(USER_ID, "<b>Task</b> 5 &amp; 6", parse_mode="HTML")

    assert sent.text == "Task 5 & 6"
    assert sent.entities is not None
    assert [(entity.type, entity.offset, entity.length) for entity in sent.entities] == [
        ("bold", 0, 4)
    ]


async def test_html_unsupported_tag_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(USER_ID, "price <100 yuan>", parse_mode="HTML")


async def test_markdown_v2_reserved_character_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(USER_ID, "Done.", parse_mode="MarkdownV2")


async def test_reply_to_message_included(bot: Bot, control: LocalBotApiControl) -> None:
    first = await bot.send_message(USER_ID, "first")

    second = await bot.send_message(USER_ID, "second", reply_to_message_id=first.message_id)

    assert second.reply_to_message is not None
    assert second.reply_to_message.message_id == first.message_id
    assert (await control.messages(USER_ID))[1].reply_to_message_id == first.message_id


async def test_reply_to_missing_message_rejected(bot: Bot, control: LocalBotApiControl) -> None:
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(USER_ID, "reply", reply_to_message_id=999)


async def test_edit_text_records_history(bot: Bot, control: LocalBotApiControl) -> None:
    sent = await bot.send_message(USER_ID, "Task 3: open", reply_markup=keyboard(("Close", "c")))

    edited = await bot.edit_message_text(
        text="Task 3: closed", chat_id=USER_ID, message_id=sent.message_id
    )
    message = (await control.messages(USER_ID))[0]

    assert not isinstance(edited, bool)
    assert edited.text == "Task 3: closed"
    assert edited.edit_date is not None
    assert message.text == "Task 3: closed"
    assert [edit.text for edit in message.edits] == ["Task 3: closed"]
    assert message.buttons == [], "an edit without reply_markup removes the inline keyboard"


async def test_unchanged_edit_text_raises_bad_request(bot: Bot) -> None:
    markup = keyboard(("Close", "c"))
    sent = await bot.send_message(USER_ID, "same", reply_markup=markup)

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            text="same", chat_id=USER_ID, message_id=sent.message_id, reply_markup=markup
        )


async def test_edit_reply_markup_and_unchanged(bot: Bot, control: LocalBotApiControl) -> None:
    sent = await bot.send_message(USER_ID, "pick", reply_markup=keyboard(("A", "a")))

    await bot.edit_message_reply_markup(
        chat_id=USER_ID, message_id=sent.message_id, reply_markup=keyboard(("B", "b"))
    )
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=USER_ID, message_id=sent.message_id, reply_markup=keyboard(("B", "b"))
        )

    message = (await control.messages(USER_ID))[0]
    assert message.buttons == [[("B", "b")]]
    assert len(message.edits) == 1


async def test_edit_missing_message_rejected(bot: Bot, control: LocalBotApiControl) -> None:
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=USER_ID, message_id=404)


async def test_edit_user_message_rejected(bot: Bot, control: LocalBotApiControl) -> None:
    written = await control.send_text(USER_ID, "hello")

    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text(text="x", chat_id=USER_ID, message_id=written.message_id)


async def test_delete_message_hides_it(bot: Bot, control: LocalBotApiControl) -> None:
    sent = await bot.send_message(USER_ID, "temporary")

    assert await bot.delete_message(USER_ID, sent.message_id)
    assert await control.messages(USER_ID) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER_ID, sent.message_id)


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("   ", "message text is empty"),
        ("x" * 4097, "message is too long"),
    ],
)
async def test_invalid_text_rejected(
    bot: Bot, control: LocalBotApiControl, text: str, description: str
) -> None:
    with pytest.raises(TelegramBadRequest, match=description):
        await bot.send_message(USER_ID, text)


async def test_text_of_4096_characters_accepted(bot: Bot, control: LocalBotApiControl) -> None:
    sent = await bot.send_message(USER_ID, "字" * 4096)

    assert sent.text is not None
    assert len(sent.text) == 4096


async def test_long_callback_data_rejected(bot: Bot, control: LocalBotApiControl) -> None:
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER_ID, "pick", reply_markup=keyboard(("A", "a" * 65)))

    assert await control.messages(USER_ID) == []


async def test_callback_data_of_64_bytes_accepted(bot: Bot, control: LocalBotApiControl) -> None:
    await bot.send_message(USER_ID, "pick", reply_markup=keyboard(("A", "a" * 64)))

    assert len(await control.messages(USER_ID)) == 1


async def test_unknown_chat_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "hello")


async def test_blocked_user_gives_forbidden(bot: Bot, control: LocalBotApiControl) -> None:
    await control.block(USER_ID)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "hello")

    await control.unblock(USER_ID)
    assert (await bot.send_message(USER_ID, "hello again")).text == "hello again"


async def test_invalid_token_unauthorized(server: LocalBotApiServer) -> None:
    # aiogram's own check accepts any "<digits>:<something>", so this token reaches the server.
    bad_bot = make_bot(server, "123:not*valid")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await bad_bot.get_me()
    finally:
        await bad_bot.session.close()


async def test_invalid_token_raw_response(server: LocalBotApiServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.base_url}/botnot-a-token/getMe") as response,
    ):
        body = await response.json()

    assert response.status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_not_found(server: LocalBotApiServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/bot{TOKEN}/sendTelepathy") as response,
    ):
        body = await response.json()

    assert response.status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_json_body_and_case_insensitive_name(
    server: LocalBotApiServer, control: LocalBotApiControl
) -> None:
    payload = {"chat_id": USER_ID, "text": "via JSON"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/bot{TOKEN}/SENDMESSAGE", json=payload) as response,
    ):
        body = await response.json()

    assert response.status == 200
    assert body["ok"] is True
    assert body["result"]["text"] == "via JSON"


async def test_query_string_parameters(
    server: LocalBotApiServer, control: LocalBotApiControl
) -> None:
    url = f"{server.base_url}/bot{TOKEN}/sendMessage"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, params={"chat_id": str(USER_ID), "text": "via GET"}) as response,
    ):
        body = await response.json()

    assert body["result"]["text"] == "via GET"


async def test_send_location_read_back(bot: Bot, control: LocalBotApiControl) -> None:
    sent = await bot.send_location(USER_ID, latitude=30.66, longitude=104.07)

    message = (await control.messages(USER_ID))[0]

    assert sent.location is not None
    assert sent.location.latitude == pytest.approx(30.66)
    assert message.kind == "location"


async def test_group_chat_messages(bot: Bot, control: LocalBotApiControl) -> None:
    await control.create_user(OTHER_USER_ID, "Fang")
    await control.create_group(-100200, "Grid 3 team", [USER_ID, OTHER_USER_ID])

    sent = await bot.send_message(-100200, "Team briefing at 9")

    assert sent.chat.type == "group"
    assert sent.chat.title == "Grid 3 team"
    assert [message.text for message in await control.messages(-100200)] == ["Team briefing at 9"]


async def test_commands_stored(bot: Bot) -> None:
    commands = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="tasks", description="My tasks"),
    ]

    assert await bot.set_my_commands(commands)
    assert [command.command for command in await bot.get_my_commands()] == ["start", "tasks"]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []

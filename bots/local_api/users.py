"""Actions of simulated Telegram users: writing, tapping buttons, sharing media, blocking.

Each action creates the message or callback query a real client would cause
and queues the update the bot receives. Actions that no real client could
perform raise ControlError with the reason.
"""

from __future__ import annotations

import logging

from bots.local_api import media
from bots.local_api.entities import command_entities
from bots.local_api.errors import ControlError
from bots.local_api.markup import find_button
from bots.local_api.models import (
    CallbackQueryRecord,
    ChatRecord,
    EditRecord,
    JsonObject,
    MessageContent,
    MessageRecord,
    UserRecord,
)
from bots.local_api.state import BotState

logger = logging.getLogger(__name__)

_IMAGE_NAMES = {"image/png": "photo.png", "image/gif": "photo.gif"}


def find_user(bot: BotState, user_id: int) -> UserRecord:
    """Return a created user; raise 404 naming the route that creates one."""
    user = bot.users.get(user_id)
    if user is None:
        raise ControlError(404, f"user {user_id} not found; create it with POST users first")
    return user


def chat_of(bot: BotState, user: UserRecord, chat_id: int | None) -> ChatRecord:
    """Return the chat a user acts in: their private chat, or a group they belong to."""
    if chat_id is None or chat_id == user.user_id:
        chat = bot.chats[user.user_id]
    else:
        chat = _group_of(bot, user, chat_id)

    if user.blocked_bot:
        raise ControlError(409, f"user {user.user_id} has blocked the bot; unblock it first")
    return chat


def _group_of(bot: BotState, user: UserRecord, chat_id: int) -> ChatRecord:
    chat = bot.chats.get(chat_id)
    if chat is None:
        raise ControlError(404, f"chat {chat_id} not found")
    if chat.chat_type != "private" and user.user_id not in chat.member_ids:
        raise ControlError(400, f"user {user.user_id} is not a member of chat {chat_id}")
    return chat


def _post_message(
    bot: BotState, user: UserRecord, chat: ChatRecord, kind: str, content: MessageContent
) -> tuple[MessageRecord, int | None]:
    message = bot.add_message(chat, user, kind)
    message.fill(content)
    update = bot.updates.push("message", message.to_json())
    logger.debug(
        "user message bot_id=%s user_id=%s chat_id=%s message_id=%s kind=%s",
        bot.bot_id,
        user.user_id,
        chat.chat_id,
        message.message_id,
        kind,
    )
    return message, None if update is None else update.update_id


def send_text(
    bot: BotState, user: UserRecord, chat: ChatRecord, text: str
) -> tuple[MessageRecord, int | None]:
    """Send text as the user; "/command" words get bot_command entities as in Telegram."""
    if text.strip() == "":
        raise ControlError(400, "text must be non-empty, as Telegram clients send no empty text")

    content = MessageContent(text=text, entities=command_entities(text))
    return _post_message(bot, user, chat, "text", content)


def send_location(
    bot: BotState, user: UserRecord, chat: ChatRecord, latitude: float, longitude: float
) -> tuple[MessageRecord, int | None]:
    """Share a location as the user."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ControlError(400, f"location ({latitude}, {longitude}) is out of range")

    content = MessageContent(media={"location": media.location_json(latitude, longitude)})
    return _post_message(bot, user, chat, "location", content)


def send_photo(
    bot: BotState,
    user: UserRecord,
    chat: ChatRecord,
    content: bytes,
    *,
    as_document: bool,
    file_name: str | None,
    caption: str | None,
) -> tuple[MessageRecord, int | None]:
    """Send an image as the user: compressed as a photo, or "as file" as a Document."""
    image_type = media.image_type(content)
    size = media.image_size(content)
    if image_type is None or size is None:
        raise ControlError(400, "content is not a PNG, JPEG or GIF image")

    extension = media.extension_for(image_type, file_name)
    fields: JsonObject
    if as_document:
        name = file_name or _IMAGE_NAMES.get(image_type, "photo.jpg")
        stored = bot.store_file(content, "documents", extension, image_type, name)
        fields = {"document": media.document_json(stored)}
        kind = "document"
    else:
        stored = bot.store_file(content, "photos", extension, image_type)
        fields = {"photo": media.photo_sizes(stored, size)}
        kind = "photo"

    message_content = MessageContent(caption=caption, media=fields, file_ids=[stored.file_id])
    return _post_message(bot, user, chat, kind, message_content)


def send_sticker(
    bot: BotState, user: UserRecord, chat: ChatRecord, emoji: str
) -> tuple[MessageRecord, int | None]:
    """Send a static sticker as the user; its file contains placeholder bytes."""
    stored = bot.store_file(media.STICKER_PLACEHOLDER, "stickers", ".webp", "image/webp")
    content = MessageContent(
        media={"sticker": media.sticker_json(stored, emoji)}, file_ids=[stored.file_id]
    )
    return _post_message(bot, user, chat, "sticker", content)


def edit_text(
    bot: BotState, user: UserRecord, chat: ChatRecord, message_id: int, text: str
) -> tuple[MessageRecord, int | None]:
    """Edit one of the user's text messages; the bot gets an edited_message update."""
    message = bot.find_message(chat.chat_id, message_id)
    if message is None or message.sender is not user:
        raise ControlError(
            400, f"message {message_id} in chat {chat.chat_id} is not a message of this user"
        )
    if message.kind != "text":
        raise ControlError(400, f"message {message_id} has no text to edit")

    message.text = text
    message.entities = command_entities(text)
    message.edit_date = bot.now()
    message.edits.append(EditRecord(message.edit_date, text, None))
    update = bot.updates.push("edited_message", message.to_json())
    return message, None if update is None else update.update_id


def tapped_message(
    bot: BotState, user: UserRecord, chat_id: int | None, message_id: int, forge: bool
) -> MessageRecord:
    """Return the message a user taps on; only a forged tap may reach a chat the user is not in."""
    chat = bot.chats[user.user_id] if chat_id is None else bot.chats.get(chat_id)
    if chat is None:
        raise ControlError(404, f"chat {chat_id} not found")

    is_member = chat.chat_id == user.user_id or user.user_id in chat.member_ids
    if not is_member and not forge:
        raise ControlError(
            400,
            f"user {user.user_id} is not in chat {chat.chat_id}; pass forge=true for a forged tap",
        )

    message = bot.find_message(chat.chat_id, message_id)
    if message is None:
        raise ControlError(404, f"message {message_id} not found in chat {chat.chat_id}")
    return message


def tap(
    bot: BotState,
    user: UserRecord,
    message: MessageRecord,
    *,
    data: str | None,
    button_text: str | None,
    forge: bool,
) -> tuple[CallbackQueryRecord, int | None]:
    """Tap an inline button as the user; a forged tap sends `data` without any check."""
    if forge:
        if data is None:
            raise ControlError(400, "a forged tap needs data")
        chosen = data
    else:
        chosen = _button_data(message, data, button_text)

    query = bot.add_callback_query(user, message, chosen)
    update = bot.updates.push("callback_query", query.to_json())
    logger.debug(
        "button tapped bot_id=%s user_id=%s chat_id=%s message_id=%s forged=%s",
        bot.bot_id,
        user.user_id,
        message.chat.chat_id,
        message.message_id,
        forge,
    )
    return query, None if update is None else update.update_id


def _button_data(message: MessageRecord, data: str | None, button_text: str | None) -> str:
    if data is None and button_text is None:
        raise ControlError(400, "a tap needs data or button_text")

    try:
        button = find_button(message.inline_keyboard, data, button_text)
    except LookupError:
        available = [
            (button.get("text"), button.get("callback_data"))
            for row in message.inline_keyboard
            for button in row
        ]
        requested = f"data {data!r}" if data is not None else f"text {button_text!r}"
        raise ControlError(
            400,
            f"message {message.message_id} in chat {message.chat.chat_id} shows no callback "
            f"button with {requested}; its buttons are {available}; "
            "pass forge=true to send it anyway",
        ) from None
    return str(button["callback_data"])


def set_blocked(bot: BotState, user: UserRecord, blocked: bool) -> int | None:
    """Block or unblock the bot as the user; the bot gets a my_chat_member update."""
    if user.blocked_bot == blocked:
        return None

    user.blocked_bot = blocked
    old_status, new_status = ("member", "kicked") if blocked else ("kicked", "member")
    payload = {
        "chat": bot.chats[user.user_id].to_json(),
        "from": user.to_json(),
        "date": bot.now(),
        "old_chat_member": _member_json(bot, old_status),
        "new_chat_member": _member_json(bot, new_status),
    }
    update = bot.updates.push("my_chat_member", payload)
    logger.info("user blocked=%s bot_id=%s user_id=%s", blocked, bot.bot_id, user.user_id)
    return None if update is None else update.update_id


def _member_json(bot: BotState, status: str) -> dict[str, object]:
    member: dict[str, object] = {"status": status, "user": bot.bot_user.to_json()}
    if status == "kicked":
        member["until_date"] = 0
    return member

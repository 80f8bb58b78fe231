"""Bot API methods that send messages: text, photo, document, location, chat action.

Every send checks its parameters, then the target chat (400 "chat not found",
403 when the user blocked the bot), then the rate limits (429), and only then
creates the message, so a rejected send leaves no trace but its counters.
"""

from __future__ import annotations

import logging
from typing import Any

from bots.local_api import media
from bots.local_api.call import MethodCall, MethodHandler
from bots.local_api.errors import bad_request
from bots.local_api.formatting import parse_formatted
from bots.local_api.markup import read_reply_markup
from bots.local_api.models import (
    ChatRecord,
    JsonObject,
    MessageContent,
    MessageRecord,
    StoredFile,
)
from bots.local_api.params import UploadedFile
from bots.local_api.state import CHAT_NOT_FOUND, BotState

logger = logging.getLogger(__name__)

# Bot API limits: 4096 characters of text, 1024 of caption, counted after entity parsing.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024


def read_text(call: MethodCall) -> tuple[str, list[JsonObject]]:
    """Read `text` with parse_mode or entities; raise 400 when empty or too long."""
    raw = call.params.text("text")
    if raw is None or raw.strip() == "":
        raise bad_request("message text is empty")

    text, entities = _apply_formatting(call, raw, "entities")
    if text.strip() == "":
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return text, entities


def read_caption(call: MethodCall) -> tuple[str | None, list[JsonObject]]:
    """Read the optional `caption`; raise 400 when it is too long."""
    raw = call.params.text("caption")
    if raw is None or raw == "":
        return None, []

    caption, entities = _apply_formatting(call, raw, "caption_entities")
    if len(caption) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return caption, entities


def _apply_formatting(
    call: MethodCall, raw: str, entities_name: str
) -> tuple[str, list[JsonObject]]:
    explicit = call.params.json_value(entities_name, f"can't parse {entities_name} JSON object")
    if isinstance(explicit, list):
        return raw, explicit
    return parse_formatted(raw, call.params.text("parse_mode"))


def read_chat(call: MethodCall) -> ChatRecord:
    """Read `chat_id` and return the chat; a non-numeric id (an @username) is not found."""
    chat_id = call.params.integer("chat_id", CHAT_NOT_FOUND)
    return call.bot.target_chat(chat_id)


def _read_reply_target(call: MethodCall, chat: ChatRecord) -> MessageRecord | None:
    params = call.params
    reply = params.json_value("reply_parameters", "can't parse reply parameters JSON object")
    allow_missing = params.flag("allow_sending_without_reply")

    if isinstance(reply, dict):
        message_id = reply.get("message_id")
        allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
    else:
        message_id = params.integer("reply_to_message_id", "invalid reply_to_message_id")

    if message_id is None:
        return None

    target = call.bot.find_message(chat.chat_id, int(message_id))
    if target is None and not allow_missing:
        raise bad_request("message to be replied not found")
    return target


def _deliver(
    call: MethodCall, chat: ChatRecord, kind: str, content: MessageContent
) -> MessageRecord:
    """Check reply and markup, admit the send, then create the bot's message."""
    reply_markup = read_reply_markup(call.params)
    reply_to = _read_reply_target(call, chat)
    call.bot.limiter.admit(chat.chat_id)

    message = call.bot.add_message(chat, call.bot.bot_user, kind)
    message.reply_markup = reply_markup
    message.reply_to = reply_to
    message.fill(content)

    logger.debug(
        "message sent bot_id=%s chat_id=%s message_id=%s kind=%s",
        call.bot.bot_id,
        chat.chat_id,
        message.message_id,
        kind,
    )
    return message


async def send_message(call: MethodCall) -> Any:
    """sendMessage."""
    chat = read_chat(call)
    text, entities = read_text(call)
    message = _deliver(call, chat, "text", MessageContent(text=text, entities=entities))
    return message.to_json()


async def send_photo(call: MethodCall) -> Any:
    """sendPhoto: an uploaded PNG, JPEG or GIF, or the file_id of an earlier photo."""
    chat = read_chat(call)
    stored = _read_input_file(call, "photo")
    size = media.image_size(stored.content)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")

    caption, caption_entities = read_caption(call)
    message = _deliver(
        call,
        chat,
        "photo",
        MessageContent(
            caption=caption,
            caption_entities=caption_entities,
            media={"photo": media.photo_sizes(stored, size)},
            file_ids=[stored.file_id],
        ),
    )
    return message.to_json()


async def send_document(call: MethodCall) -> Any:
    """sendDocument: an uploaded file, or the file_id of an earlier one."""
    chat = read_chat(call)
    stored = _read_input_file(call, "document")
    caption, caption_entities = read_caption(call)
    message = _deliver(
        call,
        chat,
        "document",
        MessageContent(
            caption=caption,
            caption_entities=caption_entities,
            media={"document": media.document_json(stored)},
            file_ids=[stored.file_id],
        ),
    )
    return message.to_json()


def _read_input_file(call: MethodCall, name: str) -> StoredFile:
    reference = call.params.input_file(name)
    if reference is None:
        raise bad_request(f"there is no {name} in the request")

    if isinstance(reference, UploadedFile):
        return _store_upload(call.bot, reference, name)

    if reference.startswith(("http://", "https://")):
        # The server cannot reach the internet, so it cannot fetch URLs as Telegram does.
        raise bad_request("failed to get HTTP URL content")

    stored = call.bot.files.get(reference)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return stored


def _store_upload(bot: BotState, upload: UploadedFile, name: str) -> StoredFile:
    if not upload.content:
        raise bad_request("file must be non-empty")

    if name == "photo":
        image_type = media.image_type(upload.content) or "image/jpeg"
        extension = media.extension_for(image_type, None)
        return bot.store_file(upload.content, "photos", extension, mime_type=image_type)

    mime_type = media.guess_mime_type(upload.filename, upload.content_type, upload.content)
    return bot.store_file(
        upload.content,
        "documents",
        media.extension_for(mime_type, upload.filename),
        mime_type=mime_type,
        file_name=upload.filename,
    )


async def send_location(call: MethodCall) -> Any:
    """sendLocation."""
    chat = read_chat(call)
    latitude = call.params.number("latitude", "wrong latitude specified")
    longitude = call.params.number("longitude", "wrong longitude specified")
    if latitude is None:
        raise bad_request("latitude is empty")
    if longitude is None:
        raise bad_request("longitude is empty")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise bad_request("wrong location specified")

    location = media.location_json(latitude, longitude)
    message = _deliver(call, chat, "location", MessageContent(media={"location": location}))
    return message.to_json()


async def send_chat_action(call: MethodCall) -> Any:
    """sendChatAction: accepted and not shown anywhere."""
    read_chat(call)
    if not call.params.text("action"):
        raise bad_request("action is empty")
    return True


SEND_METHODS: dict[str, MethodHandler] = {
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "senddocument": send_document,
    "sendlocation": send_location,
    "sendchataction": send_chat_action,
}

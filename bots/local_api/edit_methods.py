"""Bot API methods on existing messages, callback queries and files.

editMessageText, editMessageCaption, editMessageReplyMarkup, deleteMessage,
answerCallbackQuery and getFile. As in Telegram, an edit that does not pass
reply_markup removes the message's inline keyboard.
"""

from __future__ import annotations

import logging
from typing import Any

from bots.local_api.call import MethodCall, MethodHandler
from bots.local_api.errors import bad_request
from bots.local_api.markup import read_reply_markup
from bots.local_api.models import EditRecord, JsonObject, MessageRecord
from bots.local_api.send_methods import read_caption, read_chat, read_text

logger = logging.getLogger(__name__)

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

# Bots may download files of up to 20 MB through getFile.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


def _read_message(call: MethodCall, missing: str) -> MessageRecord:
    if call.params.has("inline_message_id"):
        raise bad_request("inline messages are not supported by the local Bot API server")

    chat = read_chat(call)
    message_id = call.params.integer("message_id", "message identifier is not specified")
    if message_id is None:
        raise bad_request("message identifier is not specified")

    message = call.bot.find_message(chat.chat_id, message_id)
    if message is None:
        raise bad_request(missing)
    return message


def _read_edited_markup(call: MethodCall) -> JsonObject | None:
    markup = read_reply_markup(call.params)
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("only an inline keyboard can be set by an edit")
    return markup


def _record_edit(call: MethodCall, message: MessageRecord, markup: JsonObject | None) -> Any:
    message.reply_markup = markup
    message.edit_date = call.bot.now()
    visible_text = message.text if message.text is not None else message.caption
    message.edits.append(EditRecord(message.edit_date, visible_text, markup))

    logger.debug(
        "message edited bot_id=%s chat_id=%s message_id=%s",
        call.bot.bot_id,
        message.chat.chat_id,
        message.message_id,
    )
    return message.to_json()


async def edit_message_text(call: MethodCall) -> Any:
    """editMessageText."""
    message = _read_message(call, "message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    if message.kind != "text":
        raise bad_request("there is no text in the message to edit")

    text, entities = read_text(call)
    markup = _read_edited_markup(call)
    if text == message.text and entities == message.entities and markup == message.reply_markup:
        raise bad_request(NOT_MODIFIED)

    message.text = text
    message.entities = entities
    return _record_edit(call, message, markup)


async def edit_message_caption(call: MethodCall) -> Any:
    """editMessageCaption."""
    message = _read_message(call, "message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    if message.kind not in {"photo", "document"}:
        raise bad_request("there is no caption in the message to edit")

    caption, entities = read_caption(call)
    markup = _read_edited_markup(call)
    unchanged = caption == message.caption and entities == message.caption_entities
    if unchanged and markup == message.reply_markup:
        raise bad_request(NOT_MODIFIED)

    message.caption = caption
    message.caption_entities = entities
    return _record_edit(call, message, markup)


async def edit_message_reply_markup(call: MethodCall) -> Any:
    """editMessageReplyMarkup; no reply_markup removes the inline keyboard."""
    message = _read_message(call, "message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")

    markup = _read_edited_markup(call)
    if markup == message.reply_markup:
        raise bad_request(NOT_MODIFIED)
    return _record_edit(call, message, markup)


async def delete_message(call: MethodCall) -> Any:
    """deleteMessage: the message disappears from the chat and from control views."""
    message = _read_message(call, "message to delete not found")
    message.deleted = True
    return True


async def answer_callback_query(call: MethodCall) -> Any:
    """answerCallbackQuery: record the answer; each query can be answered once.

    NOTE: Telegram also rejects an answer that comes too long after the tap;
    this server never expires a query.
    """
    query_id = call.params.text("callback_query_id") or ""
    query = call.bot.callback_queries.get(query_id)
    if query is None or query.answered:
        raise bad_request(QUERY_INVALID)

    query.answered = True
    query.answer_text = call.params.text("text")
    query.show_alert = call.params.flag("show_alert")
    query.url = call.params.text("url")
    query.cache_time = call.params.integer("cache_time", "invalid cache_time specified") or 0
    return True


async def get_file(call: MethodCall) -> Any:
    """getFile: the File object with a download path; files over 20 MB are refused."""
    file_id = call.params.text("file_id") or ""
    stored = call.bot.files.get(file_id)
    if stored is None:
        raise bad_request("invalid file_id")
    if len(stored.content) > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return stored.to_json(with_path=True)


EDIT_METHODS: dict[str, MethodHandler] = {
    "editmessagetext": edit_message_text,
    "editmessagecaption": edit_message_caption,
    "editmessagereplymarkup": edit_message_reply_markup,
    "deletemessage": delete_message,
    "answercallbackquery": answer_callback_query,
    "getfile": get_file,
}

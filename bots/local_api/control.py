"""Control routes under /control/bot<token>/: act as Telegram users and inspect the bot.

Requests and responses are JSON. A rejected request gets a 4xx status and
{"ok": false, "error": "<reason>"}.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from aiohttp import web

from bots.local_api import users
from bots.local_api.errors import ControlError
from bots.local_api.models import MessageRecord
from bots.local_api.state import BotRegistry, BotState

logger = logging.getLogger(__name__)

REGISTRY_KEY = web.AppKey("registry", BotRegistry)

DEFAULT_LANGUAGE_CODE = "zh-hans"

Body = dict[str, Any]


def add_control_routes(app: web.Application) -> None:
    """Register every control route on the application."""
    prefix = "/control/bot{token}"
    user = prefix + "/users/{user_id}"
    app.router.add_post(prefix + "/me", set_bot_profile)
    app.router.add_post(prefix + "/users", create_user)
    app.router.add_post(prefix + "/groups", create_group)
    app.router.add_post(user + "/messages", user_sends_text)
    app.router.add_post(user + "/callbacks", user_taps_button)
    app.router.add_post(user + "/locations", user_sends_location)
    app.router.add_post(user + "/photos", user_sends_photo)
    app.router.add_post(user + "/stickers", user_sends_sticker)
    app.router.add_post(user + "/edits", user_edits_text)
    app.router.add_post(user + "/block", user_blocks_bot)
    app.router.add_post(user + "/unblock", user_unblocks_bot)
    app.router.add_get(prefix + "/chats/{chat_id}/messages", chat_messages)
    app.router.add_get(prefix + "/chats/{chat_id}/callback_answers", callback_answers)
    app.router.add_get(prefix + "/stats", stats)
    app.router.add_post(prefix + "/limits", set_limits)
    app.router.add_get(prefix + "/updates/pending", pending_updates)


def _bot(request: web.Request) -> BotState:
    return request.app[REGISTRY_KEY].get(request.match_info["token"])


def _path_int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        value = request.match_info[name]
        raise ControlError(400, f"{name} must be an integer, got {value!r}") from None


async def _json_body(request: web.Request) -> Body:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ControlError(400, "request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlError(400, "request body must be a JSON object")
    return body


def _required(body: Body, name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        raise ControlError(400, f"{name} is missing")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ControlError(400, f"{name} must be of type {kind.__name__}, got {value!r}")
    return value


def _optional(body: Body, name: str, kind: type) -> Any:
    if body.get(name) is None:
        return None
    return _required(body, name, kind)


def _sent(message: MessageRecord, update_id: int | None) -> web.Response:
    return web.json_response({"update_id": update_id, "message_id": message.message_id})


async def set_bot_profile(request: web.Request) -> web.Response:
    """POST me {username?, first_name?}: change what getMe returns."""
    bot = _bot(request)
    body = await _json_body(request)
    bot.bot_user.username = _optional(body, "username", str) or bot.bot_user.username
    bot.bot_user.first_name = _optional(body, "first_name", str) or bot.bot_user.first_name
    return web.json_response(bot.bot_user.to_json())


async def create_user(request: web.Request) -> web.Response:
    """POST users {user_id, first_name, last_name?, username?, language_code?}."""
    bot = _bot(request)
    body = await _json_body(request)
    user_id = _required(body, "user_id", int)
    if user_id <= 0:
        raise ControlError(400, f"user_id must be positive, got {user_id}")

    user = bot.add_user(
        user_id,
        _required(body, "first_name", str),
        _optional(body, "last_name", str),
        _optional(body, "username", str),
        _optional(body, "language_code", str) or DEFAULT_LANGUAGE_CODE,
    )
    return web.json_response(user.to_json())


async def create_group(request: web.Request) -> web.Response:
    """POST groups {chat_id (negative), title, member_ids}: a group chat with the bot in it."""
    bot = _bot(request)
    body = await _json_body(request)
    chat_id = _required(body, "chat_id", int)
    if chat_id >= 0:
        raise ControlError(400, f"a group chat id must be negative, got {chat_id}")

    member_ids = set(_optional(body, "member_ids", list) or [])
    for member_id in member_ids:
        users.find_user(bot, int(member_id))

    chat = bot.add_group(chat_id, _required(body, "title", str), member_ids)
    return web.json_response(chat.to_json())


async def user_sends_text(request: web.Request) -> web.Response:
    """POST users/{user_id}/messages {text, chat_id?}."""
    bot, user, body = await _user_request(request)
    chat = users.chat_of(bot, user, _optional(body, "chat_id", int))
    message, update_id = users.send_text(bot, user, chat, _required(body, "text", str))
    return _sent(message, update_id)


async def _user_request(request: web.Request) -> tuple[BotState, Any, Body]:
    bot = _bot(request)
    user = users.find_user(bot, _path_int(request, "user_id"))
    return bot, user, await _json_body(request)


async def user_taps_button(request: web.Request) -> web.Response:
    """POST users/{user_id}/callbacks {message_id, data | button_text, forge?, chat_id?}."""
    bot, user, body = await _user_request(request)
    forge = bool(_optional(body, "forge", bool))
    message = users.tapped_message(
        bot, user, _optional(body, "chat_id", int), _required(body, "message_id", int), forge
    )

    query, update_id = users.tap(
        bot,
        user,
        message,
        data=_optional(body, "data", str),
        button_text=_optional(body, "button_text", str),
        forge=forge,
    )
    return web.json_response({"update_id": update_id, "callback_query_id": query.query_id})


async def user_sends_location(request: web.Request) -> web.Response:
    """POST users/{user_id}/locations {latitude, longitude, chat_id?}."""
    bot, user, body = await _user_request(request)
    chat = users.chat_of(bot, user, _optional(body, "chat_id", int))
    latitude = _required(body, "latitude", float)
    longitude = _required(body, "longitude", float)
    message, update_id = users.send_location(bot, user, chat, latitude, longitude)
    return _sent(message, update_id)


async def user_sends_photo(request: web.Request) -> web.Response:
    """POST users/{user_id}/photos: multipart with a file, or JSON with content_base64.

    Other fields: as_document (send "as file"), file_name, caption, chat_id.
    """
    bot = _bot(request)
    user = users.find_user(bot, _path_int(request, "user_id"))
    if request.content_type == "multipart/form-data":
        content, body = await _read_photo_form(request)
    else:
        body = await _json_body(request)
        content = _decode_base64(_required(body, "content_base64", str))

    chat = users.chat_of(bot, user, _int_field(body, "chat_id"))
    message, update_id = users.send_photo(
        bot,
        user,
        chat,
        content,
        as_document=str(body.get("as_document", "")).lower() in {"true", "1"},
        file_name=body.get("file_name") or None,
        caption=body.get("caption") or None,
    )
    return _sent(message, update_id)


async def _read_photo_form(request: web.Request) -> tuple[bytes, Body]:
    form = await request.post()
    body: Body = {}
    content: bytes | None = None
    for name, value in form.items():
        if isinstance(value, web.FileField):
            content = value.file.read()
            body.setdefault("file_name", value.filename)
        else:
            body[name] = str(value)

    if content is None:
        raise ControlError(400, "the multipart body has no file part")
    return content, body


def _decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ControlError(400, "content_base64 is not valid base64") from None


def _int_field(body: Body, name: str) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(400, f"{name} must be an integer, got {value!r}") from None


async def user_sends_sticker(request: web.Request) -> web.Response:
    """POST users/{user_id}/stickers {emoji?, chat_id?}."""
    bot, user, body = await _user_request(request)
    chat = users.chat_of(bot, user, _optional(body, "chat_id", int))
    emoji = _optional(body, "emoji", str) or "👍"
    message, update_id = users.send_sticker(bot, user, chat, emoji)
    return _sent(message, update_id)


async def user_edits_text(request: web.Request) -> web.Response:
    """POST users/{user_id}/edits {message_id, text, chat_id?}: an edited_message update."""
    bot, user, body = await _user_request(request)
    chat = users.chat_of(bot, user, _optional(body, "chat_id", int))
    message, update_id = users.edit_text(
        bot, user, chat, _required(body, "message_id", int), _required(body, "text", str)
    )
    return _sent(message, update_id)


async def user_blocks_bot(request: web.Request) -> web.Response:
    """POST users/{user_id}/block: later sends to the user get 403."""
    bot, user, _ = await _user_request(request)
    update_id = users.set_blocked(bot, user, blocked=True)
    return web.json_response({"blocked": True, "update_id": update_id})


async def user_unblocks_bot(request: web.Request) -> web.Response:
    """POST users/{user_id}/unblock."""
    bot, user, _ = await _user_request(request)
    update_id = users.set_blocked(bot, user, blocked=False)
    return web.json_response({"blocked": False, "update_id": update_id})


async def chat_messages(request: web.Request) -> web.Response:
    """GET chats/{chat_id}/messages: the bot's live messages in the chat, oldest first."""
    bot = _bot(request)
    chat_id = _path_int(request, "chat_id")
    if chat_id not in bot.chats:
        raise ControlError(404, f"chat {chat_id} not found")

    messages = bot.chat_messages(chat_id, from_bot=True)
    return web.json_response([message.to_control_json() for message in messages])


async def callback_answers(request: web.Request) -> web.Response:
    """GET chats/{chat_id}/callback_answers: the bot's answers to taps in the chat."""
    bot = _bot(request)
    chat_id = _path_int(request, "chat_id")
    answers = [
        query.to_answer_json()
        for query in bot.callback_queries.values()
        if query.answered and query.message.chat.chat_id == chat_id
    ]
    return web.json_response(answers)


async def stats(request: web.Request) -> web.Response:
    """GET stats: sends and 429 responses, in total and per chat."""
    return web.json_response(_bot(request).limiter.to_json())


async def set_limits(request: web.Request) -> web.Response:
    """POST limits {enforce}: switch rate limiting for this bot."""
    bot = _bot(request)
    body = await _json_body(request)
    bot.limiter.enforce = _required(body, "enforce", bool)
    logger.info("limits switched bot_id=%s enforce=%s", bot.bot_id, bot.limiter.enforce)
    return web.json_response({"enforce_limits": bot.limiter.enforce})


async def pending_updates(request: web.Request) -> web.Response:
    """GET updates/pending: updates the bot has not confirmed yet."""
    updates = _bot(request).updates.pending
    return web.json_response([update.to_json() for update in updates])

"""An async client for the control routes of the local Bot API server.

Tests and people use it to act as Telegram users (write, tap buttons, share
media, block the bot) and to read what the bot sent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from bots.local_api.errors import ControlError, ControlTimeoutError

logger = logging.getLogger(__name__)

ButtonRows = list[list[tuple[str, str | None]]]

_POLL_INTERVAL_S = 0.02


@dataclass(frozen=True)
class MessageEdit:
    """A bot message's text (or caption) and inline buttons right after one edit."""

    date: int
    text: str | None
    buttons: ButtonRows


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent, as the chat shows it now.

    `text` is the text of a text message or the caption of a media message.
    `buttons` are the inline keyboard rows as (text, callback_data) pairs, with
    None for a button that is not a callback button (a URL button, for example).
    `keyboard` lists the button texts of a reply keyboard sent with the message.
    """

    message_id: int
    date: int
    kind: str
    text: str | None
    buttons: ButtonRows = field(default_factory=list)
    keyboard: list[list[str]] = field(default_factory=list)
    file_ids: list[str] = field(default_factory=list)
    edits: list[MessageEdit] = field(default_factory=list)
    reply_to_message_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class CallbackAnswer:
    """The bot's answer to one button tap (answerCallbackQuery)."""

    callback_query_id: str
    message_id: int
    data: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass(frozen=True)
class UserMessage:
    """A message a simulated user sent, and the update id the bot receives it under.

    `update_id` is None when the bot's allowed_updates leave the update out.
    """

    message_id: int
    update_id: int | None


@dataclass(frozen=True)
class Tap:
    """A button tap and the update id the bot receives it under."""

    callback_query_id: str
    update_id: int | None


@dataclass(frozen=True)
class ChatStats:
    """Sends to one chat that were accepted and that got 429."""

    sends: int
    rejected_429: int


@dataclass(frozen=True)
class SendStats:
    """A bot's sends and 429 responses, in total and per chat id."""

    enforce_limits: bool
    sends: int
    rejected_429: int
    per_chat: dict[int, ChatStats]


def _buttons(markup: dict[str, Any] | None) -> ButtonRows:
    rows = (markup or {}).get("inline_keyboard") or []
    return [[(button["text"], button.get("callback_data")) for button in row] for row in rows]


def _keyboard(markup: dict[str, Any] | None) -> list[list[str]]:
    rows = (markup or {}).get("keyboard") or []
    return [
        [button if isinstance(button, str) else button["text"] for button in row] for row in rows
    ]


def _sent_message(raw: dict[str, Any]) -> SentMessage:
    markup = raw.get("reply_markup")
    text = raw["text"] if raw.get("text") is not None else raw.get("caption")
    edits = [
        MessageEdit(edit["date"], edit["text"], _buttons(edit["reply_markup"]))
        for edit in raw["edits"]
    ]
    return SentMessage(
        message_id=raw["message_id"],
        date=raw["date"],
        kind=raw["kind"],
        text=text,
        buttons=_buttons(markup),
        keyboard=_keyboard(markup),
        file_ids=list(raw["file_ids"]),
        edits=edits,
        reply_to_message_id=raw.get("reply_to_message_id"),
        raw=raw,
    )


class LocalBotApiControl:
    """Control client for one bot token of a local Bot API server."""

    def __init__(self, base_url: str, token: str) -> None:
        self._root = f"{base_url.rstrip('/')}/control/bot{token}"
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LocalBotApiControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, *, json: Any = None, data: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()

        async with self._session.request(
            method, f"{self._root}/{path}", json=json, data=data
        ) as response:
            body = await response.json()
            if response.status >= 400:
                message = body.get("error") or body.get("description") or str(body)
                # The request names internal paths and user ids, so only the log carries it.
                logger.info(
                    "control request failed method=%s path=%s status=%d error=%s",
                    method,
                    path,
                    response.status,
                    message,
                )
                raise ControlError(response.status, message)
            return body

    async def set_bot_profile(
        self, *, username: str | None = None, first_name: str | None = None
    ) -> dict[str, Any]:
        """Change the username or first name that getMe returns."""
        result: dict[str, Any] = await self._request(
            "POST", "me", json={"username": username, "first_name": first_name}
        )
        return result

    async def create_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "zh-hans",
    ) -> dict[str, Any]:
        """Create a user and their private chat; return the User object."""
        body = {
            "user_id": user_id,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        result: dict[str, Any] = await self._request("POST", "users", json=body)
        return result

    async def create_group(self, chat_id: int, title: str, member_ids: list[int]) -> dict[str, Any]:
        """Create a group chat (negative id) with these users; return the Chat object."""
        body = {"chat_id": chat_id, "title": title, "member_ids": member_ids}
        result: dict[str, Any] = await self._request("POST", "groups", json=body)
        return result

    async def send_text(
        self, user_id: int, text: str, *, chat_id: int | None = None
    ) -> UserMessage:
        """Send text as the user, in their private chat unless chat_id names a group."""
        body = {"text": text, "chat_id": chat_id}
        return _user_message(await self._request("POST", f"users/{user_id}/messages", json=body))

    async def tap(
        self,
        user_id: int,
        message_id: int,
        *,
        data: str | None = None,
        button_text: str | None = None,
        forge: bool = False,
        chat_id: int | None = None,
    ) -> Tap:
        """Tap an inline button as the user, found by callback data or by its text.

        forge=True sends `data` even if no button carries it, as a modified
        client can; chat_id then may name a chat the user is not in.
        """
        body = {
            "message_id": message_id,
            "data": data,
            "button_text": button_text,
            "forge": forge,
            "chat_id": chat_id,
        }
        raw = await self._request("POST", f"users/{user_id}/callbacks", json=body)
        return Tap(raw["callback_query_id"], raw["update_id"])

    async def send_location(
        self, user_id: int, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> UserMessage:
        """Share a location as the user."""
        body = {"latitude": latitude, "longitude": longitude, "chat_id": chat_id}
        return _user_message(await self._request("POST", f"users/{user_id}/locations", json=body))

    async def send_photo(
        self,
        user_id: int,
        content: bytes,
        *,
        as_document: bool = False,
        file_name: str | None = None,
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> UserMessage:
        """Send an image as the user: a photo, or a Document when as_document is set."""
        body = {
            "content_base64": base64.b64encode(content).decode("ascii"),
            "as_document": as_document,
            "file_name": file_name,
            "caption": caption,
            "chat_id": chat_id,
        }
        return _user_message(await self._request("POST", f"users/{user_id}/photos", json=body))

    async def send_sticker(
        self, user_id: int, *, emoji: str = "👍", chat_id: int | None = None
    ) -> UserMessage:
        """Send a sticker as the user."""
        body = {"emoji": emoji, "chat_id": chat_id}
        return _user_message(await self._request("POST", f"users/{user_id}/stickers", json=body))

    async def edit_text(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> UserMessage:
        """Edit a text message of the user's; the bot gets an edited_message update."""
        body = {"message_id": message_id, "text": text, "chat_id": chat_id}
        return _user_message(await self._request("POST", f"users/{user_id}/edits", json=body))

    async def block(self, user_id: int) -> None:
        """Block the bot as the user."""
        await self._request("POST", f"users/{user_id}/block")

    async def unblock(self, user_id: int) -> None:
        """Unblock the bot as the user."""
        await self._request("POST", f"users/{user_id}/unblock")

    async def messages(self, chat_id: int) -> list[SentMessage]:
        """Return the bot's messages in a chat, oldest first."""
        raw = await self._request("GET", f"chats/{chat_id}/messages")
        return [_sent_message(item) for item in raw]

    async def callback_answers(self, chat_id: int) -> list[CallbackAnswer]:
        """Return the bot's answers to button taps in a chat."""
        raw = await self._request("GET", f"chats/{chat_id}/callback_answers")
        return [
            CallbackAnswer(
                callback_query_id=item["callback_query_id"],
                message_id=item["message_id"],
                data=item["data"],
                text=item["text"],
                show_alert=item["show_alert"],
                url=item["url"],
            )
            for item in raw
        ]

    async def stats(self) -> SendStats:
        """Return the bot's send and 429 counters."""
        raw = await self._request("GET", "stats")
        per_chat = {
            int(chat_id): ChatStats(counts["sends"], counts["rejected_429"])
            for chat_id, counts in raw["per_chat"].items()
        }
        return SendStats(raw["enforce_limits"], raw["sends"], raw["rejected_429"], per_chat)

    async def set_limits(self, *, enforce: bool) -> None:
        """Switch rate limiting for this bot."""
        await self._request("POST", "limits", json={"enforce": enforce})

    async def pending_updates(self) -> list[dict[str, Any]]:
        """Return the Update objects the bot has not confirmed yet."""
        result: list[dict[str, Any]] = await self._request("GET", "updates/pending")
        return result

    async def wait_for_messages(
        self, chat_id: int, count: int, timeout_s: float = 5.0
    ) -> list[SentMessage]:
        """Poll until the chat contains at least `count` bot messages, and return them all.

        Raises ControlTimeoutError (a TimeoutError) naming the chat and the messages it contains.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self.messages(chat_id)
            if len(found) >= count:
                return found

            if time.monotonic() >= deadline:
                texts = [message.text for message in found]
                raise ControlTimeoutError(
                    f"timed out after {timeout_s} s: chat {chat_id} contains {len(found)} "
                    f"bot messages, expected at least {count}; their texts: {texts}"
                )
            await asyncio.sleep(_POLL_INTERVAL_S)


def _user_message(raw: dict[str, Any]) -> UserMessage:
    return UserMessage(raw["message_id"], raw["update_id"])

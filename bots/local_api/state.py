"""The in-memory world of each bot token: users, chats, messages, files and updates.

Every token is a separate bot with its own world, as file ids and chats are
per bot in Telegram. Nothing is persisted; a restart starts empty.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from bots.local_api.errors import BotApiError, bad_request
from bots.local_api.limits import SendLimiter
from bots.local_api.models import (
    CallbackQueryRecord,
    ChatRecord,
    MessageRecord,
    StoredFile,
    UserRecord,
)
from bots.local_api.update_ids import UpdateIds
from bots.local_api.updates import UpdateQueue

logger = logging.getLogger(__name__)

# A bot token is "<bot id>:<secret>"; ASCII digits only, so re.fullmatch and no \d.
TOKEN_PATTERN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")

DEFAULT_BOT_USERNAME = "griddispatch_local_bot"
DEFAULT_BOT_FIRST_NAME = "GridDispatch Local"

CHAT_NOT_FOUND = "chat not found"
BLOCKED_BY_USER = "Forbidden: bot was blocked by the user"


@dataclass
class WebhookConfig:
    """The webhook a bot set, and the last delivery error for getWebhookInfo."""

    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class BotState:
    """One bot's world."""

    token: str
    bot_user: UserRecord
    updates: UpdateQueue
    limiter: SendLimiter
    users: dict[int, UserRecord] = field(default_factory=dict)
    chats: dict[int, ChatRecord] = field(default_factory=dict)
    messages: dict[tuple[int, int], MessageRecord] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQueryRecord] = field(default_factory=dict)
    commands: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    webhook: WebhookConfig | None = None
    _file_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def bot_id(self) -> int:
        """The bot's user id: the digits before the colon of its token."""
        return self.bot_user.user_id

    @staticmethod
    def now() -> int:
        """Return the current Unix time in seconds, the unit of every Bot API date."""
        return int(time.time())

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str,
    ) -> UserRecord:
        """Create a user and their private chat, or update the names of an existing one."""
        user = self.users.get(user_id)
        if user is None:
            user = UserRecord(user_id, first_name)
            self.users[user_id] = user
            self.chats[user_id] = ChatRecord(user_id, "private", user=user)

        user.first_name = first_name
        user.last_name = last_name
        user.username = username
        user.language_code = language_code
        logger.debug("user created bot_id=%s user_id=%s", self.bot_id, user_id)
        return user

    def add_group(self, chat_id: int, title: str, member_ids: set[int]) -> ChatRecord:
        """Create a group chat with the given members; the bot is a member too."""
        chat = ChatRecord(chat_id, "group", title=title, member_ids=set(member_ids))
        self.chats[chat_id] = chat
        logger.info("group created bot_id=%s chat_id=%s", self.bot_id, chat_id)
        return chat

    def target_chat(self, chat_id: int | None) -> ChatRecord:
        """Return the chat the bot sends to; raise 400 or 403 as Telegram does."""
        if chat_id is None:
            raise bad_request("chat_id is empty")

        chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request(CHAT_NOT_FOUND)

        if chat.user is not None and chat.user.blocked_bot:
            raise BotApiError(403, BLOCKED_BY_USER)
        return chat

    def add_message(self, chat: ChatRecord, sender: UserRecord, kind: str) -> MessageRecord:
        """Create an empty message in a chat; the caller fills in its content."""
        message = MessageRecord(
            message_id=chat.next_message_id(),
            chat=chat,
            sender=sender,
            date=self.now(),
            kind=kind,
        )
        self.messages[(chat.chat_id, message.message_id)] = message
        return message

    def find_message(self, chat_id: int, message_id: int) -> MessageRecord | None:
        """Return a message that exists and has not been deleted."""
        message = self.messages.get((chat_id, message_id))
        if message is None or message.deleted:
            return None
        return message

    def chat_messages(self, chat_id: int, *, from_bot: bool) -> list[MessageRecord]:
        """Return the live messages of a chat sent by the bot (or by users), oldest first."""
        found = [
            message
            for (message_chat_id, _), message in self.messages.items()
            if message_chat_id == chat_id and message.from_bot == from_bot and not message.deleted
        ]
        return sorted(found, key=lambda message: message.message_id)

    def store_file(
        self,
        content: bytes,
        folder: str,
        extension: str,
        mime_type: str | None = None,
        file_name: str | None = None,
    ) -> StoredFile:
        """Store file bytes under a new file_id; equal bytes share one file_unique_id."""
        number = next(self._file_counter)
        stored = StoredFile(
            file_id=f"LOCAL{self.bot_id}_{secrets.token_urlsafe(24)}",
            file_unique_id=hashlib.sha256(content).hexdigest()[:16],
            file_path=f"{folder}/file_{number}{extension}",
            content=content,
            mime_type=mime_type,
            file_name=file_name,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_by_path(self, file_path: str) -> StoredFile | None:
        """Return the file with this download path."""
        for stored in self.files.values():
            if stored.file_path == file_path:
                return stored
        return None

    def add_callback_query(
        self, user: UserRecord, message: MessageRecord, data: str
    ) -> CallbackQueryRecord:
        """Record a button tap under a new query id, a decimal string as Telegram uses."""
        query_id = str(secrets.randbits(62))
        query = CallbackQueryRecord(query_id, user, message, data)
        self.callback_queries[query_id] = query
        return query


class BotRegistry:
    """The bots of the server by token, each created on first use."""

    def __init__(self, *, enforce_limits: bool, update_ids: UpdateIds | None = None) -> None:
        self._bots: dict[str, BotState] = {}
        self.enforce_limits = enforce_limits
        self._update_ids = update_ids or UpdateIds()

    def get(self, token: str) -> BotState:
        """Return the bot of a token; raise 401 when the token is malformed."""
        if not TOKEN_PATTERN.fullmatch(token):
            raise BotApiError(401, "Unauthorized")

        bot = self._bots.get(token)
        if bot is None:
            bot = self._create(token)
            self._bots[token] = bot
        return bot

    def all(self) -> list[BotState]:
        """Return every bot created so far."""
        return list(self._bots.values())

    def _create(self, token: str) -> BotState:
        bot_id = int(token.split(":", 1)[0])
        bot_user = UserRecord(
            bot_id, DEFAULT_BOT_FIRST_NAME, username=DEFAULT_BOT_USERNAME, is_bot=True
        )
        logger.info("bot created bot_id=%s", bot_id)
        return BotState(
            token=token,
            bot_user=bot_user,
            updates=UpdateQueue(bot_id, self._update_ids),
            limiter=SendLimiter(bot_id, enforce=self.enforce_limits),
        )

"""In-memory records of one bot's world and their Bot API JSON shapes.

The JSON shapes follow the Bot API reference (https://core.telegram.org/bots/api):
optional fields are left out rather than sent as null, as Telegram does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]


@dataclass
class UserRecord:
    """A Telegram user, or the bot itself when `is_bot` is set."""

    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    blocked_bot: bool = False

    def to_json(self) -> JsonObject:
        """Build the User object."""
        user: JsonObject = {
            "id": self.user_id,
            "is_bot": self.is_bot,
            "first_name": self.first_name,
        }
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code and not self.is_bot:
            user["language_code"] = self.language_code
        return user


@dataclass
class ChatRecord:
    """A private chat with one user (id = user id) or a group chat (negative id)."""

    chat_id: int
    chat_type: str
    title: str | None = None
    user: UserRecord | None = None
    member_ids: set[int] = field(default_factory=set)
    last_message_id: int = 0

    def next_message_id(self) -> int:
        """Allocate the next message id; Telegram numbers messages per chat from 1."""
        self.last_message_id += 1
        return self.last_message_id

    def to_json(self) -> JsonObject:
        """Build the Chat object."""
        chat: JsonObject = {"id": self.chat_id, "type": self.chat_type}
        if self.title:
            chat["title"] = self.title
        if self.user is not None:
            chat["first_name"] = self.user.first_name
            if self.user.last_name:
                chat["last_name"] = self.user.last_name
            if self.user.username:
                chat["username"] = self.user.username
        return chat


@dataclass
class StoredFile:
    """A file that the bot or a user sent, with its bytes."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    mime_type: str | None = None
    file_name: str | None = None

    def to_json(self, *, with_path: bool) -> JsonObject:
        """Build the File object; getFile adds the download path."""
        result: JsonObject = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
        }
        if with_path:
            result["file_path"] = self.file_path
        return result


@dataclass(frozen=True)
class EditRecord:
    """The content of a message right after one edit."""

    date: int
    text: str | None
    reply_markup: JsonObject | None

    def to_json(self) -> JsonObject:
        """Build the control view of the edit."""
        return {"date": self.date, "text": self.text, "reply_markup": self.reply_markup}


@dataclass(frozen=True)
class MessageContent:
    """The content of a new message: text or caption with entities, media fields, file ids."""

    text: str | None = None
    entities: list[JsonObject] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JsonObject] = field(default_factory=list)
    media: JsonObject = field(default_factory=dict)
    file_ids: list[str] = field(default_factory=list)


@dataclass
class MessageRecord:
    """A message in a chat, sent by the bot or by a user.

    `media` contains the Message fields of a non-text message, for example
    {"photo": [...]} or {"location": {...}}. `reply_markup` is the markup as
    sent, which may be a reply keyboard; the Bot API Message object carries
    only inline keyboards.
    """

    message_id: int
    chat: ChatRecord
    sender: UserRecord
    date: int
    kind: str
    text: str | None = None
    entities: list[JsonObject] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JsonObject] = field(default_factory=list)
    media: JsonObject = field(default_factory=dict)
    file_ids: list[str] = field(default_factory=list)
    reply_markup: JsonObject | None = None
    reply_to: MessageRecord | None = None
    edit_date: int | None = None
    edits: list[EditRecord] = field(default_factory=list)
    deleted: bool = False

    def fill(self, content: MessageContent) -> None:
        """Set the message's content."""
        self.text = content.text
        self.entities = content.entities
        self.caption = content.caption
        self.caption_entities = content.caption_entities
        self.media = content.media
        self.file_ids = content.file_ids

    @property
    def from_bot(self) -> bool:
        """True when the bot sent this message."""
        return self.sender.is_bot

    @property
    def inline_keyboard(self) -> list[list[JsonObject]]:
        """The rows of inline buttons currently shown under the message."""
        if self.reply_markup is None:
            return []
        rows = self.reply_markup.get("inline_keyboard")
        return rows if isinstance(rows, list) else []

    def to_json(self, *, with_reply: bool = True) -> JsonObject:
        """Build the Message object; a replied-to message is included one level deep."""
        message: JsonObject = {
            "message_id": self.message_id,
            "from": self.sender.to_json(),
            "chat": self.chat.to_json(),
            "date": self.date,
        }
        self._add_content(message)

        if self.reply_to is not None and with_reply:
            message["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        if "inline_keyboard" in (self.reply_markup or {}):
            message["reply_markup"] = self.reply_markup
        return message

    def _add_content(self, message: JsonObject) -> None:
        if self.text is not None:
            message["text"] = self.text
        if self.entities:
            message["entities"] = self.entities
        message.update(self.media)
        if self.caption is not None:
            message["caption"] = self.caption
        if self.caption_entities:
            message["caption_entities"] = self.caption_entities

    def to_control_json(self) -> JsonObject:
        """Build the control view: content, current markup, file ids and edit history."""
        return {
            "message_id": self.message_id,
            "date": self.date,
            "kind": self.kind,
            "text": self.text,
            "caption": self.caption,
            "entities": self.entities or self.caption_entities,
            "reply_markup": self.reply_markup,
            "reply_to_message_id": None if self.reply_to is None else self.reply_to.message_id,
            "file_ids": self.file_ids,
            "media": self.media,
            "edit_date": self.edit_date,
            "edits": [edit.to_json() for edit in self.edits],
        }


@dataclass
class CallbackQueryRecord:
    """A tap on an inline button and the bot's answer to it, once given."""

    query_id: str
    user: UserRecord
    message: MessageRecord
    data: str
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int = 0

    def to_json(self) -> JsonObject:
        """Build the CallbackQuery object."""
        return {
            "id": self.query_id,
            "from": self.user.to_json(),
            "message": self.message.to_json(),
            # Telegram sends an opaque global id of the chat here; any stable string will do.
            "chat_instance": f"local-{self.message.chat.chat_id}",
            "data": self.data,
        }

    def to_answer_json(self) -> JsonObject:
        """Build the control view of the answer."""
        return {
            "callback_query_id": self.query_id,
            "message_id": self.message.message_id,
            "data": self.data,
            "text": self.answer_text,
            "show_alert": self.show_alert,
            "url": self.url,
            "cache_time": self.cache_time,
        }


@dataclass(frozen=True)
class UpdateRecord:
    """An Update: its id, its type (the name of its one payload field) and the payload."""

    update_id: int
    update_type: str
    payload: JsonObject

    def to_json(self) -> JsonObject:
        """Build the Update object."""
        return {"update_id": self.update_id, self.update_type: self.payload}

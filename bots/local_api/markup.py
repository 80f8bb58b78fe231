"""Checks on the reply_markup a bot sends, as Telegram applies them.

Inline keyboards are checked button by button. Reply keyboards,
ReplyKeyboardRemove and ForceReply pass through as given.
"""

from __future__ import annotations

from typing import Any

from bots.local_api.errors import bad_request
from bots.local_api.models import JsonObject
from bots.local_api.params import Params

# A button's callback_data must be 1-64 bytes (Bot API, InlineKeyboardButton).
MAX_CALLBACK_DATA_BYTES = 64

_INLINE_ACTION_FIELDS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
_REPLY_MARKUP_KINDS = ("inline_keyboard", "keyboard", "remove_keyboard", "force_reply")
_PARSE_ERROR = "can't parse reply keyboard markup JSON object"


def read_reply_markup(params: Params) -> JsonObject | None:
    """Read and check the reply_markup parameter; None when it is absent."""
    markup = params.json_value("reply_markup", _PARSE_ERROR)
    if markup is None:
        return None

    if not isinstance(markup, dict) or not any(kind in markup for kind in _REPLY_MARKUP_KINDS):
        raise bad_request(_PARSE_ERROR)

    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    elif "keyboard" in markup:
        _check_rows(markup["keyboard"], 'field "keyboard" of the ReplyKeyboardMarkup')
    return markup


def _check_rows(rows: Any, where: str) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f"{where} must be an Array of Arrays")


def _check_inline_keyboard(rows: Any) -> None:
    _check_rows(rows, 'field "inline_keyboard" of the InlineKeyboardMarkup')

    for row in rows:
        for button in row:
            _check_inline_button(button)


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t find field "text"')

    if not _INLINE_ACTION_FIELDS & button.keys():
        raise bad_request("text buttons are unallowed in the inline keyboard")

    data = button.get("callback_data")
    if data is None:
        return

    size = len(str(data).encode("utf-8"))
    if size == 0 or size > MAX_CALLBACK_DATA_BYTES:
        raise bad_request("BUTTON_DATA_INVALID")


def find_button(rows: list[list[JsonObject]], data: str | None, text: str | None) -> JsonObject:
    """Return the callback button with this data or this text; raise LookupError if none."""
    for row in rows:
        for button in row:
            if "callback_data" not in button:
                continue
            if data is not None and button["callback_data"] == data:
                return button
            if text is not None and button.get("text") == text:
                return button
    raise LookupError("no such callback button")

"""Shared pieces of entity handling: UTF-16 lengths, bot commands, parse errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bots.local_api.errors import BotApiError, bad_request
from bots.local_api.models import JsonObject

_COMMAND_PATTERN = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")


def utf16_length(text: str) -> int:
    """Return the length of `text` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[JsonObject]:
    """Find "/command" and "/command@bot" words and mark them as bot_command entities."""
    entities: list[JsonObject] = []
    for match in _COMMAND_PATTERN.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_length(text[: match.start()]),
                "length": utf16_length(match.group()),
            }
        )
    return entities


def entity_error(reason: str) -> BotApiError:
    """Build the 400 error for malformed markup."""
    return bad_request(f"can't parse entities: {reason}")


def byte_offset(text: str, index: int) -> int:
    """Return the UTF-8 byte offset of a character index, the unit of parse errors."""
    return len(text[:index].encode("utf-8"))


@dataclass
class OpenEntity:
    """An entity whose closing tag or marker has not been read yet."""

    name: str
    start: int
    source_index: int
    attributes: dict[str, str] = field(default_factory=dict)

"""parse_mode for bot text: HTML here, Markdown and MarkdownV2 in markdown_text.

Telegram turns formatted text into plain text plus entities, measured in
UTF-16 code units, and rejects malformed markup with 400 "can't parse
entities". The rules follow the Bot API "Formatting options" section.
NOTE: the error texts after "can't parse entities: " imitate tdlib's from
memory and were not checked against its source.
"""

from __future__ import annotations

import html
import re

from bots.local_api.entities import OpenEntity, byte_offset, entity_error, utf16_length
from bots.local_api.errors import bad_request
from bots.local_api.markdown_text import MarkdownParser
from bots.local_api.models import JsonObject

_HTML_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_HTML_ATTRIBUTE_PATTERN = re.compile(
    r'([a-zA-Z_-]+)(?:\s*=\s*(?:"([^"]*)"|\'([^\']*)\'|([^\s>]+)))?'
)


def parse_formatted(text: str, parse_mode: str | None) -> tuple[str, list[JsonObject]]:
    """Apply parse_mode to bot text; return the plain text and its entities."""
    mode = (parse_mode or "").strip().lower()
    if mode == "":
        return text, []
    if mode == "html":
        return _HtmlParser(text).parse()
    if mode == "markdownv2":
        return MarkdownParser(text, version=2).parse()
    if mode == "markdown":
        return MarkdownParser(text, version=1).parse()
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


class _HtmlParser:
    """Telegram's HTML subset: known tags only, &lt; &gt; &amp; &quot; and numeric entities."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._index = 0
        self._output: list[str] = []
        self._length = 0
        self._stack: list[OpenEntity] = []
        self._entities: list[JsonObject] = []

    def parse(self) -> tuple[str, list[JsonObject]]:
        while self._index < len(self._text):
            char = self._text[self._index]
            if char == "<":
                self._read_tag()
            elif char == "&":
                self._read_character_reference()
            else:
                self._emit(char)
                self._index += 1

        if self._stack:
            name = self._stack[-1].name
            raise entity_error(f'Can\'t find end tag corresponding to start tag "{name}"')

        self._entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self._output), self._entities

    def _emit(self, chunk: str) -> None:
        self._output.append(chunk)
        self._length += utf16_length(chunk)

    def _read_character_reference(self) -> None:
        match = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);").match(self._text, self._index)
        if match is None:
            # tdlib keeps an ampersand that starts no known reference as a literal character.
            self._emit("&")
            self._index += 1
            return

        self._emit(html.unescape(match.group()))
        self._index = match.end()

    def _read_tag(self) -> None:
        end = self._text.find(">", self._index)
        if end < 0:
            offset = byte_offset(self._text, self._index)
            raise entity_error(f"Unclosed start tag at byte offset {offset}")

        body = self._text[self._index + 1 : end]
        if body.startswith("/"):
            self._close_tag(body[1:].strip().lower())
        else:
            self._open_tag(body)
        self._index = end + 1

    def _open_tag(self, body: str) -> None:
        name, _, rest = body.strip().partition(" ")
        name = name.lower()
        attributes = {
            match.group(1).lower(): next((g for g in match.groups()[1:] if g is not None), "")
            for match in _HTML_ATTRIBUTE_PATTERN.finditer(rest)
        }

        if name not in _HTML_TAG_TYPES or (
            name == "span" and attributes.get("class") != "tg-spoiler"
        ):
            offset = byte_offset(self._text, self._index)
            raise entity_error(f'Unsupported start tag "{name}" at byte offset {offset}')

        self._stack.append(OpenEntity(name, self._length, self._index, attributes))

    def _close_tag(self, name: str) -> None:
        offset = byte_offset(self._text, self._index)
        if not self._stack:
            raise entity_error(f"Unexpected end tag at byte offset {offset}")

        opened = self._stack.pop()
        if opened.name != name:
            raise entity_error(
                f'Unmatched end tag at byte offset {offset}, expected "</{opened.name}>", '
                f'found "</{name}>"'
            )

        self._add_entity(opened)

    def _add_entity(self, opened: OpenEntity) -> None:
        length = self._length - opened.start
        if length == 0:
            return

        entity: JsonObject = {
            "type": _HTML_TAG_TYPES[opened.name],
            "offset": opened.start,
            "length": length,
        }
        if opened.name == "a":
            entity["url"] = opened.attributes.get("href", "")
        if opened.name == "tg-emoji":
            entity["custom_emoji_id"] = opened.attributes.get("emoji-id", "")
        if opened.name == "blockquote" and "expandable" in opened.attributes:
            entity["type"] = "expandable_blockquote"
        self._entities.append(entity)

"""MarkdownV2 and legacy Markdown parse modes, turned into plain text and entities."""

from __future__ import annotations

from bots.local_api.entities import OpenEntity, byte_offset, entity_error, utf16_length
from bots.local_api.models import JsonObject

_MARKDOWN_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MARKDOWN_V2_TYPES = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
    "`": "code",
    "```": "pre",
    "[": "text_link",
}
_MARKDOWN_V1_TYPES = {"*": "bold", "_": "italic", "`": "code", "```": "pre", "[": "text_link"}


class MarkdownParser:
    """MarkdownV2 (version 2) or legacy Markdown (version 1).

    NOTE: ">" blockquotes and custom emoji links are not parsed, so MarkdownV2
    text that starts a line with an unescaped ">" is rejected here although
    Telegram accepts it. The language line of a ``` block stays in the text.
    """

    def __init__(self, text: str, *, version: int) -> None:
        self._text = text
        self._version = version
        self._types = _MARKDOWN_V2_TYPES if version == 2 else _MARKDOWN_V1_TYPES
        self._index = 0
        self._output: list[str] = []
        self._length = 0
        self._stack: list[OpenEntity] = []
        self._entities: list[JsonObject] = []

    def parse(self) -> tuple[str, list[JsonObject]]:
        while self._index < len(self._text):
            self._step()

        if self._stack:
            offset = byte_offset(self._text, self._stack[-1].source_index)
            raise entity_error(f"Can't find end of the entity starting at byte offset {offset}")

        self._entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self._output), self._entities

    def _step(self) -> None:
        char = self._text[self._index]
        in_code = bool(self._stack) and self._stack[-1].name in {"`", "```"}

        if char == "\\" and self._index + 1 < len(self._text):
            self._emit(self._text[self._index + 1])
            self._index += 2
        elif in_code and not self._text.startswith(self._stack[-1].name, self._index):
            self._emit(char)
            self._index += 1
        elif char == "]" and self._stack and self._stack[-1].name == "[":
            self._close_link()
        else:
            self._step_marker(char)

    def _step_marker(self, char: str) -> None:
        marker = self._marker_at(self._index)
        if marker is not None:
            self._toggle(marker)
            return

        if self._version == 2 and char in _MARKDOWN_V2_RESERVED:
            raise entity_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )

        self._emit(char)
        self._index += 1

    def _marker_at(self, index: int) -> str | None:
        for marker in sorted(self._types, key=len, reverse=True):
            if self._text.startswith(marker, index):
                return marker
        return None

    def _emit(self, chunk: str) -> None:
        self._output.append(chunk)
        self._length += utf16_length(chunk)

    def _toggle(self, marker: str) -> None:
        if self._stack and self._stack[-1].name == marker:
            self._add_entity(self._stack.pop(), self._types[marker])
        elif any(opened.name == marker for opened in self._stack):
            offset = byte_offset(self._text, self._stack[-1].source_index)
            raise entity_error(f"Can't find end of the entity starting at byte offset {offset}")
        else:
            self._stack.append(OpenEntity(marker, self._length, self._index))
        self._index += len(marker)

    def _close_link(self) -> None:
        opened = self._stack.pop()
        url_start = self._index + 1
        if not self._text.startswith("(", url_start):
            offset = byte_offset(self._text, opened.source_index)
            raise entity_error(f"Can't find end of the entity starting at byte offset {offset}")

        url, url_end = self._read_url(url_start + 1)
        self._add_entity(opened, "text_link", url=url)
        self._index = url_end + 1

    def _read_url(self, start: int) -> tuple[str, int]:
        """Read a link URL up to its ")"; inside it "\\" escapes ")" and "\\"."""
        chars: list[str] = []
        index = start
        while index < len(self._text):
            char = self._text[index]
            if char == ")":
                return "".join(chars), index
            if char == "\\" and index + 1 < len(self._text):
                index += 1
                char = self._text[index]
            chars.append(char)
            index += 1

        offset = byte_offset(self._text, start)
        raise entity_error(f"Can't find end of a URL at byte offset {offset}")

    def _add_entity(self, opened: OpenEntity, entity_type: str, url: str | None = None) -> None:
        length = self._length - opened.start
        if length == 0:
            return

        entity: JsonObject = {"type": entity_type, "offset": opened.start, "length": length}
        if url is not None:
            entity["url"] = url
        self._entities.append(entity)

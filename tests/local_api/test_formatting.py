"""Entity parsing: bot commands, HTML and MarkdownV2 as Telegram applies them."""

from __future__ import annotations

import pytest

from bots.local_api.entities import command_entities, utf16_length
from bots.local_api.errors import BotApiError
from bots.local_api.formatting import parse_formatted


def test_utf16_length_counts_surrogate_pairs() -> None:
    assert utf16_length("任务") == 2
    assert utf16_length("👍") == 2


def test_command_entities_with_bot_name() -> None:
    entities = command_entities("/help@griddispatch_local_bot now")

    assert entities == [{"type": "bot_command", "offset": 0, "length": 28}]


def test_command_entities_skip_paths() -> None:
    assert command_entities("see a/b or /usr/bin") == []


def test_html_nested_tags_and_link() -> None:
    text, entities = parse_formatted(
        '<b>任务 <i>7</i></b> <a href="https://example.org/t/7">详情</a>', "HTML"
    )

    assert text == "任务 7 详情"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "italic", "offset": 3, "length": 1},
        {"type": "text_link", "offset": 5, "length": 2, "url": "https://example.org/t/7"},
    ]


def test_html_offsets_in_utf16_units() -> None:
    text, entities = parse_formatted("👍 <b>ok</b>", "HTML")

    assert text == "👍 ok"
    assert entities == [{"type": "bold", "offset": 3, "length": 2}]


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", "Unmatched end tag"),
        ("x</b>", "Unexpected end tag"),
        ("a <br> b", 'Unsupported start tag "br"'),
        ("a <b", "Unclosed start tag"),
    ],
)
def test_html_errors(markup: str, reason: str) -> None:
    with pytest.raises(BotApiError) as caught:
        parse_formatted(markup, "HTML")

    assert caught.value.status == 400
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")
    assert reason in caught.value.description


def test_html_bare_ampersand_kept() -> None:
    assert parse_formatted("A & B", "HTML") == ("A & B", [])


def test_markdown_v2_entities_and_escapes() -> None:
    text, entities = parse_formatted(
        r"*任务* 7 \- [详情](https://example.org/t\(7\))", "MarkdownV2"
    )

    assert text == "任务 7 - 详情"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 7, "length": 2, "url": "https://example.org/t(7)"},
    ]


def test_markdown_v2_unclosed_entity() -> None:
    with pytest.raises(BotApiError, match="Can't find end of the entity"):
        parse_formatted("*bold", "MarkdownV2")


def test_markdown_v2_code_keeps_reserved() -> None:
    assert parse_formatted("`a.b-c`", "MarkdownV2") == (
        "a.b-c",
        [{"type": "code", "offset": 0, "length": 5}],
    )


def test_legacy_markdown_allows_dots() -> None:
    assert parse_formatted("*Done.*", "Markdown") == (
        "Done.",
        [{"type": "bold", "offset": 0, "length": 5}],
    )


def test_unknown_parse_mode_rejected() -> None:
    with pytest.raises(BotApiError, match="unsupported parse_mode"):
        parse_formatted("x", "BBCode")

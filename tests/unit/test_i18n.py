"""The translation catalogs cover every user-facing message."""

import re
import string

import pytest
from babel.messages.pofile import read_po

from griddispatch.i18n import ENGLISH, LOCALES_DIR, gettext, locale_for

TEMPLATE = LOCALES_DIR / "griddispatch.pot"
CHINESE = LOCALES_DIR / "zh_CN" / "LC_MESSAGES" / "griddispatch.po"


def _message_ids() -> list[str]:
    with TEMPLATE.open("rb") as handle:
        return [str(message.id) for message in read_po(handle) if message.id]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _chinese_catalog() -> dict[str, str]:
    with CHINESE.open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale="zh_CN") if m.id}


def test_template_is_not_empty() -> None:
    assert len(_message_ids()) > 20


@pytest.mark.parametrize("message_id", _message_ids())
def test_chinese_translation_exists(message_id: str) -> None:
    translation = _chinese_catalog().get(message_id, "")

    assert translation, f"no zh_CN translation for {message_id!r}; run scripts/extract-messages"
    assert _placeholders(translation) == _placeholders(message_id)
    words = re.sub(r"\{[a-z_]+\}", "", message_id)
    if re.search(r"[A-Za-z]", words):
        assert re.search(r"[\u4e00-\u9fff]", translation), f"{translation!r} has no Chinese"


def test_chinese_is_the_default() -> None:
    assert gettext("Acknowledge") == "签收"
    assert gettext("Cannot carry out") == "无法执行"


def test_english_for_english_telegram_users() -> None:
    assert locale_for("en") == ENGLISH
    assert locale_for("en-GB") == ENGLISH
    assert gettext("Acknowledge", locale_for("en")) == "Acknowledge"
    assert locale_for("zh-hans") != ENGLISH
    assert locale_for(None) != ENGLISH


def test_placeholders_are_filled() -> None:
    assert gettext("State: {state}", state="已签收") == "状态：已签收"

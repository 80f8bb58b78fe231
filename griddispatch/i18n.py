"""Translation catalogs for everything users read (bot, console, CLI output for users).

Message ids are English sentences; `locales/<locale>/LC_MESSAGES/griddispatch.po`
holds the translations, read with Babel at first use, so no compiled `.mo`
files are kept. Simplified Chinese is the default locale.
"""

import functools
import logging
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "griddispatch"
DEFAULT_LOCALE = "zh_CN"
ENGLISH = "en"


def locale_for(language_code: str | None) -> str:
    """Pick the catalog for a Telegram `language_code`: English for "en*", else Chinese."""
    if language_code and language_code.lower().startswith("en"):
        return ENGLISH
    return DEFAULT_LOCALE


@functools.cache
def _catalog(locale: str) -> dict[str, str]:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        log.warning("translation catalog missing locale=%s path=%s", locale, path)
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }


def gettext(message: str, locale: str = DEFAULT_LOCALE, /, **values: Any) -> str:
    """Translate `message` into `locale` and fill in `{name}` placeholders from `values`.

    A message missing from the catalog falls back to the English text.
    """
    translated = _catalog(locale).get(message, message)
    return translated.format(**values) if values else translated


class Translator:
    """`gettext` bound to one locale."""

    def __init__(self, locale: str = DEFAULT_LOCALE) -> None:
        self.locale = locale

    def __call__(self, message: str, /, **values: Any) -> str:
        return gettext(message, self.locale, **values)


class Phrase(str):
    """A message value translated along with its message.

    The text is what English output shows. `message_id` is the catalog entry, by
    default the text itself, so a stored code such as "cancelled" can show as its
    label "Cancelled" (已撤销) in translated output.
    """

    message_id: str

    def __new__(cls, text: str, message_id: str | None = None) -> "Phrase":
        phrase = super().__new__(cls, text)
        phrase.message_id = message_id if message_id is not None else text
        return phrase


class Phrases(str):
    """Several phrases given as one value: English joins them with commas."""

    phrases: tuple[Phrase, ...]

    def __new__(cls, phrases: list[Phrase]) -> "Phrases":
        joined = super().__new__(cls, ", ".join(phrases))
        joined.phrases = tuple(phrases)
        return joined


def translate_value(value: Any, locale: str) -> Any:
    """Return a message value in `locale`: phrases translated, anything else as it is."""
    if isinstance(value, Phrases):
        separator = "、" if locale == DEFAULT_LOCALE else ", "
        return separator.join(gettext(phrase.message_id, locale) for phrase in value.phrases)
    if isinstance(value, Phrase):
        return gettext(value.message_id, locale)
    return value


def mark(message: str) -> Phrase:
    """Mark a message for extraction into the catalogs without translating it yet."""
    return Phrase(message)

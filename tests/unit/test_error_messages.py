"""Project errors carry literal message templates, and the catalogs hold every one."""

import ast
import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from griddispatch.errors import GridDispatchError, NotFoundError, localized
from griddispatch.i18n import ENGLISH, LOCALES_DIR, mark

ROOT = Path(__file__).resolve().parents[2]
EXTRACT_SCRIPT = ROOT / "scripts" / "extract-messages"
SOURCE_DIRS = ("griddispatch", "bots", "dispatcher", "workers", "storage")
# The local Bot API server imitates Telegram, whose error texts are English.
SIMULATOR = ROOT / "bots" / "local_api"


def _keywords() -> dict[str, tuple[int, ...] | None]:
    """Return the extractor's keywords as scripts/extract-messages passes them."""
    keywords: dict[str, tuple[int, ...] | None] = dict(DEFAULT_KEYWORDS)  # type: ignore[arg-type]
    for name, position in re.findall(r"-k (\w+)(?::(\d+))?", EXTRACT_SCRIPT.read_text()):
        keywords[name] = (int(position),) if position else None
    return keywords


def _template_index(keyword: str, keywords: dict[str, tuple[int, ...] | None]) -> int:
    spec = keywords[keyword]
    return spec[0] - 1 if spec else 0


def _non_literal_templates() -> list[str]:
    """Return `file:line` of each project error built from anything but a string literal."""
    keywords = _keywords()
    errors = {name for name in keywords if name.endswith("Error")}
    found = []
    for folder in SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if SIMULATOR in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                    continue
                if node.func.id not in errors:
                    continue
                index = _template_index(node.func.id, keywords)
                if len(node.args) <= index:
                    continue
                template = node.args[index]
                if not (isinstance(template, ast.Constant) and isinstance(template.value, str)):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _extracted_messages() -> set[str]:
    keywords = _keywords()
    messages: set[str] = set()
    for folder in SOURCE_DIRS:
        for _, _, message, _, _ in extract_from_dir(ROOT / folder, keywords=keywords):
            messages.add(message if isinstance(message, str) else message[0])
    return messages


def _template_messages() -> set[str]:
    with (LOCALES_DIR / "griddispatch.pot").open("rb") as handle:
        return {str(message.id) for message in read_po(handle) if message.id}


def test_errors_use_literal_templates() -> None:
    assert _non_literal_templates() == []


def test_catalog_holds_every_message() -> None:
    missing = sorted(_extracted_messages() - _template_messages() - {""})

    assert missing == [], "run scripts/extract-messages and translate the new entries"


def test_error_text_is_english() -> None:
    error = NotFoundError("inspector {code!r} not found; check the staff code", code="JG9999")

    assert str(error) == "inspector 'JG9999' not found; check the staff code"
    assert error.localized(ENGLISH) == str(error)


def test_error_localized_to_chinese() -> None:
    error = NotFoundError("inspector {code!r} not found; check the staff code", code="JG9999")

    assert error.localized("zh_CN") == "未找到监管员 'JG9999'；请核对工号"


def test_marked_values_translated_too() -> None:
    error = NotFoundError(
        "{record_kind} {text!r} not found; check the value", record_kind=mark("task"), text="x1"
    )

    assert error.localized("zh_CN") == "未找到任务 'x1'；请核对该值"
    assert str(error) == "task 'x1' not found; check the value"


def test_unknown_template_stays_english() -> None:
    error = GridDispatchError("no catalog has {what}", what="this")

    assert error.localized("zh_CN") == "no catalog has this"


def test_other_exceptions_stay_as_they_are() -> None:
    assert localized(ValueError("bad value"), "zh_CN") == "bad value"

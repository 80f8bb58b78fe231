"""Project errors carry literal message templates, and the catalogs hold every one."""

import ast
import re
from pathlib import Path

import pydantic
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from griddispatch.errors import (
    ErrorList,
    GridDispatchError,
    IllegalTransitionError,
    InvalidValue,
    NotFoundError,
    ValidationError,
    localized,
)
from griddispatch.i18n import ENGLISH, LOCALES_DIR, mark
from storage.tasks.states import TaskAction, next_state

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


def _error_classes(keywords: dict[str, tuple[int, ...] | None]) -> set[str]:
    """Return the script's keywords beyond babel's defaults and mark(): the error classes."""
    return set(keywords) - set(DEFAULT_KEYWORDS) - {"mark"}


def _non_literal_templates() -> list[str]:
    """Return `file:line` of each project error built from anything but a string literal."""
    keywords = _keywords()
    errors = _error_classes(keywords)
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


def test_every_error_class_checked() -> None:
    classes = _error_classes(_keywords())

    assert "InvalidValue" in classes
    assert "ApiError" in classes
    assert "ValidationError" in classes
    assert "_" not in classes


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


STAFF_CODE_NOT_FOUND = "inspector {code!r} not found; check the staff code"


def test_nested_error_localized() -> None:
    inner = NotFoundError(STAFF_CODE_NOT_FOUND, code="JG9999")
    error = GridDispatchError(
        "{error}, because role {role} belongs to a {level}",
        error=inner,
        role=mark("grid_leader"),
        level=mark("grid"),
    )

    assert str(error) == (
        "inspector 'JG9999' not found; check the staff code, because role grid_leader "
        "belongs to a grid"
    )
    assert error.localized("zh_CN") == (
        "未找到监管员 'JG9999'；请核对工号，因为角色为网格长，所属区划应为网格"
    )


def test_error_list_joins_by_language() -> None:
    errors = ErrorList(
        [
            NotFoundError(STAFF_CODE_NOT_FOUND, code="JG9998"),
            NotFoundError(STAFF_CODE_NOT_FOUND, code="JG9999"),
        ]
    )

    assert str(errors) == (
        "inspector 'JG9998' not found; check the staff code; "
        "inspector 'JG9999' not found; check the staff code"
    )
    assert errors.localized(ENGLISH) == str(errors)
    assert (
        errors.localized("zh_CN")
        == "未找到监管员 'JG9998'；请核对工号；未找到监管员 'JG9999'；请核对工号"
    )


def test_error_list_nested_in_error() -> None:
    errors = ErrorList([ValidationError("{field} is missing", field="name")] * 2)
    error = GridDispatchError(
        "{error}, because role {role} belongs to a {level}", error=errors, role="x", level="y"
    )

    assert error.localized("zh_CN").startswith("缺少 name；缺少 name，")


class _Row(pydantic.BaseModel):
    code: str

    @pydantic.field_validator("code")
    @classmethod
    def _check_code(cls, value: str) -> str:
        raise InvalidValue(
            '{label} "{value}" is invalid: it must contain only digits', label="code", value=value
        )


def test_pydantic_keeps_invalid_value() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        _Row(code="x1")

    cause = caught.value.errors()[0]["ctx"]["error"]
    assert isinstance(cause, InvalidValue)
    assert cause.values == {"label": "code", "value": "x1"}
    assert cause.localized("zh_CN") == "code“x1”无效：只能包含数字"


def test_state_codes_shown_as_labels() -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        next_state("new", TaskAction.SUBMIT)

    assert str(raised.value) == (
        "cannot submit a task that is new; allowed from new: acknowledge, cancel, decline, reassign"
    )
    assert raised.value.localized("zh_CN") == (
        "任务状态为“待签收”，不能执行“提交结果”；“待签收”状态下可执行：签收、撤销、无法执行、改派"
    )

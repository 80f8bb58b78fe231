"""The `griddispatch` command as a user runs it, with its data folder in tmp_path.

`main` calls `asyncio.run` itself, so the async tests run it in a worker
thread. The database is the `database_url` fixture's, so the commands run on
SQLite and, when configured, on PostgreSQL.
"""

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dispatcher.cli.main import main
from griddispatch.messages import DirectiveMessage, TargetKind
from storage.db import Database
from storage.directives.service import Accepted
from storage.registry.models import Subject
from storage.registry.service import import_files
from tests.storage.support import (
    GRID,
    directive,
    issue_directive,
    small_registry_subjects,
    write_csv,
    write_small_registry,
)

CHINESE_HEADER = "编号 | 状态 | 承办监管员 | 签收期限（北京时间） | 标题"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo the handlers and levels that `main` sets through configure_logging."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level = root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, restore_logging: None
) -> str:
    """Point the command at tmp_path and the test database, in the default locale."""
    monkeypatch.setenv("GRIDDISPATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDDISPATCH_DATABASE_URL", database_url)
    monkeypatch.delenv("GRIDDISPATCH_LOCALE", raising=False)
    monkeypatch.delenv("GRIDDISPATCH_NATS_URL", raising=False)
    return database_url


async def _run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def _subjects_with_bad_line_3(folder: Path) -> tuple[Path, list[list[str]], str]:
    """Write three subjects whose second row (line 3) has a wrong check character."""
    header, rows = small_registry_subjects()
    chosen = [list(row) for row in rows[:3]]
    valid = chosen[1][0]
    bad = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    chosen[1][0] = bad
    return write_csv(folder / "subjects.csv", header, chosen), chosen, valid[-1]


async def test_registry_import_bad_line(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = tmp_path / "upload"
    upload.mkdir()
    divisions, inspectors = write_small_registry(upload)
    subjects, rows, check_character = _subjects_with_bad_line_3(upload)
    bad_code = rows[1][0]

    exit_code = await _run("registry", "import", str(divisions), str(inspectors), str(subjects))

    output = capsys.readouterr().out
    assert exit_code == 1
    assert (
        f"{subjects}:3: 统一社会信用代码“{bad_code}”无效：校验码应为 {check_character}；"
        "请对照营业执照核对代码"
    ) in output
    assert f"{subjects}：生产经营主体名录，新增 2，更新 0，未变 0，拒绝 1" in output
    db = Database(cli_env)
    try:
        async with db.reading() as session:
            stored = set(await session.scalars(select(Subject.credit_code)))
    finally:
        await db.dispose()
    assert stored == {rows[0][0], rows[2][0]}


async def test_registry_import_reason_in_english(
    cli_env: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GRIDDISPATCH_LOCALE", "en")
    divisions, inspectors = write_small_registry(tmp_path)
    subjects, rows, check_character = _subjects_with_bad_line_3(tmp_path)

    exit_code = await _run("registry", "import", str(divisions), str(inspectors), str(subjects))

    output = capsys.readouterr().out
    assert exit_code == 1
    assert (
        f'{subjects}:3: credit code "{rows[1][0]}" is invalid: '
        f"check character should be {check_character}; check the code against the business "
        "licence"
    ) in output


async def test_registry_import_clean(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    divisions, inspectors = write_small_registry(tmp_path)

    exit_code = await _run("registry", "import", str(divisions), str(inspectors))

    output = capsys.readouterr().out
    assert exit_code == 0
    assert f"{divisions}：区划名录，新增 6，更新 0，未变 0，拒绝 0" in output


async def test_invite_unknown_inspector(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = await _run("inspectors", "invite", "UNKNOWN")

    captured = capsys.readouterr()
    assert exit_code == 1
    assert captured.err.startswith("错误：")
    assert "'UNKNOWN'" in captured.err
    assert captured.out == ""


async def test_directive_bad_ack_within(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = await _run(
        "directive", "send", "--grid", GRID, "--title", "春季农药专项检查", "--ack-within", "5x"
    )

    captured = capsys.readouterr()
    assert exit_code == 1
    assert captured.err.startswith("错误：")
    assert "'5x'" in captured.err
    assert captured.out == ""


async def test_tasks_empty(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = await _run("tasks")

    assert exit_code == 0
    assert capsys.readouterr().out.splitlines() == [CHINESE_HEADER, "共 0 个任务"]


async def test_tasks_english(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRIDDISPATCH_LOCALE", "en")

    exit_code = await _run("tasks")

    assert exit_code == 0
    assert capsys.readouterr().out.splitlines() == [
        "ID | State | Assignee | Acknowledge by (China time) | Title",
        "0 tasks",
    ]


async def _directive_to_jg0010(
    database_url: str, folder: Path, message_id: str
) -> tuple[DirectiveMessage, Accepted]:
    """Import the small registry, issue one directive to JG0010, and return it with its outcome."""
    message = directive(message_id, TargetKind.INSPECTOR, "JG0010")
    db = Database(database_url)
    try:
        await import_files(db, write_small_registry(folder))
        return message, await issue_directive(db, message)
    finally:
        await db.dispose()


async def test_tasks_lists_task(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message, accepted = await _directive_to_jg0010(cli_env, tmp_path, "d-cli")

    exit_code = await _run("tasks")

    lines = capsys.readouterr().out.splitlines()
    assert exit_code == 0
    assert lines[0] == CHINESE_HEADER
    # The deadline is START plus one hour, shown in China Standard Time.
    assert lines[1] == (
        f"#{accepted.task_ids[0]} | 待签收 | 卢正强 (JG0010) | 2026-03-02 10:00 | {message.title}"
    )
    assert lines[2] == "共 1 个任务"


async def test_task_trail_in_china_time(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, accepted = await _directive_to_jg0010(cli_env, tmp_path, "d-trail")

    exit_code = await _run("task", "show", str(accepted.task_ids[0]))

    output = capsys.readouterr().out
    assert exit_code == 0
    # The "created" entry stores its deadlines in UTC. START plus one hour is 10:00 in China.
    assert "ack_due_at=2026-03-02 10:00" in output
    assert "+00:00" not in output


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRIDDISPATCH_TOKEN_CACHE_S", "999"),
        ("GRIDDISPATCH_DISPATCH_BATCH", "abc"),
        ("GRIDDISPATCH_LOCALE", "fr"),
    ],
)
async def test_invalid_setting_named(
    cli_env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)

    exit_code = await _run("tasks")

    captured = capsys.readouterr()
    assert exit_code == 1
    assert captured.err.startswith("错误：")
    assert variable in captured.err
    assert value in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""

"""The registry over HTTP: file imports with rejected rows, listings and invite codes."""

import csv
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.registry.models import Division, Inspector, Invite, Subject
from tests.api.support import Client, Reply
from tests.storage.support import (
    GRID,
    GRID_INSPECTORS,
    SECOND_GRID,
    TOWNSHIP,
    count_rows,
    import_small_registry,
    small_registry_subjects,
    write_csv,
    write_small_registry,
)

UNKNOWN_GRID = "150602999999"


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    return header, rows


def _files_with_bad_rows(folder: Path) -> tuple[list[Path], list[list[str]], list[list[str]]]:
    """Write the small registry with line 3 of inspectors.csv naming an unknown division.

    Returns the three files, the inspector rows and the subject rows as written.
    """
    divisions, inspectors = write_small_registry(folder)
    header, rows = _rows(inspectors)
    rows[1][4] = UNKNOWN_GRID
    write_csv(inspectors, header, rows)
    subject_header, subject_rows = small_registry_subjects()
    subjects = write_csv(folder / "subjects.csv", subject_header, subject_rows)
    return [subjects, inspectors, divisions], rows, subject_rows


async def _upload(
    api: Client, paths: list[Path], *, token: str = "centre", language: str = "en"
) -> Reply:
    form = aiohttp.FormData()
    for path in paths:
        form.add_field("files", path.read_bytes(), filename=path.name, content_type="text/csv")
    return await api.post("/registry/import", data=form, token=token, language=language)


async def test_import_reports_bad_row_by_file_and_line(
    api: Client, db: Database, tmp_path: Path
) -> None:
    paths, inspector_rows, subject_rows = _files_with_bad_rows(tmp_path)

    reply = await _upload(api, paths)

    assert reply.status == 200
    files = reply.data["files"]
    assert [(report["file"], report["kind"]) for report in files] == [
        ("divisions.csv", "divisions"),
        ("inspectors.csv", "inspectors"),
        ("subjects.csv", "subjects"),
    ]
    inspectors = files[1]
    assert inspectors["inserted"] == len(inspector_rows) - 1
    assert len(inspectors["errors"]) == 1
    error = inspectors["errors"][0]
    assert (error["file"], error["line"]) == ("inspectors.csv", 3)
    assert UNKNOWN_GRID in error["reason"]
    assert reply.data["rejected_rows"] == 1 + len(files[2]["errors"])
    assert await count_rows(db, Inspector) == len(inspector_rows) - 1
    assert await count_rows(db, Subject) == files[2]["inserted"]
    assert files[2]["inserted"] + len(files[2]["errors"]) == len(subject_rows)


async def test_import_reasons_in_requested_language(api: Client, tmp_path: Path) -> None:
    paths, _, _ = _files_with_bad_rows(tmp_path)
    inspectors = paths[1]
    header, rows = _rows(inspectors)
    rows[2][2] = "1381234567"
    write_csv(inspectors, header, rows)

    reply = await _upload(api, paths, language="zh-CN,zh;q=0.9")

    assert reply.status == 200
    errors = sorted(reply.data["files"][1]["errors"], key=lambda error: error["line"])
    assert [(error["file"], error["line"]) for error in errors] == [
        ("inspectors.csv", 3),
        ("inspectors.csv", 4),
    ]
    assert errors[0]["reason"] == (f"未找到区划代码 '{UNKNOWN_GRID}'；请先导入区划文件或更正代码")
    assert errors[1]["reason"] == (
        "phone“138***4567”无效：应为以 13–19 开头的 11 位中国大陆手机号码，实为 10 位"
    )


async def test_import_reasons_english_by_default(api: Client, tmp_path: Path) -> None:
    paths, _, _ = _files_with_bad_rows(tmp_path)

    reply = await _upload(api, paths)

    error = reply.data["files"][1]["errors"][0]
    assert error["reason"] == (
        f"division code '{UNKNOWN_GRID}' not found; "
        "import the divisions file first or correct the code"
    )


async def test_import_again_changes_nothing(api: Client, tmp_path: Path) -> None:
    paths = write_small_registry(tmp_path)
    await _upload(api, paths)

    again = await _upload(api, paths)

    assert again.status == 200
    for report in again.data["files"]:
        assert (report["inserted"], report["updated"]) == (0, 0)
        assert report["unchanged"] > 0


async def test_import_unusable_file_names_it(api: Client, db: Database, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("这不是登记表", encoding="utf-8")
    divisions = write_small_registry(tmp_path)[0]

    reply = await _upload(api, [divisions, notes])

    assert reply.status == 422
    assert reply.error_code == "invalid_file"
    assert "notes.txt" in reply.data["error"]["message"]
    assert str(tmp_path) not in reply.data["error"]["message"]
    assert "griddispatch-import-" not in reply.data["error"]["message"]
    assert await count_rows(db, Division) == 0


async def test_import_needs_multipart(api: Client) -> None:
    reply = await api.post("/registry/import", json={"files": []})

    assert reply.status == 415
    assert reply.error_code == "unsupported_media_type"


async def test_import_needs_a_file(api: Client) -> None:
    only_text = aiohttp.FormData(default_to_multipart=True)
    only_text.add_field("comment", "no files here")

    reply = await api.post("/registry/import", data=only_text)

    assert reply.status == 422
    assert reply.data["error"]["field"] == "comment"


async def test_import_needs_command_centre_scope(api: Client, tmp_path: Path) -> None:
    reply = await _upload(api, write_small_registry(tmp_path), token="reader")

    assert reply.status == 403
    assert reply.error_code == "insufficient_scope"


@pytest.fixture
async def registry(api: Client, db: Database, tmp_path: Path) -> Database:
    """The small registry with the subjects of its two example grids."""
    await import_small_registry(db, tmp_path)
    header, rows = small_registry_subjects()
    reply = await _upload(api, [write_csv(tmp_path / "subjects.csv", header, rows)])
    assert reply.data["rejected_rows"] == 0
    return db


async def test_divisions_by_level_and_parent(api: Client, registry: Database) -> None:
    grids = await api.get("/divisions", params={"level": "grid"}, token="reader")
    children = await api.get("/divisions", params={"parent": TOWNSHIP}, token="reader")

    assert grids.status == 200
    async with registry.reading() as session:
        expected = sorted(
            await session.scalars(select(Division.code).where(Division.level == "grid"))
        )
    assert [item["code"] for item in grids.data["items"]] == expected
    assert {item["parent_code"] for item in children.data["items"]} == {TOWNSHIP}
    assert GRID in [item["code"] for item in children.data["items"]]


async def test_inspectors_have_masked_phones(api: Client, registry: Database) -> None:
    reply = await api.get("/inspectors", params={"division": GRID, "limit": "200"})

    assert reply.status == 200
    async with registry.reading() as session:
        staff = list(
            await session.scalars(
                select(Inspector).where(Inspector.division_code == GRID).order_by(Inspector.code)
            )
        )
    assert [item["code"] for item in reply.data["items"]] == [person.code for person in staff]
    for item, person in zip(reply.data["items"], staff, strict=True):
        if person.phone:
            assert person.phone not in reply.body.decode()
            assert item["phone"] == person.phone[:3] + "****" + person.phone[-4:]
    assert set(GRID_INSPECTORS) <= {item["code"] for item in reply.data["items"]}


async def test_subjects_paged_by_division(api: Client, registry: Database) -> None:
    async with registry.reading() as session:
        in_grid = list(
            await session.scalars(
                select(Subject.id).where(Subject.grid_code == SECOND_GRID).order_by(Subject.id)
            )
        )

    first = await api.get("/subjects", params={"division": SECOND_GRID, "limit": "2"})
    rest = await api.get(
        "/subjects", params={"division": SECOND_GRID, "limit": "200", "offset": "2"}
    )

    assert first.data["total"] == len(in_grid)
    assert [item["id"] for item in first.data["items"] + rest.data["items"]] == in_grid


async def test_unknown_division_filter_is_404(api: Client, registry: Database) -> None:
    reply = await api.get("/subjects", params={"division": UNKNOWN_GRID})

    assert reply.status == 404
    assert UNKNOWN_GRID in reply.data["error"]["message"]


async def test_invite_code_for_inspector(api: Client, registry: Database) -> None:
    reply = await api.post(f"/inspectors/{GRID_INSPECTORS[0]}/invites")

    assert reply.status == 201
    assert reply.data["inspector_code"] == GRID_INSPECTORS[0]
    async with registry.reading() as session:
        invite = await session.get(Invite, reply.data["code"])
    assert invite is not None
    assert invite.used_at is None


async def test_invite_for_unknown_inspector_is_404(api: Client, registry: Database) -> None:
    reply = await api.post("/inspectors/JG9999/invites")

    assert reply.status == 404
    assert "JG9999" in reply.data["error"]["message"]

"""Subjects named in leads, found through the indexed normalised name `subjects.name_key`."""

from pathlib import Path

import pytest
from sqlalchemy import insert, select

from griddispatch.messages import LeadSubjectRef
from storage.db import Database
from storage.leads.matching import SubjectMatch, match_subject
from storage.registry.models import Division, Subject
from storage.registry.names import normalize_name
from storage.registry.service import import_files
from tests.storage.support import GRID, import_small_registry, small_registry_subjects, write_csv

COMPANY = "东胜区益农农业科技有限公司"


@pytest.fixture
async def grid_db(db: Database) -> Database:
    async with db.transaction() as session:
        session.add(Division(code=GRID, name="交通街道第1网格", level="grid"))
    return db


async def _add_subjects(db: Database, *names: str) -> list[int]:
    """Insert one planting subject of GRID per name and return their ids."""
    async with db.transaction() as session:
        subjects = [Subject(name=name, industry="planting", grid_code=GRID) for name in names]
        session.add_all(subjects)
        await session.flush()
        return [subject.id for subject in subjects]


async def _match(db: Database, name: str) -> SubjectMatch:
    async with db.reading() as session:
        return await match_subject(session, LeadSubjectRef(name=name))


async def _name_keys(db: Database) -> dict[str, str | None]:
    async with db.reading() as session:
        rows = await session.execute(select(Subject.name, Subject.name_key))
        return {name: key for name, key in rows}


@pytest.mark.parametrize(
    "sent",
    [
        "东胜区益农农业科技有限责任公司",
        "东胜区益农\u3000农业科技 有限公司",
        "东胜区益农农业科技有限公司 ",
    ],
)
async def test_name_variant_matches(grid_db: Database, sent: str) -> None:
    [subject_id] = await _add_subjects(grid_db, COMPANY)

    match = await _match(grid_db, sent)

    assert match.subject is not None
    assert match.subject.id == subject_id
    assert match.matched_by == "name"
    assert match.problem is None


async def test_full_width_name_matches(grid_db: Database) -> None:
    [subject_id] = await _add_subjects(grid_db, "ABC牧业有限公司")

    match = await _match(grid_db, "ａｂｃ牧业有限责任公司")

    assert match.subject is not None
    assert match.subject.id == subject_id


async def test_exact_name_wins_over_variant(grid_db: Database) -> None:
    short_id, long_id = await _add_subjects(grid_db, COMPANY, "东胜区益农农业科技有限责任公司")

    short = await _match(grid_db, COMPANY)
    long = await _match(grid_db, "东胜区益农农业科技有限责任公司")

    assert short.subject is not None
    assert short.subject.id == short_id
    assert long.subject is not None
    assert long.subject.id == long_id


async def test_shared_key_is_ambiguous(grid_db: Database) -> None:
    await _add_subjects(
        grid_db, COMPANY, "东胜区益农农业科技有限责任公司", "东胜区益农 农业科技有限公司"
    )

    match = await _match(grid_db, "东胜区益农农业科技 有限公司")

    assert match.subject is None
    assert match.problem == (
        "3 subjects are named '东胜区益农农业科技 有限公司'; name it by credit code"
    )


async def test_unknown_name_not_found(grid_db: Database) -> None:
    await _add_subjects(grid_db, COMPANY)

    match = await _match(grid_db, "东胜区益农牧业有限公司")

    assert match.subject is None
    assert match.problem == "no subject named '东胜区益农牧业有限公司'"


async def test_rename_updates_name_key(grid_db: Database) -> None:
    [subject_id] = await _add_subjects(grid_db, "东胜区丰泽家庭农场")

    async with grid_db.transaction() as session:
        subject = await session.get(Subject, subject_id)
        assert subject is not None
        subject.name = "东胜区丰泽农业科技有限责任公司"

    assert await _name_keys(grid_db) == {
        "东胜区丰泽农业科技有限责任公司": "东胜区丰泽农业科技有限公司"
    }
    assert (await _match(grid_db, "东胜区丰泽家庭农场")).subject is None
    renamed = await _match(grid_db, "东胜区丰泽农业科技有限公司")
    assert renamed.subject is not None
    assert renamed.subject.id == subject_id


async def test_core_insert_fills_name_key(grid_db: Database) -> None:
    names = [COMPANY, "ＡＢＣ牧业有限责任公司", "张某某（种植户）"]
    rows = [{"name": name, "industry": "planting", "grid_code": GRID} for name in names]

    async with grid_db.transaction() as session:
        await session.execute(insert(Subject), rows)

    assert await _name_keys(grid_db) == {name: normalize_name(name) for name in names}


async def test_import_rename_updates_name_key(db: Database, tmp_path: Path) -> None:
    await import_small_registry(db, tmp_path)
    header, rows = small_registry_subjects()
    await import_files(db, [write_csv(tmp_path / "subjects.csv", header, rows)])
    name_column = header.index("name")
    row = next(row for row in rows if row[name_column] == COMPANY)
    row[name_column] = "东胜区益农生态农业有限责任公司"
    renamed_path = write_csv(tmp_path / "subjects-renamed.csv", header, rows)

    [report] = await import_files(db, [renamed_path])

    assert report.errors == []
    assert report.updated == 1
    keys = await _name_keys(db)
    assert COMPANY not in keys
    assert keys["东胜区益农生态农业有限责任公司"] == "东胜区益农生态农业有限公司"
    assert all(key == normalize_name(name) for name, key in keys.items())
    match = await _match(db, "东胜区益农生态农业有限公司")
    assert match.subject is not None
    assert match.subject.credit_code == row[header.index("credit_code")]

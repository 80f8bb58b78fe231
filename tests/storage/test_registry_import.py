"""Importing registry files into the database, and binding Telegram accounts by invite."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.errors import NotFoundError, ValidationError
from griddispatch.geo import distance_m, gcj02_to_wgs84
from storage.base import Base
from storage.db import Database
from storage.registry.models import Division, Inspector, Invite, Subject
from storage.registry.service import INVITE_TTL, bind_telegram, create_invite, import_files
from tests.storage.support import (
    EXAMPLE_DIR,
    START,
    count_rows,
    example_rows,
    import_small_registry,
    inspector_of,
    small_registry_subjects,
    write_csv,
)

EXAMPLE_FILES = [EXAMPLE_DIR / name for name in ("divisions.csv", "inspectors.csv", "subjects.csv")]
TABLES: list[type[Base]] = [Division, Inspector, Subject]
USER_ID = 5_000_000_010
OTHER_USER_ID = 5_000_000_011

SubjectSnapshot = tuple[
    str | None, str | None, str, str, str, str | None, float | None, float | None, str | None
]


@pytest.fixture
async def small_db(db: Database, tmp_path: Path) -> Database:
    await import_small_registry(db, tmp_path)
    return db


async def _subject_snapshot(db: Database) -> list[SubjectSnapshot]:
    """Return every subject's stored values, with its inspector as a staff code."""
    async with db.reading() as session:
        rows = await session.execute(
            select(
                Subject.credit_code,
                Subject.other_id,
                Subject.name,
                Subject.industry,
                Subject.grid_code,
                Inspector.code,
                Subject.longitude,
                Subject.latitude,
                Subject.address,
            )
            .outerjoin(Inspector, Inspector.id == Subject.inspector_id)
            .order_by(Subject.credit_code, Subject.other_id)
        )
        return list(rows)


async def _subject(db: Database, credit_code: str) -> Subject | None:
    async with db.reading() as session:
        return await session.scalar(select(Subject).where(Subject.credit_code == credit_code))


async def test_reimport_example_changes_nothing(db: Database) -> None:
    first = await import_files(db, EXAMPLE_FILES)
    counts = {model.__tablename__: await count_rows(db, model) for model in TABLES}

    second = await import_files(db, EXAMPLE_FILES)

    assert [str(error) for report in first for error in report.errors] == []
    assert counts == {"divisions": 300, "inspectors": 779, "subjects": 1863}
    for before, after in zip(first, second, strict=True):
        assert after.kind == before.kind
        assert after.inserted == 0
        assert after.updated == 0
        assert after.unchanged == before.inserted
        assert after.errors == []
    assert {model.__tablename__: await count_rows(db, model) for model in TABLES} == counts


async def test_gbk_subjects_match_utf8(small_db: Database, tmp_path: Path) -> None:
    header, rows = small_registry_subjects()
    gbk_path = write_csv(tmp_path / "subjects-gbk.csv", header, rows, encoding="gbk")
    utf8_path = write_csv(tmp_path / "subjects-utf8.csv", header, rows)
    with pytest.raises(UnicodeDecodeError):
        gbk_path.read_bytes().decode("utf-8")

    [gbk_report] = await import_files(small_db, [gbk_path])
    gbk_rows = await _subject_snapshot(small_db)
    [utf8_report] = await import_files(small_db, [utf8_path])

    assert gbk_report.errors == []
    assert gbk_report.inserted == len(rows)
    assert sorted(row[2] for row in gbk_rows) == sorted(row[2] for row in rows)
    assert any("（种植户）" in row[2] for row in gbk_rows)
    assert utf8_report.errors == []
    assert utf8_report.inserted == 0
    assert utf8_report.updated == 0
    assert utf8_report.unchanged == len(rows)
    assert await _subject_snapshot(small_db) == gbk_rows


async def test_gcj02_stored_as_wgs84(small_db: Database, tmp_path: Path) -> None:
    header, rows = small_registry_subjects()
    row = list(rows[0])
    row[header.index("coordinate_system")] = "gcj02"
    credit_code = row[header.index("credit_code")]
    longitude = float(row[header.index("longitude")])
    latitude = float(row[header.index("latitude")])
    path = write_csv(tmp_path / "subjects.csv", header, [row])

    await import_files(small_db, [path])

    subject = await _subject(small_db, credit_code)
    assert subject is not None
    assert subject.longitude is not None
    assert subject.latitude is not None
    expected_longitude, expected_latitude = gcj02_to_wgs84(longitude, latitude)
    assert subject.longitude == pytest.approx(expected_longitude, abs=1e-7)
    assert subject.latitude == pytest.approx(expected_latitude, abs=1e-7)
    # GCJ-02 is offset from WGS-84 by a few hundred metres around Ordos.
    offset_m = distance_m(longitude, latitude, subject.longitude, subject.latitude)
    assert 100 < offset_m < 1000


async def test_unknown_grid_row_reported(small_db: Database, tmp_path: Path) -> None:
    header, rows = small_registry_subjects()
    good_first, bad, good_last = (list(row) for row in rows[:3])
    bad[header.index("grid_code")] = "150602001777"
    path = write_csv(tmp_path / "subjects.csv", header, [good_first, bad, good_last])

    [report] = await import_files(small_db, [path])

    assert len(report.errors) == 1
    error = report.errors[0]
    assert error.file == str(path)
    assert error.line == 3
    assert "'150602001777'" in error.reason
    assert str(error).startswith(f"{path}:3: ")
    assert report.inserted == 2
    assert await _subject(small_db, good_first[0]) is not None
    assert await _subject(small_db, good_last[0]) is not None
    assert await _subject(small_db, bad[0]) is None
    assert await count_rows(small_db, Subject) == 2


async def test_unknown_division_inspector_reported(small_db: Database, tmp_path: Path) -> None:
    header, _ = example_rows("inspectors.csv")
    rows = [
        ["JT0100", "测试甲", "", "inspector", "150602001001"],
        ["JT0101", "测试乙", "", "inspector", "150602001888"],
    ]
    path = write_csv(tmp_path / "inspectors-extra.csv", header, rows)

    [report] = await import_files(small_db, [path])

    assert len(report.errors) == 1
    assert report.errors[0].line == 3
    assert "'150602001888'" in report.errors[0].reason
    assert report.inserted == 1
    assert (await inspector_of(small_db, "JT0100")).division_code == "150602001001"


async def test_invite_binds_telegram(small_db: Database) -> None:
    invite = await create_invite(small_db, "JG0010", now=START)

    # Inspectors type the code by hand, so case and surrounding spaces do not matter.
    inspector = await bind_telegram(
        small_db,
        f"  {invite.code.lower()} ",
        user_id=USER_ID,
        chat_id=USER_ID,
        language="zh-hans",
        now=START + timedelta(hours=1),
    )

    assert inspector.code == "JG0010"
    stored = await inspector_of(small_db, "JG0010")
    assert stored.telegram_user_id == USER_ID
    assert stored.telegram_chat_id == USER_ID
    assert stored.language == "zh-hans"
    assert stored.reachable is True
    async with small_db.reading() as session:
        used = await session.get(Invite, invite.code)
    assert used is not None
    assert used.used_at == START + timedelta(hours=1)
    assert invite.expires_at == START + INVITE_TTL


async def test_used_invite_rejected(small_db: Database) -> None:
    invite = await create_invite(small_db, "JG0010", now=START)
    await bind_telegram(
        small_db, invite.code, user_id=USER_ID, chat_id=USER_ID, language=None, now=START
    )

    with pytest.raises(ValidationError) as raised:
        await bind_telegram(
            small_db,
            invite.code,
            user_id=OTHER_USER_ID,
            chat_id=OTHER_USER_ID,
            language=None,
            now=START + timedelta(minutes=1),
        )

    assert repr(invite.code) in str(raised.value)
    assert (await inspector_of(small_db, "JG0010")).telegram_user_id == USER_ID


@pytest.mark.parametrize(
    "age", [INVITE_TTL, INVITE_TTL + timedelta(days=1)], ids=["at-expiry", "after-expiry"]
)
async def test_expired_invite_rejected(small_db: Database, age: timedelta) -> None:
    invite = await create_invite(small_db, "JG0010", now=START)

    with pytest.raises(ValidationError) as raised:
        await bind_telegram(
            small_db, invite.code, user_id=USER_ID, chat_id=USER_ID, language=None, now=START + age
        )

    assert "expired" in str(raised.value)
    assert (await inspector_of(small_db, "JG0010")).telegram_user_id is None


async def test_invite_valid_until_expiry(small_db: Database) -> None:
    invite = await create_invite(small_db, "JG0010", now=START)

    inspector = await bind_telegram(
        small_db,
        invite.code,
        user_id=USER_ID,
        chat_id=USER_ID,
        language=None,
        now=START + INVITE_TTL - timedelta(seconds=1),
    )

    assert inspector.telegram_user_id == USER_ID


async def test_account_moves_to_new_inspector(small_db: Database) -> None:
    first = await create_invite(small_db, "JG0010", now=START)
    second = await create_invite(small_db, "JG0011", now=START)
    await bind_telegram(
        small_db, first.code, user_id=USER_ID, chat_id=USER_ID, language=None, now=START
    )

    await bind_telegram(
        small_db, second.code, user_id=USER_ID, chat_id=USER_ID, language=None, now=START
    )

    assert (await inspector_of(small_db, "JG0010")).telegram_user_id is None
    assert (await inspector_of(small_db, "JG0011")).telegram_user_id == USER_ID


async def test_invite_unknown_inspector(small_db: Database) -> None:
    with pytest.raises(NotFoundError) as raised:
        await create_invite(small_db, "JG9999", now=START)

    assert "'JG9999'" in str(raised.value)
    assert await count_rows(small_db, Invite) == 0

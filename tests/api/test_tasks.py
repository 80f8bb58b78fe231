"""Tasks over HTTP: listing with filters, one task with trail, result and photos."""

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from griddispatch.messages import LeadMessage, LeadSubjectRef, TargetKind
from storage.db import Database
from storage.files import FileStore, LocalFileStore
from storage.registry.models import Inspector, Subject
from storage.registry.service import import_files
from storage.results.service import (
    Answer,
    ItemAnswer,
    PhotoEvidence,
    Submission,
    SubmittedResult,
    checklist_items_for_task,
    submit_result,
)
from storage.tasks.service import act_on_task
from storage.tasks.states import TaskAction
from tests.api.support import Client
from tests.harness.images import png
from tests.storage.support import (
    ESCALATION,
    GRID,
    GRID_INSPECTORS,
    SECOND_GRID,
    START,
    directive,
    import_small_registry,
    issue_directive,
    receive_lead,
    small_registry_subjects,
    write_csv,
)

NOTE = "库房发现禁用农药包装"


@pytest.fixture
async def registry(api: Client, db: Database, tmp_path: Path) -> Database:
    """The small registry with the subjects of its two example grids."""
    await import_small_registry(db, tmp_path)
    header, rows = small_registry_subjects()
    reports = await import_files(db, [write_csv(tmp_path / "subjects.csv", header, rows)])
    assert reports[0].errors == []
    return db


async def _grid_tasks(db: Database) -> tuple[list[int], list[int]]:
    """Issue one directive to GRID and one to SECOND_GRID; return their task ids."""
    first = await issue_directive(db, directive("grid-1", TargetKind.GRID, GRID))
    second = await issue_directive(db, directive("grid-2", TargetKind.GRID, SECOND_GRID))
    return first.task_ids, second.task_ids


async def _subject_with_inspector(db: Database) -> Subject:
    async with db.reading() as session:
        subject = await session.scalar(
            select(Subject)
            .where(Subject.grid_code == GRID, Subject.inspector_id.is_not(None))
            .order_by(Subject.id)
            .limit(1)
        )
    assert subject is not None
    return subject


async def _submitted_with_photo(db: Database, files: FileStore) -> SubmittedResult:
    """Open a lead task about a subject and submit a result with one failed item and a photo."""
    subject = await _subject_with_inspector(db)
    assert subject.inspector_id is not None
    lead = LeadMessage(
        message_id="lead-photo",
        source="test",
        title="舆情：疑似违规使用禁用农药",
        subject=LeadSubjectRef(credit_code=subject.credit_code, other_id=subject.other_id),
    )
    task_id = (await receive_lead(db, lead)).task_ids[0]
    items = await checklist_items_for_task(db, task_id)
    answers = [
        ItemAnswer(item.code, Answer.FAIL, NOTE)
        if index == 0
        else ItemAnswer(item.code, Answer.PASS)
        for index, item in enumerate(items)
    ]
    stored = await files.put(png(), suffix=".png")
    photo = PhotoEvidence(
        telegram_file_id="file-1",
        telegram_file_unique_id="unique-1",
        storage_key=stored.key,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        mime_type="image/png",
        received_at=START,
    )
    submission = Submission(
        task_id,
        subject.inspector_id,
        answers,
        "总体良好，禁用农药问题须立即整改",
        latitude=subject.latitude,
        longitude=subject.longitude,
        photos=[photo],
    )
    return await submit_result(
        db, submission, escalation=ESCALATION, now=START + timedelta(hours=1)
    )


async def test_list_tasks_newest_first_with_total(api: Client, registry: Database) -> None:
    first, second = await _grid_tasks(registry)
    everything = sorted(first + second, reverse=True)

    page = await api.get("/tasks", params={"limit": "3"})
    rest = await api.get("/tasks", params={"limit": "50", "offset": "3"})

    assert page.status == 200
    assert [task["id"] for task in page.data["items"]] == everything[:3]
    assert [task["id"] for task in rest.data["items"]] == everything[3:]
    assert page.data["total"] == len(everything)


async def test_list_tasks_filters(api: Client, registry: Database) -> None:
    first, second = await _grid_tasks(registry)
    inspector = await _inspector(registry, GRID_INSPECTORS[0])
    acknowledged = await act_on_task(
        registry,
        task_id=first[0],
        action=TaskAction.ACKNOWLEDGE,
        inspector_id=inspector.id,
        escalation=ESCALATION,
        now=START,
    )
    cases = [
        ({"division": GRID}, sorted(first, reverse=True)),
        ({"division": SECOND_GRID}, sorted(second, reverse=True)),
        ({"inspector": GRID_INSPECTORS[0]}, [acknowledged.id]),
        ({"state": "acknowledged"}, [acknowledged.id]),
        ({"state": "new", "division": GRID}, sorted(first[1:], reverse=True)),
        ({"kind": "lead"}, []),
        ({"kind": "directive", "priority": "urgent"}, []),
    ]
    for params, expected in cases:
        reply = await api.get("/tasks", params=params)
        assert reply.status == 200, params
        assert [task["id"] for task in reply.data["items"]] == expected, params
        assert reply.data["total"] == len(expected), params


async def _inspector(db: Database, code: str) -> Inspector:
    async with db.reading() as session:
        inspector = await session.scalar(select(Inspector).where(Inspector.code == code))
    assert inspector is not None
    return inspector


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"division": "999999"}, 404, None),
        ({"inspector": "JG9999"}, 404, None),
        ({"state": "lost"}, 422, "state"),
        ({"limit": "0"}, 422, "limit"),
        ({"limit": "many"}, 422, "limit"),
        ({"colour": "red"}, 422, "colour"),
    ],
)
async def test_list_tasks_rejects_bad_filters(
    api: Client, registry: Database, params: dict[str, str], status: int, field: str | None
) -> None:
    reply = await api.get("/tasks", params=params)

    assert reply.status == status
    assert reply.data["error"]["field"] == field
    assert reply.data["error"]["message"]


async def test_show_task_with_trail_result_and_photos(
    api: Client, registry: Database, tmp_path: Path
) -> None:
    submitted = await _submitted_with_photo(registry, LocalFileStore(tmp_path / "files"))

    reply = await api.get(f"/tasks/{submitted.task_id}")

    assert reply.status == 200
    task = reply.data
    assert task["state"] == "submitted"
    assert task["kind"] == "lead"
    assert [entry["kind"] for entry in task["trail"]] == [
        "created",
        "acknowledged",
        "submitted",
        "followup_opened",
    ]
    result = task["result"]
    assert result["verification_code"] == submitted.verification_code
    assert result["compliant"] is False
    assert result["answers"][0]["answer"] == "fail"
    assert result["answers"][0]["note"] == NOTE
    assert {answer["answer"] for answer in result["answers"][1:]} == {"pass"}
    assert result["distance_m"] == 0.0
    assert result["location_flagged"] is False
    assert result["photo_count"] == 1
    assert len(task["photos"]) == 1
    photo = task["photos"][0]
    assert photo["mime_type"] == "image/png"
    assert photo["url"] == f"/api/v1/tasks/{submitted.task_id}/photos/{photo['id']}"


async def test_photo_download_streams_the_file(
    api: Client, registry: Database, tmp_path: Path
) -> None:
    submitted = await _submitted_with_photo(registry, LocalFileStore(tmp_path / "files"))
    task = (await api.get(f"/tasks/{submitted.task_id}")).data
    photo = task["photos"][0]

    reply = await api.get(photo["url"].removeprefix("/api/v1"), token="reader")

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.body == png()
    assert hashlib.sha256(reply.body).hexdigest() == photo["sha256"]


async def test_photo_of_other_task_is_404(api: Client, registry: Database, tmp_path: Path) -> None:
    submitted = await _submitted_with_photo(registry, LocalFileStore(tmp_path / "files"))
    photo = (await api.get(f"/tasks/{submitted.task_id}")).data["photos"][0]
    other = submitted.followup_task_id
    assert other is not None

    reply = await api.get(f"/tasks/{other}/photos/{photo['id']}")

    assert reply.status == 404
    assert reply.error_code == "not_found"


async def test_photo_missing_from_store_is_404(
    api: Client, registry: Database, tmp_path: Path
) -> None:
    files = LocalFileStore(tmp_path / "files")
    submitted = await _submitted_with_photo(registry, files)
    photo = (await api.get(f"/tasks/{submitted.task_id}")).data["photos"][0]
    for stored in (tmp_path / "files").rglob("*.png"):
        stored.unlink()

    reply = await api.get(f"/tasks/{submitted.task_id}/photos/{photo['id']}")

    assert reply.status == 404
    assert reply.error_code == "photo_file_missing"


async def test_result_by_verification_code(api: Client, registry: Database, tmp_path: Path) -> None:
    submitted = await _submitted_with_photo(registry, LocalFileStore(tmp_path / "files"))
    subject = await _subject_with_inspector(registry)
    async with registry.reading() as session:
        inspector = await session.get(Inspector, subject.inspector_id)
    assert inspector is not None

    reply = await api.get(f"/results/{submitted.verification_code.lower()}", token="reader")

    assert reply.status == 200
    assert reply.data["task_id"] == submitted.task_id
    assert reply.data["result_id"] == submitted.result_id
    assert reply.data["verification_code"] == submitted.verification_code
    assert reply.data["subject"]["name"] == subject.name
    assert reply.data["inspector_code"] == inspector.code


@pytest.mark.parametrize(
    "path", ["/tasks/999999", "/tasks/0", "/tasks/abc", "/tasks/99999999999999999999999"]
)
async def test_unknown_task_is_404(api: Client, path: str) -> None:
    reply = await api.get(path)

    assert reply.status == 404
    assert reply.error_code == "not_found"


async def test_unknown_verification_code_is_404(api: Client) -> None:
    reply = await api.get("/results/ZZZZ2222")

    assert reply.status == 404
    assert "ZZZZ2222" in reply.data["error"]["message"]

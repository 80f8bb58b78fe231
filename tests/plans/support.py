"""Registry, plan and inspection helpers shared by the plan tests."""

from datetime import date, datetime, time
from pathlib import Path

from sqlalchemy import select

from griddispatch.messages import LeadMessage, LeadSubjectRef
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.leads.service import accept_lead
from storage.plans.config import PlanSet, load_plans
from storage.plans.generate import GenerationReport, generate_month
from storage.plans.models import PlanEntry
from storage.registry.models import Subject
from storage.registry.service import import_files
from storage.results.service import (
    Answer,
    ItemAnswer,
    Submission,
    SubmittedResult,
    checklist_items_for_task,
    submit_result,
)
from storage.tasks.models import Task
from tests.storage.support import (
    small_registry_subjects,
    write_csv,
    write_small_registry,
)

ESCALATION = Escalation.load()
PLANS: PlanSet = load_plans()
# When the test registries are imported: before every plan period the tests use.
REGISTERED_AT = datetime(2025, 12, 1, tzinfo=CHINA)


def china(day: date, at: time = time(8, 30)) -> datetime:
    """Return `at` on `day` in China Standard Time."""
    return datetime.combine(day, at, CHINA)


async def plan_month(db: Database, month: date) -> GenerationReport:
    """Generate the test plans' entries and tasks for `month`, on its first morning."""
    return await generate_month(db, PLANS, ESCALATION, month=month, now=china(month))


async def import_small_registry_with_grades(
    db: Database, folder: Path, grades: dict[int, str] | None = None
) -> list[list[str]]:
    """Import the small registry; `grades` maps a subject row index to its risk grade."""
    reports = await import_files(db, write_small_registry(folder))
    assert [str(e) for r in reports for e in r.errors] == []
    header, rows = small_registry_subjects()
    graded = [[*row, (grades or {}).get(index, "")] for index, row in enumerate(rows)]
    path = write_csv(folder / "subjects.csv", [*header, "风险等级"], graded)
    reports = await import_files(db, [path], now=REGISTERED_AT)
    assert [str(e) for r in reports for e in r.errors] == []
    return graded


async def subjects_by_id(db: Database) -> dict[int, Subject]:
    """Return every subject by id."""
    async with db.reading() as session:
        return {s.id: s for s in await session.scalars(select(Subject).order_by(Subject.id))}


async def entries(db: Database, period_key: str | None = None) -> list[PlanEntry]:
    """Return plan entries, of one period when `period_key` is given."""
    query = select(PlanEntry).order_by(PlanEntry.id)
    if period_key is not None:
        query = query.where(PlanEntry.period_key == period_key)
    async with db.reading() as session:
        return list(await session.scalars(query))


async def task(db: Database, task_id: int) -> Task:
    """Return one task as stored now."""
    async with db.reading() as session:
        found = await session.get(Task, task_id)
    assert found is not None
    return found


async def inspect_task(
    db: Database,
    task_id: int,
    inspector_id: int,
    *,
    now: datetime,
    fail: bool = False,
    location: tuple[float, float] | None = None,
) -> SubmittedResult:
    """Submit a result for a task, failing its first item when `fail`."""
    items = await checklist_items_for_task(db, task_id)
    answers = [
        ItemAnswer(
            item.code,
            Answer.FAIL if fail and index == 0 else Answer.PASS,
            "发现问题" if fail and index == 0 else None,
        )
        for index, item in enumerate(items)
    ]
    latitude, longitude = location if location else (None, None)
    return await submit_result(
        db,
        Submission(task_id, inspector_id, answers, "检查意见", latitude, longitude),
        escalation=ESCALATION,
        now=now,
    )


async def inspect_by_lead(
    db: Database, subject: Subject, *, key: str, now: datetime
) -> SubmittedResult:
    """Inspect a subject through a lead task, not its routine task."""
    lead = LeadMessage(
        message_id=key,
        source="test",
        title="线索核查",
        subject=LeadSubjectRef(credit_code=subject.credit_code, other_id=subject.other_id),
    )
    accepted = await accept_lead(db, lead, escalation=ESCALATION, now=now)
    task_id = accepted.task_ids[0]
    stored = await task(db, task_id)
    return await inspect_task(db, task_id, stored.inspector_id, now=now)

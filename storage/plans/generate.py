"""Generating a month's plan entries and routine tasks with batched Core inserts.

Every regular period starts on the first of a month, so generating month by
month covers every cadence: a quarterly subject gets an entry in January,
April, July and October. Entries and their tasks, trail entries and event
messages are inserted in chunks, one transaction per chunk. The unique key
`(subject_id, period_key)` makes a rerun, or a second worker, skip what
exists. Assignment notifications go out later, as each task's release day
comes (see `release_due`).
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch import subjects as nats_subjects
from griddispatch.deadlines import parse_deadline
from griddispatch.messages import TaskEventMessage
from griddispatch.workcalendar import CHINA
from storage.base import Base
from storage.db import Database
from storage.escalation.plan import next_step_time
from storage.escalation.policies import PolicyConfig
from storage.escalation.policy import Escalation
from storage.outbox.models import OutboxMessage
from storage.plans.config import Plan, PlanSet
from storage.plans.grades import grades_at
from storage.plans.models import PlanEntry
from storage.plans.periods import Period, due_at, regular_period, release_days, seasonal_period
from storage.registry.models import Subject
from storage.results.models import InspectionResult
from storage.tasks.models import Task, TaskEvent
from storage.tasks.states import TaskState

log = logging.getLogger(__name__)

ROUTINE_KIND = "routine"
ROUTINE_PRIORITY = "normal"
ROUTINE_ROUTING = "plan"
CHUNK_SIZE = 5000
ENTRY_OPEN = "open"
ENTRY_DONE = "done"


@dataclass
class GenerationReport:
    """Counts from generating one month."""

    month: date
    plan_version: str
    entries: int = 0
    tasks: int = 0
    already_inspected: int = 0
    unassigned: int = 0
    existing: int = 0
    periods: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _SubjectRow:
    id: int
    name: str
    industry: str
    grade: str
    grid_code: str
    inspector_id: int | None


@dataclass(frozen=True)
class _Planned:
    subject: _SubjectRow
    period: Period
    due_at: datetime
    release_at: datetime
    done: bool


def due_periods(plan: Plan, month: date, industry: str, grade: str) -> list[Period]:
    """Return the periods starting in `month` in which a subject of `industry` and `grade` is due.

    A seasonal check is skipped in a month the subject already has a monthly
    period, because one inspection in that month satisfies both.
    """
    industry_plan = plan.spec.industries[industry]
    regular = regular_period(month, industry_plan.cadence[grade])
    periods = [regular] if regular is not None else []
    monthly = regular is not None and regular.months == 1
    for check in industry_plan.seasonal:
        if month.month in check.months and not monthly:
            periods.append(seasonal_period(month, check.name))
    return periods


async def _load_subjects(session: AsyncSession, plan: Plan, month: date) -> list[_SubjectRow]:
    """Load registered subjects with the grade each held when the month began."""
    start = datetime.combine(month, datetime.min.time(), CHINA)
    earlier = await grades_at(session, start)
    rows = await session.execute(
        select(
            Subject.id,
            Subject.name,
            Subject.industry,
            Subject.risk_grade,
            Subject.grid_code,
            Subject.inspector_id,
        )
        .where(Subject.registered.is_(True))
        .order_by(Subject.id)
    )
    loaded = []
    codes = set(plan.grade_codes)
    for subject_id, name, industry, grade, grid_code, inspector_id in rows:
        held = earlier.get(subject_id, grade)
        if held not in codes:
            held = plan.spec.default_grade
        if industry not in plan.spec.industries:
            continue
        loaded.append(_SubjectRow(subject_id, name, industry, held, grid_code, inspector_id))
    return loaded


async def _inspected_since(session: AsyncSession, start: datetime) -> set[int]:
    rows = await session.scalars(
        select(InspectionResult.subject_id)
        .where(InspectionResult.submitted_at >= start, InspectionResult.subject_id.is_not(None))
        .distinct()
    )
    return {subject_id for subject_id in rows if subject_id is not None}


def _plan_month(
    plan: Plan,
    month: date,
    subjects: list[_SubjectRow],
    inspected: set[int],
    escalation: Escalation,
) -> list[_Planned]:
    """Decide every entry of the month with its due date and staggered release time."""
    calendar = escalation.calendar
    by_inspector: dict[int | None, list[tuple[_SubjectRow, Period]]] = defaultdict(list)
    for subject in subjects:
        for period in due_periods(plan, month, subject.industry, subject.grade):
            by_inspector[subject.inspector_id].append((subject, period))

    due_cache: dict[tuple[str, bool], datetime] = {}
    days_cache: dict[str, list[date]] = {}
    planned = []
    for pairs in by_inspector.values():
        # Shorter periods come first and set the window, so a monthly task is never
        # released after its month because the inspector also has quarterly ones.
        pairs.sort(key=lambda pair: (pair[1].months, pair[0].id))
        window = pairs[0][1]
        if window.key not in days_cache:
            days_cache[window.key] = release_days(window, calendar, plan.spec.release_spread)
        days = days_cache[window.key]
        for index, (subject, period) in enumerate(pairs):
            working = plan.spec.industries[subject.industry].working_days
            key = (period.key, working)
            if key not in due_cache:
                due_cache[key] = due_at(period, calendar, working_days=working)
            # Spread each inspector's tasks evenly over the release days.
            day = days[index * len(days) // len(pairs)]
            release = datetime.combine(day, calendar.working_hours[0][0], CHINA)
            planned.append(
                _Planned(subject, period, due_cache[key], release, subject.id in inspected)
            )
    return planned


def _table(model: type[Base]) -> Table:
    """Return a model's table, for Core statements that skip the ORM's per-row work."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _upsert(db: Database) -> Any:
    return postgresql.insert if db.dialect == "postgresql" else sqlite.insert


class _Deadlines:
    """Acknowledge-by times and first escalation steps, computed once per distinct input."""

    def __init__(self, escalation: Escalation, policy: PolicyConfig) -> None:
        self._escalation = escalation
        self._policy = policy
        self._ack: dict[datetime, datetime] = {}
        self._steps: dict[tuple[datetime, datetime], datetime | None] = {}

    def ack_due(self, release_at: datetime) -> datetime:
        if release_at not in self._ack:
            spec = parse_deadline(self._policy.ack_within)
            self._ack[release_at] = spec.resolve(release_at, self._escalation.calendar).at
        return self._ack[release_at]

    def next_step(self, ack_due_at: datetime, due: datetime) -> datetime | None:
        key = (ack_due_at, due)
        if key not in self._steps:
            probe = Task(
                state=TaskState.NEW.value,
                ack_due_at=ack_due_at,
                due_at=due,
                fired_steps=[],
                snoozed_until=None,
            )
            self._steps[key] = next_step_time(probe, self._policy, self._escalation.calendar)
        return self._steps[key]


async def generate_month(
    db: Database, plans: PlanSet, escalation: Escalation, *, month: date, now: datetime
) -> GenerationReport:
    """Create the plan entries and routine tasks of every period that starts in `month`.

    Safe to run again and from several workers at once: existing entries
    are skipped. Subjects already inspected since the month began get a done
    entry and no task.
    """
    month = month.replace(day=1)
    plan = plans.for_day(month)
    report = GenerationReport(month=month, plan_version=plan.version)
    month_start = datetime.combine(month, datetime.min.time(), CHINA)
    async with db.reading() as session:
        subjects = await _load_subjects(session, plan, month)
        inspected = await _inspected_since(session, month_start)
    planned = _plan_month(plan, month, subjects, inspected, escalation)
    policy = escalation.policy_for(ROUTINE_KIND, ROUTINE_PRIORITY)
    deadlines = _Deadlines(escalation, policy)
    for offset in range(0, len(planned), CHUNK_SIZE):
        chunk = planned[offset : offset + CHUNK_SIZE]
        async with db.transaction() as session:
            await _insert_chunk(
                session, db, plan, chunk, policy=policy, deadlines=deadlines, report=report, now=now
            )
    log.info(
        "plan month generated month=%s plan=%s entries=%d tasks=%d already_inspected=%d "
        "unassigned=%d existing=%d",
        month.isoformat(),
        plan.version,
        report.entries,
        report.tasks,
        report.already_inspected,
        report.unassigned,
        report.existing,
    )
    return report


async def _insert_chunk(
    session: AsyncSession,
    db: Database,
    plan: Plan,
    chunk: list[_Planned],
    *,
    policy: PolicyConfig,
    deadlines: _Deadlines,
    report: GenerationReport,
    now: datetime,
) -> None:
    """Insert one chunk: entries first, then tasks for the entries this call created."""
    rows = [_entry_row(plan, item) for item in chunk]
    statement = (
        _upsert(db)(_table(PlanEntry))
        .on_conflict_do_nothing(index_elements=["subject_id", "period_key"])
        .returning(
            _table(PlanEntry).c.id, _table(PlanEntry).c.subject_id, _table(PlanEntry).c.period_key
        )
    )
    inserted = {
        (subject_id, key): entry_id
        for entry_id, subject_id, key in await session.execute(statement, rows)
    }
    report.existing += len(chunk) - len(inserted)
    report.entries += len(inserted)
    needing_task = []
    for item in chunk:
        entry_id = inserted.get((item.subject.id, item.period.key))
        if entry_id is None:
            continue
        report.periods[item.period.key] = report.periods.get(item.period.key, 0) + 1
        if item.done:
            report.already_inspected += 1
        elif item.subject.inspector_id is None:
            report.unassigned += 1
        else:
            needing_task.append((entry_id, item))
    for batch in _one_per_subject(needing_task):
        await _insert_tasks(session, batch, policy, deadlines, now=now)
        report.tasks += len(batch)


def _one_per_subject(pairs: list[tuple[int, _Planned]]) -> list[list[tuple[int, _Planned]]]:
    """Split entries into batches that hold each subject at most once.

    SQLAlchemy 2.0 sends SQLite one INSERT per row when RETURNING must keep
    the parameter order, so the batched inserts here take rows back
    unordered and match each new task to its entry by subject id.
    """
    batches: list[list[tuple[int, _Planned]]] = []
    seen: list[set[int]] = []
    for pair in pairs:
        subject_id = pair[1].subject.id
        index = next((i for i, ids in enumerate(seen) if subject_id not in ids), len(seen))
        if index == len(seen):
            batches.append([])
            seen.append(set())
        batches[index].append(pair)
        seen[index].add(subject_id)
    return batches


def _entry_row(plan: Plan, item: _Planned) -> dict[str, Any]:
    return {
        "subject_id": item.subject.id,
        "period_key": item.period.key,
        "plan_version": plan.version,
        "grade": item.subject.grade,
        "industry": item.subject.industry,
        "grid_code": item.subject.grid_code,
        "inspector_id": item.subject.inspector_id,
        "task_id": None,
        "period_start": item.period.start,
        "period_end": item.period.end,
        "due_at": item.due_at,
        "release_at": item.release_at,
        "notified_at": None,
        "state": ENTRY_DONE if item.done else ENTRY_OPEN,
        "done_at": None,
        "result_id": None,
    }


def _title(item: _Planned) -> str:
    check = f"（{item.period.seasonal}）" if item.period.seasonal else ""
    return f"日常巡查{check}：{item.subject.name}"[:200]


def _body(item: _Planned) -> str:
    due = item.due_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    return (
        f"本期（{item.period.key}）日常巡查，风险等级 {item.subject.grade}，请于 {due} 前完成检查。"
    )


async def _insert_tasks(
    session: AsyncSession,
    pairs: list[tuple[int, _Planned]],
    policy: PolicyConfig,
    deadlines: _Deadlines,
    *,
    now: datetime,
) -> None:
    """Insert tasks, their "created" trail entries and event messages, and link the entries."""
    task_rows: list[dict[str, Any]] = []
    for _, item in pairs:
        ack_due_at = min(deadlines.ack_due(item.release_at), item.due_at)
        task_rows.append(
            {
                "kind": ROUTINE_KIND,
                "inspector_id": item.subject.inspector_id,
                "subject_id": item.subject.id,
                "title": _title(item),
                "body": _body(item),
                "priority": ROUTINE_PRIORITY,
                "routing": ROUTINE_ROUTING,
                "state": TaskState.NEW.value,
                "assignment": "each",
                "policy_name": policy.name,
                "ack_within": policy.ack_within,
                "due_within": policy.due_within,
                "ack_due_at": ack_due_at,
                "due_at": item.due_at,
                "deadline_provisional": False,
                "fired_steps": [],
                "escalation_step": 0,
                "next_step_at": deadlines.next_step(ack_due_at, item.due_at),
                "created_at": now,
                "updated_at": now,
            }
        )
    tasks = _table(Task)
    returned = await session.execute(
        insert(tasks).returning(tasks.c.id, tasks.c.subject_id), task_rows
    )
    task_of_subject = {subject_id: task_id for task_id, subject_id in returned}
    task_ids = [task_of_subject[item.subject.id] for _, item in pairs]
    entries = _table(PlanEntry)
    await session.execute(
        update(entries)
        .where(entries.c.id == bindparam("entry_id"))
        .values(task_id=bindparam("new_task_id")),
        [
            {"entry_id": entry_id, "new_task_id": task_id}
            for (entry_id, _), task_id in zip(pairs, task_ids, strict=True)
        ],
    )
    await _insert_created_events(session, pairs, task_ids, policy, now=now)


async def _insert_created_events(
    session: AsyncSession,
    pairs: list[tuple[int, _Planned]],
    task_ids: list[int],
    policy: PolicyConfig,
    *,
    now: datetime,
) -> None:
    details = [
        {
            "routing": ROUTINE_ROUTING,
            "policy": policy.name,
            "plan_period": item.period.key,
            "plan_entry_id": entry_id,
            "release_at": item.release_at.isoformat(),
            "due_at": item.due_at.isoformat(),
        }
        for entry_id, item in pairs
    ]
    event_rows = [
        {
            "task_id": task_id,
            "kind": "created",
            "state": TaskState.NEW.value,
            "actor_inspector_id": None,
            "actor": "system",
            "at": now,
            "detail": detail,
        }
        for task_id, detail in zip(task_ids, details, strict=True)
    ]
    events = _table(TaskEvent)
    returned = await session.execute(
        insert(events).returning(events.c.id, events.c.task_id), event_rows
    )
    event_of_task = {task_id: event_id for event_id, task_id in returned}
    event_ids = [event_of_task[row["task_id"]] for row in event_rows]
    subject = nats_subjects.task_event_subject("created")
    outbox_rows = []
    for event_id, row in zip(event_ids, event_rows, strict=True):
        message = TaskEventMessage(
            event_id=event_id,
            task_id=row["task_id"],
            kind="created",
            state=TaskState.NEW.value,
            actor="system",
            at=now,
            detail=row["detail"],
        )
        outbox_rows.append(
            {
                "subject": subject,
                "msg_id": f"event-{event_id}",
                "payload": message.model_dump(mode="json"),
                "created_at": now,
                "attempts": 0,
            }
        )
    await session.execute(insert(_table(OutboxMessage)), outbox_rows)

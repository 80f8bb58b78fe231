"""Storing a batch of directives and leads: the same outcome as one by one, in fewer statements.

A mixed batch is stored with `accept_batch` in one database and message by
message in another, and the two databases must hold the same directives,
leads, tasks, trail entries and outbox rows. Ids differ between the two,
since a batch inserts its rows table by table, so rows are compared by the
keys their messages gave them.
"""

import os
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from dispatcher.setup import load_example_registry
from griddispatch.errors import NotFoundError
from griddispatch.messages import (
    LeadMessage,
    LeadSubjectRef,
    LeadUpdateAction,
    LeadUpdateMessage,
    Location,
    NotificationKind,
    TargetKind,
)
from storage.db import Database
from storage.directives.models import Directive
from storage.directives.service import Accepted
from storage.intake import Inbound, accept_batch, accept_one
from storage.leads.models import Lead
from storage.outbox.models import OutboxMessage
from storage.registry.models import Inspector, Subject
from storage.scratch import scratch_database
from storage.tasks.models import Task, TaskEvent
from tests.conftest import POSTGRES_URL_ENV
from tests.storage.support import ESCALATION, GRID, START, directive

TASK_UPDATED = NotificationKind.TASK_UPDATED.value

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def batch_db(db: Database) -> Database:
    await load_example_registry(db)
    return db


@pytest.fixture
async def alone_db(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A second database on the same backend as `db`, for storing one message at a time."""
    admin_url = os.environ[POSTGRES_URL_ENV] if database_url.startswith("postgresql") else None
    folder = tmp_path / "alone"
    folder.mkdir()
    async with scratch_database(folder, admin_url, prefix="gd_test_alone") as url:
        database = Database(url)
        await load_example_registry(database)
        yield database
        await database.dispose()


async def _bound_subjects(db: Database, count: int) -> list[Subject]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(Subject)
            .where(Subject.inspector_id.is_not(None), Subject.credit_code.is_not(None))
            .order_by(Subject.id)
            .limit(count)
        )
        return list(rows)


async def _inspector_codes(db: Database, count: int) -> list[str]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(Inspector.code).where(Inspector.role == "inspector").order_by(Inspector.id)
        )
        return list(rows)[:count]


def _lead(
    key: str,
    *,
    source: str = "lab",
    subject: LeadSubjectRef | None = None,
    grid_code: str | None = None,
    message_id: str | None = None,
    location: Location | None = None,
) -> LeadMessage:
    return LeadMessage(
        message_id=message_id or f"m-{source}-{key}",
        source=source,
        dedup_key=key,
        title=f"快检阳性 {key}",
        text=f"样品 {key} 腐霉利超标",
        address="东胜区纺织街道",
        subject=subject,
        grid_code=grid_code,
        location=location,
    )


def _resolve(key: str, *, source: str = "lab") -> LeadUpdateMessage:
    return LeadUpdateMessage(
        message_id=f"resolve-{source}-{key}",
        action=LeadUpdateAction.RESOLVE,
        source=source,
        dedup_key=key,
    )


async def _mixed_batch(db: Database) -> list[Inbound]:
    """A batch with repeats, folds, updates and every routing path, in a telling order."""
    first, second, third = await _bound_subjects(db, 3)
    assert first.credit_code
    assert third.credit_code
    inspectors = await _inspector_codes(db, 3)
    by_code = LeadSubjectRef(credit_code=first.credit_code)
    return [
        directive("d-1", TargetKind.INSPECTOR, inspectors[0]),
        _lead("k1", subject=by_code),
        _lead("k2", subject=LeadSubjectRef(credit_code=first.credit_code.lower())),
        directive("d-1", TargetKind.INSPECTOR, inspectors[0]),
        _lead("k3", source="opinion", subject=by_code),
        _lead("k4", subject=LeadSubjectRef(name=first.name)),
        _lead("k1", subject=by_code, message_id="m-lab-k1-again"),
        directive("d-2", TargetKind.GRID, GRID),
        _lead("k5", subject=LeadSubjectRef(id=second.id)),
        _resolve("k5"),
        _lead("k5", subject=LeadSubjectRef(id=second.id), message_id="m-lab-k5-second"),
        _lead("k6", subject=LeadSubjectRef(credit_code="91150000NOTINREG"), grid_code=GRID),
        _lead(
            "k7",
            subject=LeadSubjectRef(credit_code=third.credit_code),
            location=Location(longitude=109.99, latitude=39.81, system="gcj02"),
        ),
        _lead("k8", subject=LeadSubjectRef(credit_code=third.credit_code)),
        directive("d-3", TargetKind.INSPECTOR, inspectors[1]),
        _lead("k9", source="opinion", subject=LeadSubjectRef(id=second.id)),
    ]


async def _stored_before(db: Database) -> None:
    """A lead from `lab` whose task about the third subject is open when the batch arrives."""
    subjects = await _bound_subjects(db, 3)
    message = _lead("k0", subject=LeadSubjectRef(credit_code=subjects[2].credit_code))
    async with db.transaction() as session:
        await accept_one(session, message, cache_key=db.url, escalation=ESCALATION, now=START)


async def _store_together(db: Database, messages: Sequence[Inbound]) -> list[Accepted]:
    async with db.transaction() as session:
        return await accept_batch(
            session, list(messages), cache_key=db.url, escalation=ESCALATION, now=START
        )


async def _store_alone(db: Database, messages: Sequence[Inbound]) -> list[Accepted]:
    outcomes = []
    for message in messages:
        async with db.transaction() as session:
            outcomes.append(
                await accept_one(
                    session, message, cache_key=db.url, escalation=ESCALATION, now=START
                )
            )
    return outcomes


async def _snapshot(db: Database) -> dict[str, Any]:
    """Return the database's records keyed by what the messages named, not by row ids."""
    async with db.reading() as session:
        leads = list(await session.scalars(select(Lead)))
        directives = list(await session.scalars(select(Directive)))
        tasks = list(await session.scalars(select(Task)))
        events = list(await session.scalars(select(TaskEvent).order_by(TaskEvent.id)))
        outbox = list(await session.scalars(select(OutboxMessage)))
        codes = {
            row.id: row.code for row in await session.execute(select(Inspector.id, Inspector.code))
        }
    lead_key = {lead.id: (lead.source, lead.dedup_key, lead.episode) for lead in leads}
    owner = {
        task.id: (
            lead_key[task.lead_id]
            if task.lead_id
            else next(d.message_id for d in directives if d.id == task.directive_id)
        )
        for task in tasks
    }
    return {
        "directives": sorted(d.message_id for d in directives),
        "leads": {
            lead_key[lead.id]: (
                lead.message_id,
                lead.routing,
                lead.subject_id,
                lead_key.get(lead.folded_into_id or 0),
                lead.lead_count,
                lead.resolved_at is not None,
                lead.longitude,
            )
            for lead in leads
        },
        "tasks": sorted(
            (
                str(owner[task.id]),
                codes[task.inspector_id],
                task.state,
                task.body,
                task.routing,
                task.subject_id,
                tuple(
                    (e.kind, (e.detail or {}).get("count")) for e in events if e.task_id == task.id
                ),
            )
            for task in tasks
        ),
        "outbox": Counter(
            (row.subject.split(".")[2], row.payload.get("kind") or row.payload.get("state"))
            for row in outbox
            if row.payload.get("kind") != TASK_UPDATED
        ),
        # A batch queues one update per folded-into task, and one-by-one storing one per fold.
        "updated": {
            str(owner[row.payload["task_id"]])
            for row in outbox
            if row.payload.get("kind") == TASK_UPDATED
        },
    }


def _summary(outcomes: list[Accepted]) -> list[tuple[bool, str, int]]:
    return [(accepted.created, accepted.routing, len(accepted.task_ids)) for accepted in outcomes]


async def test_batch_matches_one_by_one(batch_db: Database, alone_db: Database) -> None:
    await _stored_before(batch_db)
    await _stored_before(alone_db)

    together = await _store_together(batch_db, await _mixed_batch(batch_db))
    alone = await _store_alone(alone_db, await _mixed_batch(alone_db))

    assert _summary(together) == _summary(alone)
    assert await _snapshot(batch_db) == await _snapshot(alone_db)


async def test_batch_keeps_arrival_order(batch_db: Database) -> None:
    await _stored_before(batch_db)

    outcomes = await _store_together(batch_db, await _mixed_batch(batch_db))

    routings = [accepted.routing for accepted in outcomes]
    assert routings[1:3] == ["subject", "folded"]  # k1 opens, k2 folds into it
    assert outcomes[3].created is False  # d-1 again
    assert routings[4:6] == ["subject", "folded"]  # another source opens; the name folds
    assert outcomes[6].created is False
    assert outcomes[6].record_id == outcomes[1].record_id
    assert routings[8] == routings[10] == "subject"  # k5, resolved, opened again
    assert outcomes[9].created is False
    assert outcomes[9].record_id == outcomes[8].record_id
    assert outcomes[10].record_id != outcomes[8].record_id
    assert routings[11] == "grid"
    assert routings[12:14] == ["folded", "folded"]  # into k0's task, stored before
    snapshot = await _snapshot(batch_db)
    assert snapshot["leads"][("lab", "k1", 1)][4] == 3
    assert snapshot["leads"][("lab", "k0", 1)][4] == 3
    assert snapshot["leads"][("lab", "k5", 2)][1] == "subject"


async def test_burst_of_folds_updates_once(batch_db: Database) -> None:
    await _stored_before(batch_db)
    subjects = await _bound_subjects(batch_db, 3)
    same_subject = LeadSubjectRef(credit_code=subjects[2].credit_code)
    burst: list[Inbound] = [_lead(f"burst-{n}", subject=same_subject) for n in range(5)]

    outcomes = await _store_together(batch_db, burst)

    assert [accepted.routing for accepted in outcomes] == ["folded"] * 5
    async with batch_db.reading() as session:
        outbox = list(await session.scalars(select(OutboxMessage)))
    updates = [row for row in outbox if row.payload.get("kind") == TASK_UPDATED]
    assert len(updates) == 1
    assert updates[0].payload["task_id"] == outcomes[0].task_ids[0]
    snapshot = await _snapshot(batch_db)
    assert snapshot["leads"][("lab", "k0", 1)][4] == 6


async def test_run_takes_few_statements(batch_db: Database) -> None:
    subjects = await _bound_subjects(batch_db, 60)
    messages: list[Inbound] = [
        _lead(f"run-{n}", subject=LeadSubjectRef(credit_code=subject.credit_code))
        for n, subject in enumerate(subjects)
    ]
    messages += [
        directive(f"run-d-{n}", TargetKind.INSPECTOR, code)
        for n, code in enumerate(await _inspector_codes(batch_db, 40))
    ]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(batch_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        outcomes = await _store_together(batch_db, messages)
    finally:
        event.remove(batch_db.engine.sync_engine, "before_cursor_execute", count)

    assert all(accepted.created and len(accepted.task_ids) == 1 for accepted in outcomes)
    assert len({accepted.task_ids[0] for accepted in outcomes}) == len(messages)
    # For the directives, then for the leads: the look-ups, then per table its id query
    # (SQLite) or sequence draw (PostgreSQL) and one INSERT, with the trail's event
    # messages and the notifications in one outbox INSERT. 20 on SQLite, 19 on PostgreSQL.
    assert len(statements) <= 20, statements


async def test_unknown_inspector_fails_batch(batch_db: Database) -> None:
    codes = await _inspector_codes(batch_db, 1)
    messages: list[Inbound] = [
        directive("ok", TargetKind.INSPECTOR, codes[0]),
        directive("bad", TargetKind.INSPECTOR, "NO-SUCH-CODE"),
    ]

    with pytest.raises(NotFoundError, match="NO-SUCH-CODE"):
        await _store_together(batch_db, messages)

    async with batch_db.reading() as session:
        assert await session.scalar(select(Directive.id)) is None

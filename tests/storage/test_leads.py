"""Accepting risk leads on the Ordos example registry: routing and de-duplication."""

import pytest
from sqlalchemy import select

from dispatcher.setup import load_example_registry
from griddispatch.messages import LeadMessage, LeadSubjectRef
from storage.db import Database
from storage.leads.models import Lead
from storage.outbox.models import OutboxMessage
from storage.registry.models import Subject
from storage.tasks.models import Task, TaskEvent
from tests.storage.support import (
    GRID,
    GRID_LEADER,
    count_rows,
    inspector_of,
    receive_lead,
    trail_kinds,
)

CREDIT_CODE = "92150602MANDKQ4J2L"  # 东胜区丰泽家庭农场, bound to JG0010
BOUND_INSPECTOR = "JG0010"


@pytest.fixture
async def example_db(db: Database) -> Database:
    await load_example_registry(db)
    return db


def _lead(
    message_id: str,
    *,
    source: str = "lab",
    dedup_key: str | None = None,
    credit_code: str | None = None,
    grid_code: str | None = None,
) -> LeadMessage:
    subject = LeadSubjectRef(credit_code=credit_code) if credit_code else None
    return LeadMessage(
        message_id=message_id,
        source=source,
        dedup_key=dedup_key,
        title="韭菜样品腐霉利超标",
        text="快检结果阳性，请核查。",
        subject=subject,
        grid_code=grid_code,
    )


async def _task(db: Database, task_id: int) -> Task:
    async with db.reading() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def test_subject_lead_to_bound_inspector(example_db: Database) -> None:
    inspector = await inspector_of(example_db, BOUND_INSPECTOR)

    accepted = await receive_lead(example_db, _lead("l-subject", credit_code=CREDIT_CODE))

    assert accepted.created is True
    assert accepted.routing == "subject"
    assert len(accepted.task_ids) == 1
    task = await _task(example_db, accepted.task_ids[0])
    async with example_db.reading() as session:
        subject = await session.scalar(select(Subject).where(Subject.credit_code == CREDIT_CODE))
    assert subject is not None
    assert task.inspector_id == inspector.id
    assert task.routing == "subject"
    assert task.kind == "lead"
    assert task.lead_id == accepted.record_id
    assert task.subject_id == subject.id
    assert await trail_kinds(example_db, task.id) == ["created"]


async def test_grid_lead_to_grid_leader(example_db: Database) -> None:
    leader = await inspector_of(example_db, GRID_LEADER)

    accepted = await receive_lead(example_db, _lead("l-grid", grid_code=GRID))

    assert accepted.routing == "grid"
    assert len(accepted.task_ids) == 1
    task = await _task(example_db, accepted.task_ids[0])
    assert task.inspector_id == leader.id
    assert task.subject_id is None


async def test_same_source_and_key(example_db: Database) -> None:
    first = await receive_lead(
        example_db, _lead("l-1", dedup_key="sample-2026-0042", credit_code=CREDIT_CODE)
    )
    second = await receive_lead(
        example_db, _lead("l-2", dedup_key="sample-2026-0042", credit_code=CREDIT_CODE)
    )

    assert first.created is True
    assert second.created is False
    assert second.record_id == first.record_id
    assert second.task_ids == first.task_ids
    assert second.routing == "subject"
    assert await count_rows(example_db, Lead) == 1
    assert await count_rows(example_db, Task) == 1


async def test_same_key_other_source(example_db: Database) -> None:
    first = await receive_lead(
        example_db, _lead("l-lab", source="lab", dedup_key="2026-0042", credit_code=CREDIT_CODE)
    )
    second = await receive_lead(
        example_db,
        _lead("l-opinion", source="opinion", dedup_key="2026-0042", credit_code=CREDIT_CODE),
    )

    assert second.created is True
    assert second.record_id != first.record_id
    assert second.task_ids != first.task_ids
    assert await count_rows(example_db, Lead) == 2
    assert await count_rows(example_db, Task) == 2


async def test_message_id_as_key(example_db: Database) -> None:
    message = _lead("l-no-key", credit_code=CREDIT_CODE)

    first = await receive_lead(example_db, message)
    second = await receive_lead(example_db, message)

    assert second.created is False
    assert second.task_ids == first.task_ids
    assert await count_rows(example_db, Lead) == 1


async def test_no_subject_no_grid_triage(example_db: Database) -> None:
    accepted = await receive_lead(example_db, _lead("l-triage"))

    assert accepted.created is True
    assert accepted.routing == "triage"
    assert accepted.task_ids == []
    async with example_db.reading() as session:
        lead = await session.get(Lead, accepted.record_id)
    assert lead is not None
    assert lead.routing == "triage"
    assert await count_rows(example_db, Task) == 0
    assert await count_rows(example_db, OutboxMessage) == 0


async def test_unknown_subject_goes_to_triage(example_db: Database) -> None:
    unknown = "91150602MA00000000"

    accepted = await receive_lead(example_db, _lead("l-unknown", credit_code=unknown))

    assert accepted.routing == "triage"
    assert accepted.task_ids == []
    async with example_db.reading() as session:
        lead = await session.get(Lead, accepted.record_id)
    assert lead is not None
    assert lead.subject_id is None
    assert repr(unknown) in lead.routing_detail["notes"][0]
    assert await count_rows(example_db, Task) == 0
    assert await count_rows(example_db, TaskEvent) == 0
    assert await count_rows(example_db, OutboxMessage) == 0

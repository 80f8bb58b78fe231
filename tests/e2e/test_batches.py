"""A dispatcher that finds a backlog stores it in batches, with the same outcome as one by one."""

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dispatcher.service import DispatcherService
from griddispatch import subjects
from storage.directives.models import Directive
from storage.leads.models import Lead
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task
from tests.harness.loop import Loop, running_loop, wait_for

BATCH_LOG = re.compile(r"batch stored messages=(\d+)")


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    async with running_loop(database_url, tmp_path) as running:
        # Stop the loop's dispatcher, so that what the test publishes waits as a backlog.
        await running.dispatcher.stop()
        yield running


async def _bound_subjects(loop: Loop, count: int) -> list[Subject]:
    async with loop.db.reading() as session:
        rows = await session.scalars(
            select(Subject)
            .where(Subject.credit_code.is_not(None), Subject.inspector_id.is_not(None))
            .order_by(Subject.id)
            .limit(count)
        )
        found = list(rows)
    assert len(found) == count, "the example registry has too few bound subjects"
    return found


async def _inspectors(loop: Loop, count: int) -> list[Inspector]:
    async with loop.db.reading() as session:
        rows = await session.scalars(select(Inspector).order_by(Inspector.id).limit(count))
        return list(rows)


async def _count(loop: Loop, model: type[Any]) -> int:
    async with loop.db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _lead(subject: Subject, message_id: str, key: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "source": "opinion",
        "dedup_key": key,
        "title": f"舆情线索 {key}",
        "subject": {"credit_code": subject.credit_code},
    }


def _directive(message_id: str, code: str, kind: str = "inspector") -> dict[str, Any]:
    return {
        "message_id": message_id,
        "target": {"kind": kind, "code": code},
        "title": f"指令 {message_id}",
    }


async def _run_dispatcher(loop: Loop, *, max_batch: int, until: int) -> None:
    """Run a dispatcher over the backlog until `until` tasks exist, then stop it."""
    dispatcher = DispatcherService(
        nats_url=loop.nats.url,
        db=loop.db,
        escalation=loop.escalation,
        clock=loop.clock,
        max_batch=max_batch,
    )
    await dispatcher.start()
    try:

        async def stored() -> bool:
            return await _count(loop, Task) >= until

        await wait_for(stored, f"{until} tasks", timeout_s=30.0)
    finally:
        await dispatcher.stop()


def _batch_sizes(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [int(match[1]) for r in caplog.records if (match := BATCH_LOG.search(r.getMessage()))]


async def test_backlog_is_stored_in_batches(loop: Loop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatcher.consumers")
    subjects_ = await _bound_subjects(loop, 20)
    inspectors = await _inspectors(loop, 10)
    for index, subject in enumerate(subjects_):
        lead = _lead(subject, f"lead-{index}", key=f"k-{index}")
        await loop.publish(subjects.lead_subject("opinion"), lead, f"lead-{index}")
    # The same key again under a new message id: a repeat inside one batch.
    repeat = _lead(subjects_[0], "lead-repeat", key="k-0")
    await loop.publish(subjects.lead_subject("opinion"), repeat, "lead-repeat")
    for index, inspector in enumerate(inspectors):
        directive = _directive(f"d-{index}", inspector.code)
        await loop.publish(subjects.DIRECTIVE_ISSUE, directive, f"d-{index}")

    await _run_dispatcher(loop, max_batch=50, until=30)

    sizes = _batch_sizes(caplog)
    assert max(sizes) > 1, f"the backlog was stored one message at a time: {sizes}"
    assert await _count(loop, Task) == 30
    assert await _count(loop, Lead) == 20
    assert await _count(loop, Directive) == 10
    async with loop.db.reading() as session:
        assignees = set(
            await session.scalars(select(Task.inspector_id).where(Task.lead_id.is_not(None)))
        )
    assert assignees == {subject.inspector_id for subject in subjects_}


async def test_one_bad_message_does_not_sink_its_batch(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatcher.consumers")
    inspectors = await _inspectors(loop, 8)
    for index, inspector in enumerate(inspectors[:4]):
        await loop.publish(
            subjects.DIRECTIVE_ISSUE, _directive(f"a-{index}", inspector.code), f"a-{index}"
        )
    # Parses, but names a grid the registry does not have: only the store step finds out.
    unknown = _directive("unknown-grid", "999", kind="grid")
    await loop.publish(subjects.DIRECTIVE_ISSUE, unknown, "unknown-grid")
    await loop.publish(subjects.DIRECTIVE_ISSUE, b"{not json", "not-json")
    for index, inspector in enumerate(inspectors[4:]):
        await loop.publish(
            subjects.DIRECTIVE_ISSUE, _directive(f"b-{index}", inspector.code), f"b-{index}"
        )

    await _run_dispatcher(loop, max_batch=50, until=8)

    assert await _count(loop, Task) == 8
    assert await _count(loop, Directive) == 8
    reasons = [letter["reason"] for letter in await loop.dead_letters()]
    assert len(reasons) == 2
    assert any("grid '999' not found" in reason for reason in reasons)
    assert any("not valid JSON" in reason for reason in reasons)
    rolled_back = [r for r in caplog.records if "batch rolled back" in r.getMessage()]
    assert rolled_back, "the batch with the unknown grid should have been rolled back"

"""Folding further leads about a subject into the task its source already opened.

A monitoring system that reports the same subject ten times should give the
inspector one task whose message is edited, not ten messages. Folding
happens while the task is open (new, acknowledged or declined): once the
inspector has submitted a result, or the task was closed or cancelled, a
new lead opens a new task. The task stays the one the first lead opened.
The folded lead is stored with `folded_into_id`, counted on the first lead
and written to the trail.

On PostgreSQL, dispatcher replicas store leads in concurrent transactions.
Two of them taking the first two leads about a subject from one source would
each find no open task and each open one. So a transaction first takes a
lock on each (source, subject) it looks up (`lock_source_subjects`), held
until it commits. The second transaction then finds the first one's task and
folds into it. SQLite needs no lock, because it runs one write transaction
at a time.
"""

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import NotificationKind
from storage.directives.service import Accepted
from storage.leads.models import Lead
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, notify, record_event
from storage.tasks.states import OPEN_STATE_VALUES, TaskState

log = logging.getLogger(__name__)

FOLDED = "folded"
FINAL_STATES = (TaskState.CLOSED.value, TaskState.CANCELLED.value)


def compose_body(text: str, address: str | None) -> str:
    """Return a lead task's body: the lead's text, and its address when it gave one."""
    parts = [text] if text else []
    if address:
        parts.append(f"地址：{address}")
    return "\n".join(parts)


_LOCK_STATEMENT = text(
    "SELECT pg_advisory_xact_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key"
)


async def lock_source_subjects(session: AsyncSession, pairs: Iterable[tuple[str, int]]) -> None:
    """On PostgreSQL, lock each (source, subject id) of `pairs` until the transaction ends.

    Call it before looking up the open tasks of those pairs. One call takes
    its locks in ascending order of their keys, so two batches that share
    several pairs do not deadlock on them. Should later calls in two
    transactions still wait for each other, PostgreSQL fails one of them as
    a deadlock, and the dispatcher stores that batch again one message at a time.
    """
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    keys = sorted({_lock_key(source, subject_id) for source, subject_id in pairs})
    if keys:
        await session.execute(_LOCK_STATEMENT, {"keys": keys})


def _lock_key(source: str, subject_id: int) -> int:
    """Return the signed 64-bit advisory lock key of a (source, subject id)."""
    name = f"griddispatch.fold\x00{source}\x00{subject_id}"
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def open_task_about(
    session: AsyncSession, source: str, subject_id: int
) -> tuple[Task, Lead] | None:
    """Return the newest open task that a lead of `source` opened about the subject,
    with that lead; None when there is none. Locks the pair first, as
    `lock_source_subjects` does."""
    await lock_source_subjects(session, [(source, subject_id)])
    row = (
        await session.execute(
            select(Task, Lead)
            .join(Lead, Task.lead_id == Lead.id)
            .where(
                Lead.source == source,
                Task.subject_id == subject_id,
                Task.state.in_(OPEN_STATE_VALUES),
            )
            .order_by(Task.id.desc())
            .limit(1)
            .with_for_update(of=Task)
        )
    ).first()
    if row is None:
        return None
    task, lead = row
    return task, lead


async def fold_lead(
    session: AsyncSession, lead: Lead, task: Task, primary: Lead, *, now: datetime
) -> Accepted:
    """Store `lead` as folded into `primary`'s task and have the assignee's message edited."""
    count = mark_folded(lead, primary)
    session.add(lead)
    await session.flush()

    task.body = folded_body(primary, lead)
    task.updated_at = now
    detail = fold_detail(lead, count)
    await record_event(session, task, kind="lead_folded", actor=SYSTEM, now=now, detail=detail)
    notify(
        session, task, inspector_id=task.inspector_id, kind=NotificationKind.TASK_UPDATED, now=now
    )
    log_folded(lead, task, primary, count)
    return Accepted(record_id=lead.id, task_ids=[task.id], created=True, routing=lead.routing)


def mark_folded(lead: Lead, primary: Lead) -> int:
    """Make a new lead part of `primary`'s task; return how many leads that task now stands for."""
    lead.folded_into_id = primary.id
    lead.routing = FOLDED
    primary.lead_count += 1
    return primary.lead_count


def fold_detail(lead: Lead, count: int) -> dict[str, Any]:
    """Return the detail of the trail entry that records a folded lead."""
    detail: dict[str, Any] = {
        "lead_id": lead.id,
        "count": count,
        "source": lead.source,
        "dedup_key": lead.dedup_key,
        "title": lead.title,
        "text": lead.text,
        "severity": lead.severity,
    }
    if lead.address:
        detail["address"] = lead.address
    return detail


def log_folded(lead: Lead, task: Task, primary: Lead, count: int) -> None:
    """Log a lead folded into an open task."""
    log.info(
        "lead folded into open task lead=%s task=%s first_lead=%s count=%d",
        lead.id,
        task.id,
        primary.id,
        count,
    )


def folded_body(primary: Lead, latest: Lead) -> str:
    """Return the first lead's body followed by the count and the latest folded lead.

    Only the latest folded lead is shown, so the body stays within Telegram's
    message length however many leads arrive; the trail keeps every one.
    """
    body = compose_body(primary.text, primary.address)
    latest_lines = [f"【同一来源共 {primary.lead_count} 条线索，最新一条】{latest.title}"]
    latest_body = compose_body(latest.text, latest.address)
    if latest_body:
        latest_lines.append(latest_body)
    return "\n\n".join(part for part in (body, "\n".join(latest_lines)) if part)

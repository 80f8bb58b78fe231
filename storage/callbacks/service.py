"""Queueing, claiming and settling callback deliveries.

A delivery is queued for each task event that changes what the source needs
to know (acknowledged, submitted, closed, cancelled) and for each lead of the
task that gave a callback URL. Failed attempts wait `backoff_s`, then twice
that, and so on up to `MAX_BACKOFF_S`. After `max_attempts` failures the
delivery is parked and listed by `parked_callbacks`; it is tried again only
when an operator calls `retry_parked`.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from griddispatch.errors import IllegalTransitionError, NotFoundError
from griddispatch.messages import TaskEventMessage
from storage.callbacks.models import Callback, CallbackAttempt, CallbackState
from storage.db import Database
from storage.leads.models import Lead
from storage.tasks.models import Task

log = logging.getLogger(__name__)

# Trail entries a source hears about: the task's state changed in a way it may act on.
CALLBACK_EVENT_KINDS = frozenset(
    {
        "acknowledged",
        "submitted",
        "closed",
        "cancelled",
        "claimed_elsewhere",
        "resolved_by_source",
    }
)
MAX_BACKOFF_S = 6 * 3600.0
MAX_ERROR_CHARS = 2000


async def queue_for_event(db: Database, event: TaskEventMessage, *, now: datetime) -> int:
    """Queue one delivery of `event` per lead of its task that has a callback URL.

    Returns how many were queued; an event seen before queues none.
    """
    if event.kind not in CALLBACK_EVENT_KINDS:
        return 0
    try:
        async with db.transaction() as session:
            task = await session.get(Task, event.task_id)
            if task is None or task.lead_id is None:
                return 0
            leads = list(
                await session.scalars(
                    select(Lead).where(
                        or_(Lead.id == task.lead_id, Lead.folded_into_id == task.lead_id),
                        Lead.callback_url.is_not(None),
                    )
                )
            )
            queued = set(
                await session.scalars(
                    select(Callback.lead_id).where(Callback.event_id == event.event_id)
                )
            )
            new = [lead for lead in leads if lead.id not in queued]
            for lead in new:
                session.add(_callback_for(event, lead, now=now))
    except IntegrityError:
        log.info("callbacks already queued by another worker event=%s", event.event_id)
        return 0
    for lead in new:
        log.info(
            "callback queued event=%s task=%s lead=%s kind=%s",
            event.event_id,
            event.task_id,
            lead.id,
            event.kind,
        )
    return len(new)


def _callback_for(event: TaskEventMessage, lead: Lead, *, now: datetime) -> Callback:
    assert lead.callback_url is not None
    payload: dict[str, Any] = {
        "event": event.kind,
        "state": event.state,
        "task_id": event.task_id,
        "event_id": event.event_id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "lead": {
            "id": lead.id,
            "source": lead.source,
            "dedup_key": lead.dedup_key,
            "message_id": lead.message_id,
        },
    }
    return Callback(
        event_id=event.event_id,
        lead_id=lead.id,
        task_id=event.task_id,
        url=lead.callback_url,
        token_name=lead.callback_token,
        payload=payload,
        state=CallbackState.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def claim_due(db: Database, *, now: datetime, limit: int, lease_s: float) -> list[Callback]:
    """Return up to `limit` deliveries due now, each held for `lease_s` against other workers.

    Holding means moving `next_attempt_at` past the lease: a worker that dies
    mid-attempt leaves the delivery to be claimed again when the lease ends.
    """
    async with db.transaction() as session:
        due = list(
            await session.scalars(
                select(Callback)
                .where(
                    Callback.state == CallbackState.PENDING,
                    Callback.next_attempt_at <= now,
                )
                .order_by(Callback.next_attempt_at, Callback.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for callback in due:
            callback.next_attempt_at = now + timedelta(seconds=lease_s)
        return due


@dataclass(frozen=True)
class AttemptResult:
    """The outcome of one POST of a callback: its status code or error, and duration."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def record_attempt(
    db: Database,
    callback_id: int,
    result: AttemptResult,
    *,
    now: datetime,
    max_attempts: int,
    backoff_s: float,
) -> Callback:
    """Store an attempt and settle the delivery: delivered, waiting for a retry, or parked."""
    async with db.transaction() as session:
        callback = await session.get(Callback, callback_id, with_for_update=True)
        if callback is None:
            raise LookupError(f"callback {callback_id} not found")
        callback.attempts += 1
        session.add(
            CallbackAttempt(
                callback_id=callback.id,
                number=callback.attempts,
                at=now,
                status_code=result.status_code,
                error=(result.error or "")[:MAX_ERROR_CHARS] or None,
                duration_ms=result.duration_ms,
            )
        )
        if result.succeeded:
            callback.state = CallbackState.DELIVERED
            callback.next_attempt_at = None
            callback.finished_at = now
            return callback
        callback.last_error = _describe(result)
        if callback.attempts >= max_attempts:
            callback.state = CallbackState.PARKED
            callback.next_attempt_at = None
            callback.finished_at = now
            log.warning(
                "callback parked after %d failed attempts callback=%s task=%s error=%s",
                callback.attempts,
                callback.id,
                callback.task_id,
                callback.last_error,
            )
            return callback
        wait_s = min(backoff_s * 2 ** (callback.attempts - 1), MAX_BACKOFF_S)
        callback.next_attempt_at = now + timedelta(seconds=wait_s)
        log.info(
            "callback failed, retrying in %.0f s callback=%s attempt=%d error=%s",
            wait_s,
            callback.id,
            callback.attempts,
            callback.last_error,
        )
        return callback


def _describe(result: AttemptResult) -> str:
    if result.status_code is not None:
        return f"HTTP {result.status_code}"
    return (result.error or "unknown error")[:MAX_ERROR_CHARS]


async def park(db: Database, callback_id: int, *, reason: str, now: datetime) -> None:
    """Park a delivery without trying it, e.g. because its host left the allowlist."""
    async with db.transaction() as session:
        callback = await session.get(Callback, callback_id, with_for_update=True)
        if callback is None:
            return
        callback.state = CallbackState.PARKED
        callback.next_attempt_at = None
        callback.finished_at = now
        callback.last_error = reason[:MAX_ERROR_CHARS]
    log.warning("callback parked callback=%s reason=%s", callback_id, reason)


async def parked_callbacks(db: Database, *, limit: int = 100) -> list[Callback]:
    """Return parked deliveries, newest first."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(Callback)
            .where(Callback.state == CallbackState.PARKED)
            .order_by(Callback.id.desc())
            .limit(limit)
        )
        return list(rows)


async def retry_parked(db: Database, callback_id: int, *, now: datetime) -> Callback:
    """Make a parked delivery due now for one more attempt; return it.

    The attempt count is kept, so a failed retry parks the delivery again
    and the attempt history continues its numbering. Raises NotFoundError for
    an unknown id and IllegalTransitionError for a delivery that is not parked.
    """
    async with db.transaction() as session:
        callback = await session.get(Callback, callback_id, with_for_update=True)
        if callback is None:
            raise NotFoundError(
                "callback {callback_id} not found; list parked callbacks to see their ids",
                callback_id=callback_id,
            )
        if callback.state != CallbackState.PARKED:
            raise IllegalTransitionError(
                "callback {callback_id} is {state}, not parked; only a parked "
                "callback can be retried",
                callback_id=callback_id,
                state=callback.state,
            )
        callback.state = CallbackState.PENDING
        callback.next_attempt_at = now
        callback.finished_at = None
    log.info(
        "parked callback queued for retry callback=%s task=%s attempts=%d",
        callback.id,
        callback.task_id,
        callback.attempts,
    )
    return callback


async def attempts_of(db: Database, callback_id: int) -> list[CallbackAttempt]:
    """Return the attempts of one delivery in the order they were made."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(CallbackAttempt)
            .where(CallbackAttempt.callback_id == callback_id)
            .order_by(CallbackAttempt.number)
        )
        return list(rows)


def parked_lines(callbacks: list[Callback]) -> list[str]:
    """Return one line per parked delivery, for a terminal listing."""
    return [
        f"callback {callback.id}  task {callback.task_id}  lead {callback.lead_id}  "
        f"event {callback.payload.get('event', '?')}  attempts {callback.attempts}  "
        f"parked {callback.finished_at.isoformat() if callback.finished_at else '-'}  "
        f"url {callback.url}  last error: {callback.last_error or '-'}"
        for callback in callbacks
    ]

"""Accepting many directives to one inspector each, with a few statements for the batch.

A directive addressed to one inspector by staff code is the common case
under load. For those, the repeat check and the inspector lookup are made
for the whole batch with one query each, and the directives, tasks, trail
entries and outbox rows are inserted with one multi-row INSERT per table.

`accept_directives_in` returns None for a directive it leaves to
`accept_directive_in`: one already stored, or one whose inspector code is
unknown. The single path then returns the stored outcome or raises the
error it always raises. The caller
keeps out of the batch any message id that appears twice in it.
"""

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import DirectiveMessage, TargetKind
from storage.bulk import assign_ids, in_values
from storage.directives.models import Directive
from storage.directives.service import Accepted, directive_task, log_accepted, new_directive
from storage.escalation.policy import Escalation
from storage.registry.models import Inspector
from storage.tasks.service import create_tasks

log = logging.getLogger(__name__)


def takes_part(message: DirectiveMessage) -> bool:
    """Return whether a directive's target lets it be stored with the batch."""
    return message.target.kind is TargetKind.INSPECTOR


async def accept_directives_in(
    session: AsyncSession,
    messages: list[DirectiveMessage],
    *,
    escalation: Escalation,
    now: datetime,
) -> list[Accepted | None]:
    """Store the new directives whose inspector is known; return None for each of the others.

    Every message must pass `takes_part`, and no message id may appear twice.
    """
    stored = await _stored_message_ids(session, messages)
    inspectors = await _inspectors_by_code(session, messages)

    chosen = {
        index: inspectors[message.target.code]
        for index, message in enumerate(messages)
        if message.message_id not in stored and message.target.code in inspectors
    }
    return await _store(session, messages, chosen, escalation=escalation, now=now)


async def _stored_message_ids(session: AsyncSession, messages: list[DirectiveMessage]) -> set[str]:
    ids = {message.message_id for message in messages}
    rows = await session.scalars(
        select(Directive.message_id).where(Directive.message_id.in_(in_values(ids)))
    )
    return set(rows)


async def _inspectors_by_code(
    session: AsyncSession, messages: list[DirectiveMessage]
) -> dict[str, Inspector]:
    codes = {message.target.code for message in messages}
    rows = await session.scalars(select(Inspector).where(Inspector.code.in_(in_values(codes))))
    return {inspector.code: inspector for inspector in rows}


async def _store(
    session: AsyncSession,
    messages: list[DirectiveMessage],
    chosen: dict[int, Inspector],
    *,
    escalation: Escalation,
    now: datetime,
) -> list[Accepted | None]:
    """Insert the chosen directives and their tasks; return the outcomes in message order."""
    outcomes: list[Accepted | None] = [None] * len(messages)
    if not chosen:
        return outcomes

    directives = {index: new_directive(messages[index], now=now) for index in chosen}
    await assign_ids(session, Directive, list(directives.values()))
    session.add_all(directives.values())
    await session.flush()

    specs = [
        directive_task(messages[index], directives[index], inspector)
        for index, inspector in chosen.items()
    ]
    tasks = await create_tasks(session, specs, escalation=escalation, now=now)

    for index, task in zip(chosen, tasks, strict=True):
        directive = directives[index]
        log_accepted(directive, tasks=1)
        outcomes[index] = Accepted(record_id=directive.id, task_ids=[task.id], created=True)
    log.debug("directives stored together count=%d of=%d", len(chosen), len(messages))
    return outcomes

"""Accepting a batch of inbound directives and leads in the caller's transaction.

The batch is taken in arrival order, in runs. A run of messages that can be
stored together (directives to one inspector, and leads naming their
subject by credit code or id) is stored by `storage.directives.batch` and
`storage.leads.batch` with a few statements for the whole run. The messages
those leave, and every other message, are stored one at a time by the
function for their kind. A message whose id or dedup key another message of the
batch shares is always stored on its own, so that repeats, updates and
folding follow arrival order.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.messages import DirectiveMessage, LeadMessage, LeadUpdateMessage
from storage.directives.batch import accept_directives_in, takes_part
from storage.directives.service import Accepted, accept_directive_in
from storage.escalation.policy import Escalation
from storage.leads.batch import accept_leads_in
from storage.leads.service import accept_lead_in, dedup_key_of
from storage.leads.updates import update_lead_in

Inbound = DirectiveMessage | LeadMessage | LeadUpdateMessage


async def accept_batch(
    session: AsyncSession,
    messages: list[Inbound],
    *,
    cache_key: str,
    escalation: Escalation,
    now: datetime,
) -> list[Accepted]:
    """Store `messages` and return their outcomes in the same order.

    `cache_key` names the database for the cache of grid boundaries. An
    error from any message propagates, and the caller rolls back the batch.
    """
    together = _stored_together(messages)
    outcomes: list[Accepted] = []
    for start, end, is_run in _runs(together):
        part = messages[start:end]
        if is_run:
            outcomes.extend(
                await _accept_run(
                    session, part, cache_key=cache_key, escalation=escalation, now=now
                )
            )
            continue
        for message in part:
            outcomes.append(
                await accept_one(
                    session, message, cache_key=cache_key, escalation=escalation, now=now
                )
            )
    return outcomes


async def accept_one(
    session: AsyncSession,
    message: Inbound,
    *,
    cache_key: str,
    escalation: Escalation,
    now: datetime,
) -> Accepted:
    """Store one message with the function that handles its kind alone."""
    if isinstance(message, DirectiveMessage):
        return await accept_directive_in(session, message, escalation=escalation, now=now)
    if isinstance(message, LeadUpdateMessage):
        return await update_lead_in(session, message, escalation=escalation, now=now)
    return await accept_lead_in(
        session, message, cache_key=cache_key, escalation=escalation, now=now
    )


def _identity(message: Inbound) -> tuple[str, str]:
    """Return what makes two messages of a batch the same thing: a message id or a lead key."""
    if isinstance(message, DirectiveMessage):
        return ("directive", message.message_id)
    if isinstance(message, LeadUpdateMessage):
        return (message.source, message.dedup_key)
    return (message.source, dedup_key_of(message))


def _can_join_run(message: Inbound) -> bool:
    if isinstance(message, DirectiveMessage):
        return takes_part(message)
    if isinstance(message, LeadUpdateMessage) or message.subject is None:
        return False
    return bool(message.subject.credit_code or message.subject.id)


def _stored_together(messages: list[Inbound]) -> list[bool]:
    """Return, for each message, whether it may be stored with a run of others."""
    counts = Counter(_identity(message) for message in messages)
    return [_can_join_run(message) and counts[_identity(message)] == 1 for message in messages]


def _runs(together: list[bool]) -> Iterator[tuple[int, int, bool]]:
    """Yield (start, end, is_run) for each stretch of equal flags, in order."""
    start = 0
    for index in range(1, len(together) + 1):
        if index == len(together) or together[index] != together[start]:
            yield start, index, together[start]
            start = index


async def _accept_run(
    session: AsyncSession,
    messages: list[Inbound],
    *,
    cache_key: str,
    escalation: Escalation,
    now: datetime,
) -> list[Accepted]:
    """Store a run together, then store what the run left, one by one in arrival order."""
    directives = [(i, m) for i, m in enumerate(messages) if isinstance(m, DirectiveMessage)]
    leads = [(i, m) for i, m in enumerate(messages) if isinstance(m, LeadMessage)]
    stored: list[Accepted | None] = [None] * len(messages)
    if directives:
        outcomes = await accept_directives_in(
            session, [m for _, m in directives], escalation=escalation, now=now
        )
        for (index, _), accepted in zip(directives, outcomes, strict=True):
            stored[index] = accepted
    if leads:
        outcomes = await accept_leads_in(
            session, [m for _, m in leads], escalation=escalation, now=now
        )
        for (index, _), accepted in zip(leads, outcomes, strict=True):
            stored[index] = accepted

    return [
        accepted
        or await accept_one(session, message, cache_key=cache_key, escalation=escalation, now=now)
        for message, accepted in zip(messages, stored, strict=True)
    ]

"""What the fault run checks once the system is quiet, from the database and the Bot API server.

- every accepted directive and lead is stored, and is a task (a lead may be
  folded into the open task of an earlier lead about the same subject);
- no directive, lead or task is stored twice, and no subject has two open
  tasks opened by leads of one source;
- every notification that sends a message reached the local Bot API server,
  with duplicates counted;
- every escalation step due by the end fired exactly once, counted from the trail.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from bots.local_api.client import LocalBotApiControl
from griddispatch import subjects
from griddispatch.durations import parse_duration
from griddispatch.messages import NotificationKind
from storage.db import Database
from storage.directives.models import Directive
from storage.leads.models import Lead
from storage.outbox.models import OutboxMessage
from storage.tasks.models import Task, TaskEvent
from storage.tasks.states import OPEN_STATE_VALUES
from storage.telegram.models import Delivery
from tests.fault.traffic import LEAD_SOURCE, SentLog

# Notifications that make the bot send a new message (the others edit one).
SENDING_KINDS = {
    NotificationKind.TASK_ASSIGNED.value,
    NotificationKind.REMINDER.value,
    NotificationKind.ESCALATED.value,
    NotificationKind.DECLINED.value,
    NotificationKind.DIGEST.value,
}
STEP_KINDS = ("reminded", "escalated", "escalation_skipped")
MAX_EXAMPLES = 10


@dataclass
class Counts:
    """The counts the fault run prints; `losses` lists each kind of loss found."""

    accepted: int = 0
    directives_stored: int = 0
    leads_stored: int = 0
    leads_folded: int = 0
    tasks: int = 0
    missing_messages: int = 0
    messages_stored_twice: int = 0
    records_without_task: int = 0
    tasks_twice: int = 0
    open_tasks_twice: int = 0
    notifications: int = 0
    unpublished_outbox: int = 0
    delivered: int = 0
    not_delivered: int = 0
    bot_api_sends: int = 0
    missing_deliveries: int = 0
    missing_on_server: int = 0
    duplicate_sends: int = 0
    steps_due: int = 0
    steps_fired: int = 0
    steps_missing: int = 0
    steps_twice: int = 0
    duplicate_examples: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)

    def judge(self, *, kills: int) -> None:
        """Fill `losses` from the counts; duplicates beyond one per kill are a loss too."""
        checks = {
            "accepted messages not stored": self.missing_messages,
            "messages stored twice": self.messages_stored_twice,
            "directives or leads without a task": self.records_without_task,
            "tasks created twice": self.tasks_twice,
            "second open tasks about one subject": self.open_tasks_twice,
            "outbox rows never published": self.unpublished_outbox,
            "notifications without a delivery record": self.missing_deliveries,
            "notifications not delivered": self.not_delivered,
            "deliveries the Bot API server never got": self.missing_on_server,
            "due escalation steps not fired": self.steps_missing,
            "escalation steps fired twice": self.steps_twice,
        }
        self.losses = [f"{what}: {count}" for what, count in checks.items() if count]
        if self.duplicate_sends > kills:
            self.losses.append(
                f"duplicate sends {self.duplicate_sends} exceed one per kill ({kills})"
            )


async def count_directives(db: Database, run_id: str, sent: SentLog, counts: Counts) -> None:
    async with db.reading() as session:
        rows = (
            await session.execute(
                select(Directive.id, Directive.message_id).where(
                    Directive.message_id.like(f"{run_id}-%")
                )
            )
        ).all()
        per_directive = Counter(
            (
                await session.scalars(
                    select(Task.directive_id).where(Task.directive_id.in_([r.id for r in rows]))
                )
            ).all()
            if rows
            else []
        )
    stored = Counter(row.message_id for row in rows)
    counts.directives_stored = len(stored)
    counts.missing_messages += len(set(sent.directives) - set(stored))
    counts.messages_stored_twice += sum(n - 1 for n in stored.values() if n > 1)
    counts.records_without_task += sum(1 for row in rows if per_directive[row.id] == 0)
    counts.tasks_twice += sum(n - 1 for n in per_directive.values() if n > 1)
    counts.tasks += sum(per_directive.values())


async def count_leads(db: Database, run_id: str, sent: SentLog, counts: Counts) -> None:
    async with db.reading() as session:
        rows = (
            await session.execute(
                select(Lead.id, Lead.message_id, Lead.folded_into_id).where(
                    Lead.source == LEAD_SOURCE, Lead.message_id.like(f"{run_id}-%")
                )
            )
        ).all()
        lead_tasks = (
            await session.execute(
                select(Task.lead_id, Task.subject_id, Task.state).where(Task.lead_id.is_not(None))
            )
        ).all()
    per_lead = Counter(task.lead_id for task in lead_tasks)
    stored = Counter(row.message_id for row in rows)
    counts.leads_stored = len(stored)
    counts.missing_messages += len(set(sent.leads) - set(stored))
    counts.messages_stored_twice += sum(n - 1 for n in stored.values() if n > 1)
    folded = [row for row in rows if row.folded_into_id is not None]
    counts.leads_folded = len(folded)
    owners = [row.id for row in rows if row.folded_into_id is None]
    counts.records_without_task += sum(1 for lead_id in owners if per_lead[lead_id] == 0)
    counts.records_without_task += sum(1 for row in folded if per_lead[row.folded_into_id] == 0)
    counts.tasks_twice += sum(per_lead[lead_id] - 1 for lead_id in owners if per_lead[lead_id] > 1)
    counts.tasks += sum(per_lead[lead_id] for lead_id in owners)

    # Every lead of the run has one source, so a subject's open tasks from
    # those leads beyond the first should have been folds.
    owned = set(owners)
    open_per_subject = Counter(
        task.subject_id
        for task in lead_tasks
        if task.lead_id in owned and task.subject_id is not None and task.state in OPEN_STATE_VALUES
    )
    counts.open_tasks_twice += sum(n - 1 for n in open_per_subject.values() if n > 1)


async def count_notifications(db: Database, control: LocalBotApiControl, counts: Counts) -> None:
    async with db.reading() as session:
        outbox = (
            await session.execute(
                select(
                    OutboxMessage.msg_id, OutboxMessage.payload, OutboxMessage.published_at
                ).where(OutboxMessage.subject.like(f"{subjects.NOTIFY_TELEGRAM_PREFIX}.%"))
            )
        ).all()
        deliveries = (
            await session.execute(select(Delivery.notification_id, Delivery.chat_id))
        ).all()
        counts.not_delivered = int(
            await session.scalar(
                select(func.count()).select_from(TaskEvent).where(TaskEvent.kind == "not_delivered")
            )
            or 0
        )
    counts.unpublished_outbox = sum(1 for row in outbox if row.published_at is None)
    expected = {row.msg_id for row in outbox if _kind(row.payload) in SENDING_KINDS}
    delivered = {row.notification_id for row in deliveries}
    counts.notifications = len(expected)
    counts.delivered = len(expected & delivered)
    counts.missing_deliveries = len(expected - delivered)
    per_chat = Counter(row.chat_id for row in deliveries)
    stats = await control.stats()
    counts.bot_api_sends = stats.sends
    for chat_id in set(per_chat) | set(stats.per_chat):
        sends = stats.per_chat[chat_id].sends if chat_id in stats.per_chat else 0
        recorded = per_chat.get(chat_id, 0)
        counts.duplicate_sends += max(0, sends - recorded)
        counts.missing_on_server += max(0, recorded - sends)
        if sends > recorded and len(counts.duplicate_examples) < MAX_EXAMPLES:
            examples = counts.duplicate_examples + await _repeated_texts(control, chat_id)
            counts.duplicate_examples = examples[:MAX_EXAMPLES]


async def _repeated_texts(control: LocalBotApiControl, chat_id: int) -> list[str]:
    """Describe the messages of a chat whose first line was sent more than once."""
    messages = await control.messages(chat_id)
    first_lines = Counter(
        (message.text or "").splitlines()[0][:60] for message in messages if message.text
    )
    return [
        f"chat {chat_id}: {line!r} sent {count} times"
        for line, count in first_lines.items()
        if count > 1
    ]


def _kind(payload: dict[str, Any]) -> str:
    return str(payload.get("kind", ""))


def _policy(policy_file: Path, policy_name: str) -> dict[str, Any]:
    policies: list[dict[str, Any]] = yaml.safe_load(policy_file.read_text())["policies"]
    return next(item for item in policies if item["name"] == policy_name)


def ack_within(policy_file: Path, policy_name: str) -> timedelta:
    """Return the clock-time acknowledge deadline of a policy."""
    return timedelta(seconds=parse_duration(_policy(policy_file, policy_name)["ack_within"]))


def step_offsets(policy_file: Path, policy_name: str) -> list[timedelta]:
    """Return the `after` of each not_acknowledged step of a clock-time policy, in order."""
    policy = _policy(policy_file, policy_name)
    return [
        timedelta(seconds=parse_duration(step["after"], allow_zero=True))
        for step in policy["steps"]
    ]


async def count_escalations(
    db: Database, policy_file: Path, policy_name: str, cutoff: datetime, counts: Counts
) -> None:
    """Count steps of `policy_name` due by `cutoff` and how often each fired, from the trail."""
    offsets = step_offsets(policy_file, policy_name)
    async with db.reading() as session:
        tasks = (
            await session.execute(
                select(Task.id, Task.ack_due_at, Task.state).where(Task.policy_name == policy_name)
            )
        ).all()
        events = (
            await session.execute(
                select(TaskEvent.task_id, TaskEvent.detail)
                .join(Task, Task.id == TaskEvent.task_id)
                .where(Task.policy_name == policy_name, TaskEvent.kind.in_(STEP_KINDS))
            )
        ).all()
    fired = Counter((event.task_id, int(event.detail.get("step", 0))) for event in events)
    counts.steps_fired = sum(fired.values())
    counts.steps_twice = sum(n - 1 for n in fired.values() if n > 1)
    for task in tasks:
        if task.state != "new":
            continue
        for number, offset in enumerate(offsets, start=1):
            if task.ack_due_at + offset <= cutoff:
                counts.steps_due += 1
                counts.steps_missing += int(fired[(task.id, number)] == 0)


async def collect(
    db: Database,
    control: LocalBotApiControl,
    *,
    run_id: str,
    sent: SentLog,
    policy_file: Path,
    cutoff: datetime,
    kills: int,
) -> Counts:
    """Run every check and return the counts, with `losses` filled."""
    counts = Counts(accepted=sent.accepted)
    await count_directives(db, run_id, sent, counts)
    await count_leads(db, run_id, sent, counts)
    await count_notifications(db, control, counts)
    await count_escalations(db, policy_file, "fault-fast", cutoff, counts)
    counts.judge(kills=kills)
    return counts

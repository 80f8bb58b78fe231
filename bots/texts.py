"""Rendering task messages and keyboards, apart from the handlers that send them."""

from datetime import date

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bots.callbacks import ReassignCallback, TaskButton, TaskCallback
from griddispatch.i18n import Translator, mark
from griddispatch.labels import KIND_LABELS, PRIORITY_LABELS, STATE_LABELS, local_time
from griddispatch.messages import NotificationKind
from storage.digests.service import Digest
from storage.stats.service import Rate
from storage.tasks.states import TaskState
from storage.tasks.views import TaskView

TELEGRAM_TEXT_LIMIT = 4096
ELLIPSIS = "…"

# Common reasons offered when an inspector cannot do a task; index is the callback value.
DECLINE_REASONS = (
    mark("Not in my area"),
    mark("Cannot reach the subject"),
    mark("On leave or on another assignment"),
    # The last reason asks the inspector to type one.
    mark("Other reason (type it)"),
)

HEADERS = {
    NotificationKind.TASK_ASSIGNED: mark("New task"),
    NotificationKind.TASK_UPDATED: mark("Task"),
    NotificationKind.REMINDER: mark("Reminder: task not yet acknowledged"),
    NotificationKind.ESCALATED: mark("Escalated: task not acknowledged in time"),
    NotificationKind.DECLINED: mark("Cannot be carried out: please reassign"),
}

# Headers of reminders and escalations by the condition that fired them.
CONDITION_HEADERS = {
    (NotificationKind.REMINDER, "not_submitted"): mark("Reminder: result not yet submitted"),
    (NotificationKind.ESCALATED, "not_submitted"): mark("Escalated: result overdue"),
    (NotificationKind.ESCALATED, "not_reviewed"): mark("Escalated: result awaits review"),
    (NotificationKind.ESCALATED, "unreachable"): mark(
        "Escalated: the assignee cannot be reached on Telegram"
    ),
}


def fit(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> str:
    """Cut `text` to Telegram's length limit, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


def task_text(
    view: TaskView, kind: NotificationKind, _: Translator, condition: str | None = None
) -> str:
    """Render a task message as the inspector (or their leader) sees it now."""
    header = CONDITION_HEADERS.get((kind, condition or ""), HEADERS[kind])
    lines = [f"【{_(header)}】#{view.id} {view.title}"]
    lines.append(
        _(
            "Type: {kind} | Priority: {priority}",
            kind=_(KIND_LABELS.get(view.kind, view.kind)),
            priority=_(PRIORITY_LABELS.get(view.priority, view.priority)),
        )
    )
    if view.subject_name:
        lines.append(_("Subject: {name}", name=view.subject_name))
    if kind is NotificationKind.ESCALATED:
        lines.append(_("Assignee: {name} ({grid})", name=view.inspector_name, grid=view.grid_name))
    if view.body:
        lines.extend(["", view.body, ""])
    lines.append(_("Acknowledge by: {deadline}", deadline=local_time(view.ack_due_at)))
    lines.append(_("Result due by: {deadline}", deadline=local_time(view.due_at)))
    if view.deadline_provisional:
        lines.append(_("Deadlines are provisional until the official holiday calendar is out."))
    lines.append(_("State: {state}", state=_(STATE_LABELS[view.state])))
    if view.claimed_by_name:
        lines.append(_("Taken by {name}.", name=view.claimed_by_name))
    if view.decline_reason:
        lines.append(_("Reason: {reason}", reason=view.decline_reason))
    return fit("\n".join(lines))


def task_keyboard(view: TaskView, _: Translator) -> InlineKeyboardMarkup | None:
    """Return the buttons for a task's current state, or None when nothing is left to tap."""
    first = {
        TaskState.NEW.value: (TaskButton.ACKNOWLEDGE, _("Acknowledge")),
        TaskState.ACKNOWLEDGED.value: (TaskButton.SUBMIT, _("Submit result")),
    }.get(view.state)
    if first is None:
        return None
    button, label = first
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=label,
                    callback_data=TaskCallback(task_id=view.id, button=button).pack(),
                ),
                InlineKeyboardButton(
                    text=_("Cannot carry out"),
                    callback_data=TaskCallback(task_id=view.id, button=TaskButton.DECLINE).pack(),
                ),
            ]
        ]
    )


def decline_keyboard(task_id: int, _: Translator) -> InlineKeyboardMarkup:
    """Return one button per common decline reason, plus a way back."""
    rows = [
        [
            InlineKeyboardButton(
                text=_(reason),
                callback_data=TaskCallback(
                    task_id=task_id, button=TaskButton.DECLINE_REASON, reason=index
                ).pack(),
            )
        ]
        for index, reason in enumerate(DECLINE_REASONS)
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=_("Back"),
                callback_data=TaskCallback(task_id=task_id, button=TaskButton.BACK).pack(),
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def rate_text(rate: Rate) -> str:
    """Format a rate as a percentage with its counts, or a dash when it has no value."""
    if rate.value is None:
        return f"— (0/{rate.denominator})"
    return f"{rate.value:.1%} ({rate.numerator}/{rate.denominator})"


def digest_text(digest: Digest, day: date, _: Translator) -> str:
    """Render a daily digest of an area's tasks and its three rates this month."""
    summary = digest.summary
    lines = [
        _("【Daily digest】{area} {day}", area=summary.area_name, day=day.isoformat()),
        _("Open tasks: {count}", count=summary.open),
        _("Overdue: {count}", count=summary.overdue),
        _("Escalated: {count}", count=summary.escalated),
        _("This month:"),
        _("Registration rate: {rate}", rate=rate_text(digest.rates.registration)),
        _("Inspection coverage rate: {rate}", rate=rate_text(digest.rates.coverage)),
        _("Production compliance rate: {rate}", rate=rate_text(digest.rates.compliance)),
    ]
    return fit("\n".join(lines))


def reassign_keyboard(
    task_id: int, candidates: list[tuple[int, str]], _: Translator
) -> InlineKeyboardMarkup | None:
    """Return one button per inspector the grid leader may hand the task to."""
    if not candidates:
        return None
    rows = [
        [
            InlineKeyboardButton(
                text=_("Reassign to {name}", name=name),
                callback_data=ReassignCallback(task_id=task_id, inspector_id=inspector_id).pack(),
            )
        ]
        for inspector_id, name in candidates
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)

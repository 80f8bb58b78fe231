"""Everyday commands: /tasks, /task <id>, /grid for grid leaders, and reassignment taps."""

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bots.callbacks import ReassignCallback
from bots.deps import BotDeps
from bots.texts import fit
from griddispatch.errors import GridDispatchError
from griddispatch.i18n import Translator, gettext, locale_for
from griddispatch.labels import EVENT_LABELS, STATE_LABELS, local_time
from storage.registry.models import Inspector, Role
from storage.registry.queries import inspector_by_telegram_user
from storage.tasks.models import Task
from storage.tasks.queries import is_overdue, next_deadline, open_tasks_of, open_tasks_of_grid
from storage.tasks.service import act_on_task, reassign_task, trail
from storage.tasks.states import TaskAction
from storage.tasks.views import load_task_view

log = logging.getLogger(__name__)


class DeclineReason(StatesGroup):
    """Waiting for a decline reason typed as text."""

    text = State()


def _translator(message: Message | CallbackQuery) -> Translator:
    user = message.from_user
    return Translator(locale_for(user.language_code if user else None))


async def _inspector(deps: BotDeps, user_id: int) -> Inspector | None:
    async with deps.db.reading() as session:
        return await inspector_by_telegram_user(session, user_id)


def _task_line(task: Task, deps: BotDeps, _: Translator) -> str:
    overdue = " ⚠️" + _("Overdue") if is_overdue(task, deps.clock.now()) else ""
    return (
        f"#{task.id} {task.title}｜{_(STATE_LABELS[task.state])}｜"
        f"{local_time(next_deadline(task))}{overdue}"
    )


async def on_tasks(message: Message, deps: BotDeps) -> None:
    """List my open tasks, the most urgent first."""
    _ = _translator(message)
    inspector = await _inspector(deps, message.chat.id)
    if inspector is None:
        await message.answer(_("This Telegram account is not bound to an inspector."))
        return
    tasks = await open_tasks_of(deps.db, inspector.id)
    if not tasks:
        await message.answer(_("You have no open tasks."))
        return
    lines = [_("Your open tasks, most urgent first:")]
    lines.extend(_task_line(task, deps, _) for task in tasks)
    lines.append(_("Send /task and a number to see one task."))
    await message.answer(fit("\n".join(lines)))


async def on_task(message: Message, command: CommandObject, deps: BotDeps) -> None:
    """Show one task with its trail, to its assignee or their grid leader."""
    _ = _translator(message)
    inspector = await _inspector(deps, message.chat.id)
    if inspector is None:
        await message.answer(_("This Telegram account is not bound to an inspector."))
        return
    if not command.args or not command.args.strip().lstrip("#").isdigit():
        await message.answer(_("Send /task followed by the task number, for example /task 12."))
        return
    task_id = int(command.args.strip().lstrip("#"))
    try:
        view = await load_task_view(deps.db, task_id)
    except GridDispatchError:
        await message.answer(_("This task no longer exists."))
        return
    if not await _may_view(deps, inspector, view.inspector_id):
        await message.answer(_("This task is not assigned to you."))
        return
    lines = [f"#{view.id} {view.title}", _("State: {state}", state=_(STATE_LABELS[view.state]))]
    lines.append(_("Assignee: {name} ({grid})", name=view.inspector_name, grid=view.grid_name))
    lines.append(_("Acknowledge by: {deadline}", deadline=local_time(view.ack_due_at)))
    lines.append(_("Result due by: {deadline}", deadline=local_time(view.due_at)))
    for event in await trail(deps.db, task_id):
        lines.append(f"{local_time(event.at)} {_(EVENT_LABELS.get(event.kind, event.kind))}")
    await message.answer(fit("\n".join(lines)))


async def _may_view(deps: BotDeps, inspector: Inspector, assignee_id: int) -> bool:
    if inspector.id == assignee_id:
        return True
    async with deps.db.reading() as session:
        assignee = await session.get(Inspector, assignee_id)
    return (
        assignee is not None
        and inspector.role == Role.GRID_LEADER.value
        and inspector.division_code == assignee.division_code
    )


async def on_grid(message: Message, deps: BotDeps) -> None:
    """List the open and overdue tasks of the grid leader's grid."""
    _ = _translator(message)
    inspector = await _inspector(deps, message.chat.id)
    if inspector is None or inspector.role != Role.GRID_LEADER.value:
        await message.answer(_("/grid is for grid leaders."))
        return
    tasks = await open_tasks_of_grid(deps.db, inspector.division_code)
    overdue = sum(1 for task in tasks if is_overdue(task, deps.clock.now()))
    lines = [
        _("Open tasks of your grid: {count}, overdue: {overdue}", count=len(tasks), overdue=overdue)
    ]
    lines.extend(_task_line(task, deps, _) for task in tasks)
    await message.answer(fit("\n".join(lines)))


async def on_reassign(query: CallbackQuery, callback_data: ReassignCallback, deps: BotDeps) -> None:
    """Hand a task to the inspector a grid leader picked."""
    _ = _translator(query)
    leader = await _inspector(deps, query.from_user.id)
    if leader is None:
        await query.answer(
            _("This Telegram account is not bound to an inspector."), show_alert=True
        )
        return
    try:
        await reassign_task(
            deps.db,
            task_id=callback_data.task_id,
            leader_id=leader.id,
            to_inspector_id=callback_data.inspector_id,
            escalation=deps.escalation,
            now=deps.clock.now(),
        )
    except GridDispatchError as exc:
        log.info(
            "reassignment rejected task=%s leader=%s error=%s",
            callback_data.task_id,
            leader.id,
            exc,
        )
        view = await load_task_view(deps.db, callback_data.task_id)
        await query.answer(
            _("Nothing changed: the task is already {state}.", state=_(STATE_LABELS[view.state])),
            show_alert=True,
        )
        return
    await query.answer(_("Reassigned"))


async def start_typed_reason(
    query: CallbackQuery, task_id: int, state: FSMContext, bot: Bot
) -> None:
    """Ask the inspector to type why they cannot carry out a task."""
    _ = _translator(query)
    await state.set_state(DeclineReason.text)
    await state.update_data(decline_task_id=task_id)
    await query.answer()
    await bot.send_message(
        query.from_user.id, _("Type the reason you cannot carry out task #{id}.", id=task_id)
    )


async def on_typed_reason(message: Message, state: FSMContext, deps: BotDeps) -> None:
    """Decline the task with the typed reason."""
    _ = _translator(message)
    data = await state.get_data()
    task_id = int(data.get("decline_task_id", 0))
    await state.set_state(None)
    inspector = await _inspector(deps, message.chat.id)
    if inspector is None:
        await message.answer(_("This Telegram account is not bound to an inspector."))
        return
    try:
        await act_on_task(
            deps.db,
            task_id=task_id,
            action=TaskAction.DECLINE,
            inspector_id=inspector.id,
            escalation=deps.escalation,
            now=deps.clock.now(),
            reason=(message.text or "").strip(),
        )
    except GridDispatchError as exc:
        log.info("typed decline rejected task=%s inspector=%s error=%s", task_id, inspector.id, exc)
        await message.answer(_("This button is no longer valid."))
        return
    await message.answer(gettext("Cannot carry out", _.locale))


def create_router() -> Router:
    """Return a router with the everyday commands; each dispatcher needs its own."""
    router = Router(name="commands")
    router.message.register(on_tasks, Command("tasks"))
    router.message.register(on_task, Command("task"))
    router.message.register(on_grid, Command("grid"))
    router.callback_query.register(on_reassign, ReassignCallback.filter())
    router.message.register(on_typed_reason, StateFilter(DeclineReason.text), F.text)
    return router

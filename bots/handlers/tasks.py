"""Taps on task buttons: acknowledge (签收) and decline (无法执行) with a reason.

Callback data only names a task; whether the tapping user may act on it is
checked against the registry in `storage.tasks.service.act_on_task`.
"""

import logging

from aiogram import Bot, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage

from bots.callbacks import TaskButton, TaskCallback
from bots.deps import BotDeps
from bots.handlers.commands import start_typed_reason
from bots.handlers.submission import start_submission
from bots.texts import DECLINE_REASONS, decline_keyboard, task_keyboard
from griddispatch.errors import IllegalTransitionError, NotFoundError, PermissionDeniedError
from griddispatch.i18n import Translator, gettext, locale_for
from griddispatch.labels import STATE_LABELS
from storage.db import Database
from storage.registry.models import Inspector
from storage.registry.queries import inspector_by_telegram_user
from storage.tasks.service import act_on_task
from storage.tasks.states import TaskAction, TaskState
from storage.tasks.views import load_task_view

log = logging.getLogger(__name__)


async def _tapping_inspector(db: Database, query: CallbackQuery) -> Inspector | None:
    async with db.reading() as session:
        return await inspector_by_telegram_user(session, query.from_user.id)


async def _apply(
    query: CallbackQuery,
    data: TaskCallback,
    action: TaskAction,
    deps: BotDeps,
    reason: str | None = None,
) -> None:
    """Apply an action for the tapping user and answer the tap with the outcome."""
    _ = Translator(locale_for(query.from_user.language_code))
    inspector = await _tapping_inspector(deps.db, query)
    if inspector is None:
        log.info("tap from unbound user rejected user=%s task=%s", query.from_user.id, data.task_id)
        await query.answer(
            _("This Telegram account is not bound to an inspector."), show_alert=True
        )
        return

    try:
        task = await act_on_task(
            deps.db,
            task_id=data.task_id,
            action=action,
            inspector_id=inspector.id,
            escalation=deps.escalation,
            now=deps.clock.now(),
            reason=reason,
        )
    except PermissionDeniedError:
        log.warning(
            "tap on another inspector's task rejected task=%s inspector=%s",
            data.task_id,
            inspector.id,
        )
        await query.answer(_("This task is not assigned to you."), show_alert=True)
        return
    except NotFoundError:
        await query.answer(_("This task no longer exists."), show_alert=True)
        return
    except IllegalTransitionError:
        view = await load_task_view(deps.db, data.task_id)
        state = _(STATE_LABELS[view.state])
        await query.answer(_("Nothing changed: the task is already {state}.", state=state))
        return

    await query.answer(_(STATE_LABELS[task.state]))


async def on_task_button(
    query: CallbackQuery, callback_data: TaskCallback, deps: BotDeps, state: FSMContext, bot: Bot
) -> None:
    """Route a task button tap to its action."""
    if callback_data.button is TaskButton.ACKNOWLEDGE:
        await _apply(query, callback_data, TaskAction.ACKNOWLEDGE, deps)
    elif callback_data.button is TaskButton.SUBMIT:
        await start_submission(query, callback_data.task_id, state, deps, bot)
    elif callback_data.button is TaskButton.DECLINE:
        await _show_reasons(query, callback_data, deps.db)
    elif callback_data.button is TaskButton.DECLINE_REASON:
        await _decline(query, callback_data, deps, state, bot)
    else:
        await _show_task_buttons(query, callback_data, deps.db)


async def _show_reasons(query: CallbackQuery, data: TaskCallback, db: Database) -> None:
    """Swap the task's buttons for the decline reasons, if the user may act on the task."""
    _ = Translator(locale_for(query.from_user.language_code))
    view = await load_task_view(db, data.task_id)
    inspector = await _tapping_inspector(db, query)
    if inspector is None or inspector.id != view.inspector_id:
        await query.answer(_("This task is not assigned to you."), show_alert=True)
        return
    declinable = {TaskState.NEW.value, TaskState.ACKNOWLEDGED.value}
    if view.state not in declinable or not _editable(query):
        state = _(STATE_LABELS[view.state])
        await query.answer(_("Nothing changed: the task is already {state}.", state=state))
        return
    assert query.message is not None and not isinstance(query.message, InaccessibleMessage)
    await query.message.edit_reply_markup(reply_markup=decline_keyboard(view.id, _))
    await query.answer(_("Why can you not carry out this task?"))


async def _show_task_buttons(query: CallbackQuery, data: TaskCallback, db: Database) -> None:
    _ = Translator(locale_for(query.from_user.language_code))
    view = await load_task_view(db, data.task_id)
    if _editable(query):
        assert query.message is not None and not isinstance(query.message, InaccessibleMessage)
        await query.message.edit_reply_markup(reply_markup=task_keyboard(view, _))
    await query.answer()


async def _decline(
    query: CallbackQuery, data: TaskCallback, deps: BotDeps, state: FSMContext, bot: Bot
) -> None:
    if data.reason == len(DECLINE_REASONS) - 1:
        await start_typed_reason(query, data.task_id, state, bot)
        return
    if not 0 <= data.reason < len(DECLINE_REASONS):
        _ = Translator(locale_for(query.from_user.language_code))
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    # The trail keeps the reason in Chinese, the language the command centre reads.
    reason = gettext(DECLINE_REASONS[data.reason])
    await _apply(query, data, TaskAction.DECLINE, deps, reason=reason)


def _editable(query: CallbackQuery) -> bool:
    return query.message is not None and not isinstance(query.message, InaccessibleMessage)


def create_router() -> Router:
    """Return a router with the task button handler; each dispatcher needs its own."""
    router = Router(name="tasks")
    router.callback_query.register(on_task_button, TaskCallback.filter())
    return router

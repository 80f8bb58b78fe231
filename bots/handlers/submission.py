"""Submitting a result (提交结果): checklist items one by one, then opinion, photos, location,
a summary to confirm, and the receipt.

The draft lives in the FSM data, stored in the database, so an inspector can
leave and come back, also after the bot restarted. The next step is always
derived from what the draft already holds, so "back" only removes the last
thing entered.
"""

import asyncio
import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message, ReplyKeyboardRemove

from bots.callbacks import DraftCallback, DraftStep, ItemCallback, ItemChoice
from bots.deps import BotDeps
from bots.evidence import IMAGE_DOCUMENT, PhotoTooLargeError, save_photo
from bots.receipt_pdf import render_receipt
from bots.submit_texts import (
    CHOICE_ANSWERS,
    back_keyboard,
    item_keyboard,
    item_text,
    location_keyboard,
    photos_keyboard,
    summary_keyboard,
    summary_text,
)
from griddispatch.errors import GridDispatchError
from griddispatch.i18n import Translator, locale_for
from griddispatch.labels import STATE_LABELS
from storage.registry.queries import inspector_by_telegram_user
from storage.results.receipts import load_receipt
from storage.results.service import (
    Answer,
    ItemAnswer,
    PhotoEvidence,
    Submission,
    SubmittedResult,
    checklist_items_for_task,
    submit_result,
)
from storage.tasks.states import TaskState
from storage.tasks.views import load_task_view

log = logging.getLogger(__name__)

SUBMITTABLE = {TaskState.NEW.value, TaskState.ACKNOWLEDGED.value}


class Submit(StatesGroup):
    """Steps of a submission draft."""

    item = State()
    note = State()
    opinion = State()
    photos = State()
    location = State()
    confirm = State()


def _translator(user_language: str | None) -> Translator:
    return Translator(locale_for(user_language))


async def start_submission(
    query: CallbackQuery, task_id: int, state: FSMContext, deps: BotDeps, bot: Bot
) -> None:
    """Begin or resume the draft of a task's result, for its assignee only."""
    _ = _translator(query.from_user.language_code)
    async with deps.db.reading() as session:
        inspector = await inspector_by_telegram_user(session, query.from_user.id)
    view = await load_task_view(deps.db, task_id)
    if inspector is None or inspector.id != view.inspector_id:
        await query.answer(_("This task is not assigned to you."), show_alert=True)
        return
    if view.state not in SUBMITTABLE:
        state_label = _(STATE_LABELS[view.state])
        await query.answer(_("Nothing changed: the task is already {state}.", state=state_label))
        return

    draft = await state.get_data()
    if draft.get("task_id") != task_id:
        items = await checklist_items_for_task(deps.db, task_id)
        draft = _new_draft(task_id, [item.model_dump() for item in items])
        await state.set_data(draft)
        log.info(
            "submission started task=%s inspector=%s items=%d", task_id, inspector.id, len(items)
        )
    await query.answer()
    await _advance(bot, query.from_user.id, state, draft, _)


def _new_draft(task_id: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "items": items,
        "answers": [],
        "pending_fail": None,
        "opinion": None,
        "photos": [],
        "photos_done": False,
        "latitude": None,
        "longitude": None,
    }


async def _advance(
    bot: Bot, chat_id: int, state: FSMContext, draft: dict[str, Any], _: Translator
) -> None:
    """Ask for whatever the draft is missing next."""
    task_id = draft["task_id"]
    items = draft["items"]
    index = len(draft["answers"])
    if index < len(items):
        await state.set_state(Submit.item)
        await bot.send_message(
            chat_id,
            item_text(items[index], index, len(items), _),
            reply_markup=item_keyboard(task_id, index, _),
        )
    elif draft["opinion"] is None:
        await state.set_state(Submit.opinion)
        await bot.send_message(
            chat_id,
            _("Write your overall inspection opinion."),
            reply_markup=back_keyboard(task_id, _),
        )
    elif not draft["photos_done"]:
        await state.set_state(Submit.photos)
        await bot.send_message(
            chat_id,
            _(
                "Send photos of the site, one or more (as photos or as image files), then tap "
                "All photos sent."
            ),
            reply_markup=photos_keyboard(task_id, _),
        )
    elif draft["latitude"] is None:
        await state.set_state(Submit.location)
        await bot.send_message(
            chat_id,
            _("Share your location with the button below."),
            reply_markup=location_keyboard(_),
        )
        await bot.send_message(
            chat_id, _("Or go back a step."), reply_markup=back_keyboard(task_id, _)
        )
    else:
        await state.set_state(Submit.confirm)
        await bot.send_message(
            chat_id, summary_text(draft, _), reply_markup=summary_keyboard(task_id, _)
        )


def _step_back(step: str | None, draft: dict[str, Any]) -> None:
    """Remove the last thing entered, so `_advance` asks for it again."""
    if step == Submit.note.state:
        draft["pending_fail"] = None
    elif step in (Submit.item.state, Submit.opinion.state) and draft["answers"]:
        draft["answers"].pop()
    elif step == Submit.photos.state:
        draft["opinion"] = None
    elif step == Submit.location.state:
        draft["photos_done"] = False
    elif step == Submit.confirm.state:
        draft["latitude"] = draft["longitude"] = None


async def _current_draft(
    query: CallbackQuery, task_id: int, state: FSMContext
) -> dict[str, Any] | None:
    """Return the draft a tap belongs to, or answer that the button is no longer valid."""
    draft = await state.get_data()
    if draft.get("task_id") == task_id:
        return draft
    _ = _translator(query.from_user.language_code)
    await query.answer(_("This button is no longer valid."), show_alert=True)
    return None


async def on_item(
    query: CallbackQuery, callback_data: ItemCallback, state: FSMContext, bot: Bot
) -> None:
    """Record a checklist answer; a failed item asks for a note first."""
    draft = await _current_draft(query, callback_data.task_id, state)
    if draft is None:
        return
    _ = _translator(query.from_user.language_code)
    current = await state.get_state()
    if current != Submit.item.state or callback_data.index != len(draft["answers"]):
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    await query.answer()

    if callback_data.choice is ItemChoice.BACK:
        _step_back(current, draft)
    elif callback_data.choice is ItemChoice.FAIL:
        draft["pending_fail"] = callback_data.index
        await state.set_data(draft)
        await state.set_state(Submit.note)
        await bot.send_message(
            query.from_user.id,
            _("Describe what does not comply."),
            reply_markup=back_keyboard(draft["task_id"], _),
        )
        return
    else:
        code = draft["items"][callback_data.index]["code"]
        draft["answers"].append(
            {"code": code, "answer": CHOICE_ANSWERS[callback_data.choice], "note": None}
        )
    await state.set_data(draft)
    await _advance(bot, query.from_user.id, state, draft, _)


async def on_note(message: Message, state: FSMContext, bot: Bot) -> None:
    """Record the note of a failed item."""
    draft = await state.get_data()
    index = draft["pending_fail"]
    draft["answers"].append(
        {
            "code": draft["items"][index]["code"],
            "answer": "fail",
            "note": (message.text or "").strip(),
        }
    )
    draft["pending_fail"] = None
    await state.set_data(draft)
    await _advance(bot, message.chat.id, state, draft, _translator(_language(message)))


async def on_opinion(message: Message, state: FSMContext, bot: Bot) -> None:
    """Record the overall opinion."""
    draft = await state.get_data()
    draft["opinion"] = (message.text or "").strip()
    await state.set_data(draft)
    await _advance(bot, message.chat.id, state, draft, _translator(_language(message)))


async def on_photo(message: Message, state: FSMContext, bot: Bot, deps: BotDeps) -> None:
    """Download a photo (or an image sent as a file) into the file store and add it."""
    _ = _translator(_language(message))
    try:
        evidence = await save_photo(bot, message, deps.files, now=deps.clock.now())
    except PhotoTooLargeError:
        await message.answer(
            _(
                "This file is larger than Telegram's 20 MB download limit. "
                "Send a smaller photo, or send it as a photo instead of a file."
            )
        )
        return
    draft = await state.get_data()
    draft["photos"].append(evidence)
    await state.set_data(draft)
    await message.answer(_("Photo {number} received.", number=len(draft["photos"])))


async def on_location(message: Message, state: FSMContext, bot: Bot) -> None:
    """Record the shared location and show the summary."""
    assert message.location is not None
    _ = _translator(_language(message))
    draft = await state.get_data()
    draft["latitude"] = message.location.latitude
    draft["longitude"] = message.location.longitude
    await state.set_data(draft)
    await message.answer(_("Location received."), reply_markup=ReplyKeyboardRemove())
    await _advance(bot, message.chat.id, state, draft, _)


async def on_draft_button(
    query: CallbackQuery,
    callback_data: DraftCallback,
    state: FSMContext,
    bot: Bot,
    deps: BotDeps,
) -> None:
    """Handle back, photos done, submit and discard."""
    draft = await _current_draft(query, callback_data.task_id, state)
    if draft is None:
        return
    _ = _translator(query.from_user.language_code)
    step = callback_data.step
    if step is DraftStep.CANCEL:
        await state.clear()
        await query.answer(_("Draft discarded."))
        return
    if step is DraftStep.SUBMIT:
        await _submit(query, draft, state, bot, deps)
        return
    if step is DraftStep.PHOTOS_DONE:
        if not draft["photos"]:
            await query.answer(_("Send at least one photo first."), show_alert=True)
            return
        draft["photos_done"] = True
    else:
        _step_back(await state.get_state(), draft)
    await query.answer()
    await state.set_data(draft)
    await _advance(bot, query.from_user.id, state, draft, _)


def _submission(draft: dict[str, Any], inspector_id: int) -> Submission:
    return Submission(
        task_id=draft["task_id"],
        inspector_id=inspector_id,
        answers=[
            ItemAnswer(a["code"], Answer(a["answer"]), a.get("note")) for a in draft["answers"]
        ],
        opinion=draft["opinion"] or "",
        latitude=draft["latitude"],
        longitude=draft["longitude"],
        photos=[PhotoEvidence.from_dict(photo) for photo in draft["photos"]],
    )


async def _submit(
    query: CallbackQuery, draft: dict[str, Any], state: FSMContext, bot: Bot, deps: BotDeps
) -> None:
    _ = _translator(query.from_user.language_code)
    async with deps.db.reading() as session:
        inspector = await inspector_by_telegram_user(session, query.from_user.id)
    if inspector is None:
        await query.answer(
            _("This Telegram account is not bound to an inspector."), show_alert=True
        )
        return
    try:
        result = await submit_result(
            deps.db,
            _submission(draft, inspector.id),
            escalation=deps.escalation,
            now=deps.clock.now(),
            rules=deps.rules,
        )
    except GridDispatchError as exc:
        log.warning(
            "submission rejected task=%s inspector=%s error=%s", draft["task_id"], inspector.id, exc
        )
        await query.answer(
            _("The result could not be submitted: {reason}", reason=exc.localized(_.locale)),
            show_alert=True,
        )
        return
    await state.clear()
    await query.answer(_("Result submitted."))
    await _send_receipt(bot, query.from_user.id, result, deps, _)


async def _send_receipt(
    bot: Bot, chat_id: int, result: SubmittedResult, deps: BotDeps, _: Translator
) -> None:
    lines = [_("Result submitted. Verification code: {code}", code=result.verification_code)]
    if result.location_flagged and result.distance_m is not None:
        lines.append(
            _(
                "Your location was {distance:.0f} m from the registered one; the result "
                "is flagged for review.",
                distance=result.distance_m,
            )
        )
    if result.followup_task_id is not None:
        lines.append(
            _("A follow-up task #{id} was opened for the failed items.", id=result.followup_task_id)
        )
    await bot.send_message(chat_id, "\n".join(lines))
    receipt = await load_receipt(deps.db, result.result_id)
    # Rendering takes tenths of a second; a thread keeps the bot answering meanwhile.
    pdf = await asyncio.to_thread(render_receipt, receipt, locale=_.locale)
    document = BufferedInputFile(pdf, filename=f"receipt-{result.verification_code}.pdf")
    await bot.send_document(chat_id, document, caption=_("Inspection receipt"))
    log.info("receipt sent task=%s result=%s", result.task_id, result.result_id)


def _language(message: Message) -> str | None:
    return message.from_user.language_code if message.from_user else None


async def on_wrong_input(message: Message, state: FSMContext) -> None:
    """Say what the current step expects when the inspector sends something else."""
    _ = _translator(_language(message))
    hints = {
        Submit.item.state: _("Tap Pass, Fail or Not applicable under the item."),
        Submit.note.state: _("Describe in words what does not comply."),
        Submit.opinion.state: _("Write your opinion as text."),
        Submit.photos.state: _("Send a photo, or an image as a file, then tap All photos sent."),
        Submit.location.state: _("Tap the Send my current location button below."),
        Submit.confirm.state: _("Tap Submit, Back or Discard draft under the summary."),
    }
    await message.answer(hints.get(await state.get_state() or "", _("Use the buttons.")))


async def on_edited(message: Message) -> None:
    """Explain that an edit does not change what was already recorded."""
    _ = _translator(_language(message))
    await message.answer(_("Edits to sent messages are not used. Send the corrected text again."))


def create_router() -> Router:
    """Return a router with the submission handlers; each dispatcher needs its own."""
    router = Router(name="submission")
    router.callback_query.register(on_item, ItemCallback.filter())
    router.callback_query.register(on_draft_button, DraftCallback.filter())
    router.message.register(on_note, StateFilter(Submit.note), F.text)
    router.message.register(on_opinion, StateFilter(Submit.opinion), F.text)
    router.message.register(on_photo, StateFilter(Submit.photos), F.photo)
    router.message.register(on_photo, StateFilter(Submit.photos), IMAGE_DOCUMENT)
    router.message.register(on_location, StateFilter(Submit.location), F.location)
    router.message.register(on_wrong_input, StateFilter(Submit))
    router.edited_message.register(on_edited)
    return router

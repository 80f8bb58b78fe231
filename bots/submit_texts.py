"""Rendering the steps of a result submission: checklist items, prompts and the summary."""

from typing import Any

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bots.callbacks import DraftCallback, DraftStep, ItemCallback, ItemChoice
from bots.texts import fit
from griddispatch.i18n import Translator, mark

ANSWER_LABELS = {
    "pass": mark("Pass"),
    "fail": mark("Fail"),
    "na": mark("Not applicable"),
}
CHOICE_ANSWERS = {
    ItemChoice.PASS: "pass",
    ItemChoice.FAIL: "fail",
    ItemChoice.NOT_APPLICABLE: "na",
}


def _draft_button(task_id: int, step: DraftStep, text: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=DraftCallback(task_id=task_id, step=step).pack()
    )


def item_text(item: dict[str, Any], index: int, total: int, _: Translator) -> str:
    """Render one checklist item with its legal basis."""
    return "\n".join(
        [
            _("Checklist item {number} of {total}", number=index + 1, total=total),
            f"{item['code']} {item['text']}",
            _("Basis: {basis}", basis=item["basis"]),
        ]
    )


def item_keyboard(task_id: int, index: int, _: Translator) -> InlineKeyboardMarkup:
    """Return the answer buttons of one item, with a way back."""

    def button(choice: ItemChoice, text: str) -> InlineKeyboardButton:
        data = ItemCallback(task_id=task_id, index=index, choice=choice).pack()
        return InlineKeyboardButton(text=text, callback_data=data)

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                button(ItemChoice.PASS, _("Pass")),
                button(ItemChoice.FAIL, _("Fail")),
                button(ItemChoice.NOT_APPLICABLE, _("Not applicable")),
            ],
            [button(ItemChoice.BACK, _("Back"))],
        ]
    )


def back_keyboard(task_id: int, _: Translator) -> InlineKeyboardMarkup:
    """Return a keyboard with only a way back."""
    return InlineKeyboardMarkup(
        inline_keyboard=[[_draft_button(task_id, DraftStep.BACK, _("Back"))]]
    )


def photos_keyboard(task_id: int, _: Translator) -> InlineKeyboardMarkup:
    """Return the buttons shown while photos are collected."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _draft_button(task_id, DraftStep.PHOTOS_DONE, _("All photos sent")),
                _draft_button(task_id, DraftStep.BACK, _("Back")),
            ]
        ]
    )


def location_keyboard(_: Translator) -> ReplyKeyboardMarkup:
    """Return the reply keyboard whose button asks Telegram for the phone's location."""
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("Send my current location"), request_location=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def summary_text(draft: dict[str, Any], _: Translator) -> str:
    """Render the draft for a last look before it is submitted."""
    lines = [_("Please check your result for task #{id}:", id=draft["task_id"])]
    for answer in draft["answers"]:
        line = f"{answer['code']} {_(ANSWER_LABELS[answer['answer']])}"
        if answer.get("note"):
            line += f"：{answer['note']}"
        lines.append(line)
    lines.append(_("Opinion: {opinion}", opinion=draft.get("opinion") or ""))
    lines.append(_("Photos: {count}", count=len(draft.get("photos", []))))
    if draft.get("latitude") is not None:
        lines.append(
            _(
                "Location: {latitude:.6f}, {longitude:.6f}",
                latitude=draft["latitude"],
                longitude=draft["longitude"],
            )
        )
    return fit("\n".join(lines))


def summary_keyboard(task_id: int, _: Translator) -> InlineKeyboardMarkup:
    """Return the buttons under the summary."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_draft_button(task_id, DraftStep.SUBMIT, _("Submit"))],
            [
                _draft_button(task_id, DraftStep.BACK, _("Back")),
                _draft_button(task_id, DraftStep.CANCEL, _("Discard draft")),
            ],
        ]
    )

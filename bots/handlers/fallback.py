"""Replies to messages that no command and no open submission step takes."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.types import Message

from bots.evidence import IMAGE_DOCUMENT
from griddispatch.i18n import Translator, locale_for


def _translator(message: Message) -> Translator:
    return Translator(locale_for(message.from_user.language_code if message.from_user else None))


async def on_stray_evidence(message: Message) -> None:
    """Say that a photo or location counts only in a submission, and how to start one."""
    _ = _translator(message)
    await message.answer(
        _(
            "Photos and locations are recorded only as part of a submission. "
            "To submit a result, acknowledge the task, then tap Submit result on its card. "
            "Send /tasks to list your tasks."
        )
    )


async def on_unexpected(message: Message) -> None:
    """Say how to list tasks and this period's routine inspections."""
    _ = _translator(message)
    await message.answer(
        _("Send /tasks to list your tasks, or /plan for this period's routine inspections.")
    )


def create_router() -> Router:
    """Return the router of last resort. Include it after every other router."""
    router = Router(name="fallback")
    router.message.register(
        on_stray_evidence, StateFilter(None), F.photo | F.location | IMAGE_DOCUMENT
    )
    router.message.register(on_unexpected, StateFilter(None))
    return router

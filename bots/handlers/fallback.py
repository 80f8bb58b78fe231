"""Replies to messages that no command and no open submission step takes."""

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import Message

from griddispatch.i18n import Translator, locale_for


def _is_evidence(message: Message) -> bool:
    """Return whether a message carries a photo, an image file or a location."""
    image = message.document is not None and (message.document.mime_type or "").startswith("image/")
    return bool(message.photo or message.location or image)


async def on_unexpected(message: Message) -> None:
    """Say how to list tasks and, for a photo or location, how to make it part of a result."""
    language = message.from_user.language_code if message.from_user else None
    _ = Translator(locale_for(language))
    if _is_evidence(message):
        await message.answer(
            _(
                "Photos and locations are recorded only as part of a submission. "
                "To submit a result, acknowledge the task, then tap Submit result on its card. "
                "Send /tasks to list your tasks."
            )
        )
        return
    await message.answer(
        _("Send /tasks to list your tasks, or /plan for this period's routine inspections.")
    )


def create_router() -> Router:
    """Return the router of last resort; include it after every other router."""
    router = Router(name="fallback")
    router.message.register(on_unexpected, StateFilter(None))
    return router

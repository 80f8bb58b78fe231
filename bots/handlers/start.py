"""`/start <invite code>`: binding a Telegram account to an inspector."""

import logging

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message

from bots.deps import BotDeps
from griddispatch.errors import ValidationError
from griddispatch.i18n import Translator, locale_for
from storage.registry.service import bind_telegram

log = logging.getLogger(__name__)


async def on_start(message: Message, command: CommandObject, deps: BotDeps) -> None:
    """Bind the sender to the inspector of the invite code, or explain how to get one."""
    user = message.from_user
    if user is None:
        return
    _ = Translator(locale_for(user.language_code))
    if not command.args:
        await message.answer(_("Send /start followed by the invite code from your administrator."))
        return

    try:
        inspector = await bind_telegram(
            deps.db,
            command.args,
            user_id=user.id,
            chat_id=message.chat.id,
            language=user.language_code,
            now=deps.clock.now(),
        )
    except ValidationError:
        log.info("binding rejected user=%s", user.id)
        await message.answer(
            _("This invite code is unknown, used or expired. Ask your administrator for a new one.")
        )
        return

    await message.answer(
        _(
            "Bound to {name} ({code}). New tasks will arrive in this chat.",
            name=inspector.name,
            code=inspector.code,
        )
    )


def create_router() -> Router:
    """Return a router with the /start handler; each dispatcher needs its own."""
    router = Router(name="start")
    router.message.register(on_start, CommandStart())
    return router

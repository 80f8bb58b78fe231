"""The /plan command: this period's routine inspections of the inspector, nearest first."""

import logging

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bots.deps import BotDeps
from bots.texts import fit
from griddispatch.i18n import Translator, locale_for
from griddispatch.labels import local_time
from storage.plans.queries import PlanItem, current_plan, last_location
from storage.registry.queries import inspector_by_telegram_user

log = logging.getLogger(__name__)

# Lines of subjects shown in one message; the rest are counted.
MAX_LISTED = 30


def _distance_text(item: PlanItem, _: Translator) -> str:
    if item.distance_m is None:
        return _("distance unknown")
    if item.distance_m < 1000:
        return _("{metres} m", metres=round(item.distance_m))
    return _("{km} km", km=f"{item.distance_m / 1000:.1f}")


def _open_line(index: int, item: PlanItem, _: Translator) -> str:
    task = f" #{item.entry.task_id}" if item.entry.task_id else ""
    return _(
        "{index}. {name}｜{distance}｜due {due}{task}",
        index=index,
        name=item.subject.name,
        distance=_distance_text(item, _),
        due=local_time(item.entry.due_at),
        task=task,
    )


def render_plan(items: list[PlanItem], *, located: bool, _: Translator) -> str:
    """Render the plan message: counts, subjects to do nearest first, then subjects done."""
    done = [item for item in items if item.done]
    to_do = [item for item in items if not item.done]
    lines = [
        _("Routine inspections this period: {done} of {due} done", done=len(done), due=len(items))
    ]
    if not located:
        lines.append(_("No location reported yet, so subjects are listed by due date."))
    if to_do:
        lines.append(_("To do, nearest first:"))
        lines.extend(_open_line(i, item, _) for i, item in enumerate(to_do[:MAX_LISTED], start=1))
        if len(to_do) > MAX_LISTED:
            lines.append(_("…and {count} more", count=len(to_do) - MAX_LISTED))
    if done:
        lines.append(_("Done:"))
        lines.extend(f"✓ {item.subject.name}" for item in done[:MAX_LISTED])
        if len(done) > MAX_LISTED:
            lines.append(_("…and {count} more", count=len(done) - MAX_LISTED))
    return "\n".join(lines)


async def on_plan(message: Message, deps: BotDeps) -> None:
    """Show the inspector the subjects due this period, done and to do."""
    user = message.from_user
    _ = Translator(locale_for(user.language_code if user else None))
    async with deps.db.reading() as session:
        inspector = await inspector_by_telegram_user(session, message.chat.id)
    if inspector is None:
        await message.answer(_("This Telegram account is not bound to an inspector."))
        return
    items = await current_plan(deps.db, inspector.id, now=deps.clock.now())
    if not items:
        await message.answer(_("No routine inspections are planned for you this period."))
        return
    located = await last_location(deps.db, inspector.id) is not None
    log.info("plan shown inspector=%s entries=%d", inspector.id, len(items))
    await message.answer(fit(render_plan(items, located=located, _=_)))


def create_router() -> Router:
    """Return a router with /plan; each dispatcher needs its own."""
    router = Router(name="plan")
    router.message.register(on_plan, Command("plan"))
    return router

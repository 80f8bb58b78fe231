"""`griddispatch callbacks`: status callbacks the worker gave up on, and retrying them."""

import argparse

from dispatcher.cli.commands import database
from griddispatch.clock import SystemClock
from griddispatch.i18n import Translator
from griddispatch.labels import local_time
from griddispatch.settings import Settings
from storage.callbacks.models import Callback
from storage.callbacks.service import parked_callbacks, retry_parked


def _print_parked(callback: Callback, _: Translator) -> None:
    parked_at = local_time(callback.finished_at) if callback.finished_at else "-"
    print(
        _(
            "Callback {id}: task {task}, lead {lead}, event {event}, "
            "{attempts} attempts, parked {parked_at}",
            id=callback.id,
            task=callback.task_id,
            lead=callback.lead_id,
            event=callback.payload.get("event", "-"),
            attempts=callback.attempts,
            parked_at=parked_at,
        )
    )
    print(_("  URL: {url}", url=callback.url))
    print(_("  Last error: {error}", error=callback.last_error or "-"))


async def show_parked(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print parked callbacks, newest first."""
    async with database(settings) as db:
        parked = await parked_callbacks(db, limit=args.limit)
    for callback in parked:
        _print_parked(callback, _)
    print(_("{count} parked callbacks", count=len(parked)))
    return 0


async def retry(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Make a parked callback due now, for the worker's next delivery run."""
    async with database(settings) as db:
        callback = await retry_parked(db, args.callback_id, now=SystemClock().now())
    print(
        _(
            "Callback {id} is queued again; the worker sends it at its next delivery run.",
            id=callback.id,
        )
    )
    return 0

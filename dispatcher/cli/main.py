"""Entry point of the `griddispatch` command."""

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic

from dispatcher.cli import commands
from dispatcher.cli.parser import build_parser
from griddispatch.errors import GridDispatchError
from griddispatch.i18n import Translator
from griddispatch.logs import configure_logging
from griddispatch.settings import Settings

log = logging.getLogger(__name__)

Command = Callable[[Settings, argparse.Namespace, Translator], Coroutine[Any, Any, int]]

COMMANDS: dict[tuple[str, str | None], Command] = {
    ("up", None): commands.up,
    ("migrate", None): commands.migrate,
    ("directive", "send"): commands.send_directive,
    ("lead", "send"): commands.send_lead,
    ("tasks", None): commands.show_tasks,
    ("task", "show"): commands.show_task,
    ("task", "snooze"): commands.snooze,
    ("deadline", None): commands.show_deadline,
    ("dispatcher", None): commands.component,
    ("worker", None): commands.component,
    ("bot", None): commands.component,
    ("registry", "import"): commands.import_registry,
    ("registry", "example"): commands.import_example,
    ("inspectors", "invite"): commands.invite_inspector,
    ("chat", "show"): commands.show_chat,
    ("chat", "tap"): commands.tap_button,
}

EXIT_ERROR = 1


def main(argv: list[str] | None = None) -> int:
    """Run one `griddispatch` subcommand and return its exit code."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    long_running = args.command in {"up", "dispatcher", "worker", "bot"}
    configure_logging(settings.log_level if long_running else "WARNING")
    _ = Translator(settings.locale)
    command = COMMANDS[(args.command, getattr(args, "action", None))]
    try:
        return asyncio.run(command(settings, args, _))
    except KeyboardInterrupt:
        return 130
    except (GridDispatchError, pydantic.ValidationError) as exc:
        print(_("Error: {message}", message=exc), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

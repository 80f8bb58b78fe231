"""Entry point of the `griddispatch` command."""

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic

from dispatcher.cli.parser import build_parser
from griddispatch.errors import GridDispatchError, localized
from griddispatch.i18n import Translator
from griddispatch.logs import configure_logging
from griddispatch.settings import Settings, describe_invalid_settings

log = logging.getLogger(__name__)

QUICK = "dispatcher.cli.commands"
RUNNERS = "dispatcher.cli.runners"

Command = Callable[[Settings, argparse.Namespace, Translator], Coroutine[Any, Any, int]]

# Subcommand to (module, function). Modules load on use: the runners import the bot
# framework, which takes seconds that the quick commands should not pay.
COMMANDS: dict[tuple[str, str | None], tuple[str, str]] = {
    ("up", None): (RUNNERS, "up"),
    ("dispatcher", None): (RUNNERS, "component"),
    ("worker", None): (RUNNERS, "component"),
    ("bot", None): (RUNNERS, "component"),
    ("api", None): (RUNNERS, "component"),
    ("chat", "show"): (RUNNERS, "show_chat"),
    ("chat", "tap"): (RUNNERS, "tap_button"),
    ("chat", "say"): (RUNNERS, "say_text"),
    ("chat", "photo"): (RUNNERS, "send_photo"),
    ("chat", "locate"): (RUNNERS, "share_location"),
    ("migrate", None): (QUICK, "migrate"),
    ("directive", "send"): (QUICK, "send_directive"),
    ("lead", "send"): (QUICK, "send_lead"),
    ("tasks", None): (QUICK, "show_tasks"),
    ("task", "show"): (QUICK, "show_task"),
    ("task", "snooze"): (QUICK, "snooze"),
    ("deadline", None): (QUICK, "show_deadline"),
    ("deadletters", None): (QUICK, "show_dead_letters"),
    ("registry", "import"): (QUICK, "import_registry"),
    ("registry", "example"): (QUICK, "import_example"),
    ("inspectors", "invite"): (QUICK, "invite_inspector"),
    ("tokens", "create"): (QUICK, "create_api_token"),
    ("tokens", "revoke"): (QUICK, "revoke_api_token"),
    ("callbacks", "parked"): ("dispatcher.cli.callbacks", "show_parked"),
    ("callbacks", "retry"): ("dispatcher.cli.callbacks", "retry"),
    ("users", "create"): ("dispatcher.console.cli", "create_console_user"),
    ("grade", "set"): ("dispatcher.cli.plans", "set_grade"),
    ("grade", "history"): ("dispatcher.cli.plans", "show_grade_history"),
    ("plan", "run"): ("dispatcher.cli.plans", "run_plans"),
    ("plan", "coverage"): ("dispatcher.cli.plans", "show_coverage"),
    ("plan", "handover"): ("dispatcher.cli.plans", "hand_over"),
}


def _command(key: tuple[str, str | None]) -> Command:
    module_name, function_name = COMMANDS[key]
    command: Command = getattr(importlib.import_module(module_name), function_name)
    return command


EXIT_ERROR = 1


def main(argv: list[str] | None = None) -> int:
    """Run one `griddispatch` subcommand and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        _ = Translator()
        print(_("Error: {message}", message=describe_invalid_settings(exc)), file=sys.stderr)
        return EXIT_ERROR
    long_running = args.command in {"up", "dispatcher", "worker", "bot", "api"}
    configure_logging(settings.log_level if long_running else "WARNING")
    _ = Translator(settings.locale)
    command = _command((args.command, getattr(args, "action", None)))
    try:
        return asyncio.run(command(settings, args, _))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of the output went away (`griddispatch tasks | head`): not an error.
        # Point stdout at /dev/null so the flush at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (GridDispatchError, pydantic.ValidationError) as exc:
        print(_("Error: {message}", message=localized(exc, settings.locale)), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

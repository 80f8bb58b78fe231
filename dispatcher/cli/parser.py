"""Argument parsing of the `griddispatch` command."""

from __future__ import annotations

import argparse
from pathlib import Path

from dispatcher.cli.plan_args import add_plan_commands
from griddispatch.messages import Priority
from storage.api_tokens.models import ApiScope
from storage.api_tokens.service import DEFAULT_BURST, DEFAULT_RATE_PER_S


def _add_deadlines(send: argparse.ArgumentParser) -> None:
    send.add_argument(
        "--ack-within",
        help="acknowledge deadline: clock time (30m, 4h) or working time ('4 working hours'); "
        "default from the escalation policy",
    )
    send.add_argument(
        "--due-within",
        help="result deadline: clock time (2d) or working time ('3 working days'); "
        "default from the escalation policy",
    )


def _add_directive(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    directive = commands.add_parser("directive", help="issue directives (指令)")
    actions = directive.add_subparsers(dest="action", required=True)
    send = actions.add_parser(
        "send", help="send a directive to a grid, inspector, subject or division"
    )
    target = send.add_mutually_exclusive_group(required=True)
    target.add_argument("--grid", help="grid code: every inspector of the grid gets a task")
    target.add_argument("--inspector", help="inspector staff code")
    target.add_argument("--subject", help="subject credit code or other id: its inspector")
    target.add_argument("--division", help="division code: every inspector in every grid below")
    send.add_argument("--title", required=True, help="title, up to 200 characters")
    send.add_argument("--body", default="", help="text of the directive")
    send.add_argument("--priority", choices=[p.value for p in Priority], default="normal")
    _add_deadlines(send)
    send.add_argument(
        "--assignment",
        choices=["each", "claim"],
        default="each",
        help="each: every inspector responds; claim: the first to acknowledge takes it",
    )
    send.add_argument("--id", dest="message_id", help="message id; re-sending one id is safe")
    send.add_argument("--issued-by", help="who issues it, for the trail")
    send.add_argument("--no-wait", action="store_true", help="do not wait for the tasks")


def _add_lead(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lead = commands.add_parser("lead", help="inject risk leads (线索)")
    actions = lead.add_subparsers(dest="action", required=True)
    send = actions.add_parser("send", help="send a lead about a subject or a grid")
    send.add_argument("--source", required=True, help="source system, e.g. opinion, lab, alert")
    target = send.add_mutually_exclusive_group()
    target.add_argument("--subject", help="subject credit code or other id")
    target.add_argument("--grid", help="grid code, when no subject is known")
    send.add_argument("--title", required=True, help="title, up to 200 characters")
    send.add_argument("--text", default="", help="details of the lead")
    send.add_argument("--severity", choices=[p.value for p in Priority], default="normal")
    _add_deadlines(send)
    send.add_argument("--key", help="the source's own id of the lead (dedup key)")
    send.add_argument("--id", dest="message_id", help="message id; re-sending one id is safe")
    send.add_argument("--no-wait", action="store_true", help="do not wait for the task")


def _add_registry(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    registry = commands.add_parser("registry", help="the registry of divisions, people, subjects")
    actions = registry.add_subparsers(dest="action", required=True)
    load = actions.add_parser("import", help="import CSV or XLSX files")
    load.add_argument("files", nargs="+", type=Path, help="divisions, inspectors, subjects files")
    actions.add_parser("example", help="import the Ordos example registry")

    inspectors = commands.add_parser("inspectors", help="inspectors and their Telegram binding")
    inspector_actions = inspectors.add_subparsers(dest="action", required=True)
    invite = inspector_actions.add_parser("invite", help="make a one-time /start code")
    invite.add_argument("code", help="inspector staff code")


def _add_tasks(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tasks = commands.add_parser("tasks", help="list tasks (任务), newest first")
    tasks.add_argument("--open", action="store_true", help="only tasks still open")
    tasks.add_argument("--limit", type=int, default=50, help="how many to show (default 50)")

    task = commands.add_parser("task", help="one task")
    actions = task.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="a task and its trail")
    show.add_argument("task_id", type=int)
    snooze = actions.add_parser("snooze", help="hold a task's escalation, as its grid leader")
    snooze.add_argument("task_id", type=int)
    snooze.add_argument("--by", required=True, help="staff code of the grid leader")
    snooze.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h or 1d")
    snooze.add_argument("--reason", required=True, help="why, for the trail")


def _add_chat(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chat = commands.add_parser("chat", help="inspectors' chats on the local Bot API server")
    actions = chat.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="what the bot sent to an inspector")
    show.add_argument("inspector", help="inspector staff code")
    tap = actions.add_parser("tap", help="tap a button as the inspector")
    tap.add_argument("inspector", help="inspector staff code")
    tap.add_argument("message_id", type=int, help="message id, as `chat show` lists it")
    tap.add_argument("button", help="button text, e.g. 签收")
    say = actions.add_parser("say", help="send text or a command as the inspector")
    say.add_argument("inspector", help="inspector staff code")
    say.add_argument("text", help="what to send, e.g. /tasks or an opinion")
    photo = actions.add_parser("photo", help="send a photo from a file as the inspector")
    photo.add_argument("inspector", help="inspector staff code")
    photo.add_argument("file", type=Path, help="JPEG or PNG file")
    photo.add_argument("--caption", help="text sent with the photo")
    locate = actions.add_parser("locate", help="share a location as the inspector")
    locate.add_argument("inspector", help="inspector staff code")
    locate.add_argument("--longitude", type=float, required=True, help="WGS-84 degrees east")
    locate.add_argument("--latitude", type=float, required=True, help="WGS-84 degrees north")


def _add_tokens(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("tokens", help="tokens of the HTTP API")
    actions = tokens.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a token and print it once")
    create.add_argument("name", help="token name: 1-32 letters, digits, '.', '_' or '-'")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=[scope.value for scope in ApiScope],
        help="what the token may do; repeat the option for several scopes",
    )
    create.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE_PER_S,
        help=f"requests a second the token may make on average (default {DEFAULT_RATE_PER_S:g})",
    )
    create.add_argument(
        "--burst",
        type=int,
        default=DEFAULT_BURST,
        help=f"requests the token may make at once (default {DEFAULT_BURST})",
    )
    create.add_argument(
        "--hmac",
        action="store_true",
        help="also make a secret for signing hook request bodies with HMAC-SHA256",
    )
    create.add_argument(
        "--county", help="county code: the token reads and changes only that county's records"
    )
    revoke = actions.add_parser(
        "revoke",
        help="revoke a token; API processes reject it within GRIDDISPATCH_TOKEN_CACHE_S seconds",
    )
    revoke.add_argument("name", help="token name")


def _add_users(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser("users", help="accounts of the command-centre console")
    actions = users.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a console user")
    create.add_argument("name", help="user name: 2-40 letters, digits, '.', '_' or '-'")
    create.add_argument(
        "--role", choices=["admin", "command_centre", "county"], default="command_centre"
    )
    create.add_argument("--county", help="county code, for role county: all the user sees")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input; without it one is made and printed once",
    )


def _add_callbacks(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    callbacks = commands.add_parser("callbacks", help="status callbacks to lead sources")
    actions = callbacks.add_subparsers(dest="action", required=True)
    parked = actions.add_parser("parked", help="callbacks the worker stopped retrying")
    parked.add_argument("--limit", type=int, default=50, help="how many, newest first")
    retry = actions.add_parser("retry", help="send a parked callback again")
    retry.add_argument("callback_id", type=int, help="callback id, as `callbacks parked` lists it")


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="griddispatch",
        description="Task dispatch for grid-based agricultural product quality-safety supervision.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run everything in one process on embedded defaults")
    commands.add_parser("migrate", help="migrate the database to the latest schema")
    for component, text in (
        ("dispatcher", "run only the dispatcher (directives and leads to tasks)"),
        ("worker", "run only the worker (escalation sweeps and the outbox relay)"),
        ("bot", "run only the Telegram bot (needs TELEGRAM_BOT_TOKEN or a Bot API URL)"),
        ("api", "run only the HTTP API (GRIDDISPATCH_API_HOST, GRIDDISPATCH_API_PORT)"),
    ):
        commands.add_parser(component, help=text)
    letters = commands.add_parser("deadletters", help="messages that could not be processed")
    letters.add_argument("--limit", type=int, default=20, help="how many, newest last")
    deadline = commands.add_parser("deadline", help="show where a deadline falls")
    deadline.add_argument("spec", help="e.g. 30m, '3 working days', '4 working hours'")
    deadline.add_argument("--from", dest="start", help="start, YYYY-MM-DDTHH:MM in China time")
    _add_directive(commands)
    _add_lead(commands)
    _add_tasks(commands)
    _add_registry(commands)
    _add_chat(commands)
    _add_tokens(commands)
    _add_callbacks(commands)
    _add_users(commands)
    add_plan_commands(commands)
    return parser

"""What each `griddispatch` subcommand does. Output for users goes through the catalogs."""

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from dispatcher.publish import publish_directive, publish_lead, recent_dead_letters
from dispatcher.setup import escalation_from, load_example_registry
from griddispatch.clock import SystemClock
from griddispatch.deadlines import parse_deadline
from griddispatch.durations import parse_duration
from griddispatch.errors import NotFoundError, ValidationError
from griddispatch.i18n import Translator
from griddispatch.labels import EVENT_LABELS, STATE_LABELS, local_time
from griddispatch.messages import DirectiveMessage, LeadMessage, LeadSubjectRef, Target, TargetKind
from griddispatch.settings import Settings
from griddispatch.workcalendar import CHINA
from storage.api_tokens.service import create_token, revoke_token
from storage.db import Database
from storage.directives.models import Directive
from storage.directives.service import resolve_target
from storage.escalation.service import snooze_task
from storage.leads.models import Lead
from storage.migrate import upgrade
from storage.registry.files import KIND_NAMES
from storage.registry.queries import inspector_by_code
from storage.registry.service import create_invite, import_files
from storage.tasks.models import Task
from storage.tasks.service import list_tasks, trail
from storage.tasks.views import load_task_view

WAIT_FOR_TASKS_S = 15.0


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """Open the configured database, migrated to the latest schema."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.resolved_database_url)
    db = Database(settings.resolved_database_url)
    try:
        yield db
    finally:
        await db.dispose()


def _target(args: argparse.Namespace) -> Target:
    for kind in TargetKind:
        code = getattr(args, kind.value)
        if code:
            return Target(kind=kind, code=code)
    raise AssertionError("argparse requires one target")


def _deadline(text: str | None) -> str | None:
    """Check a deadline given on the command line; raises ValidationError naming it."""
    if text is None:
        return None
    if not text.strip():
        raise ValidationError("an empty deadline is invalid; leave the option out for the default")
    parse_deadline(text)
    return text


async def _wait_for_tasks(
    settings: Settings, record: type[Directive] | type[Lead], key: str, column: str
) -> list[int] | None:
    """Poll the database until the dispatcher stored the record; return its task ids."""
    async with database(settings) as db:
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_TASKS_S
        foreign_key = Task.directive_id if record is Directive else Task.lead_id
        while asyncio.get_running_loop().time() < deadline:
            async with db.reading() as session:
                record_id = await session.scalar(
                    select(record.id).where(getattr(record, column) == key)
                )
                if record_id is not None:
                    ids = await session.scalars(select(Task.id).where(foreign_key == record_id))
                    return list(ids)
            await asyncio.sleep(0.2)
    return None


async def send_directive(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Publish a directive and report the tasks it became."""
    message = DirectiveMessage(
        message_id=args.message_id or f"cli-{uuid.uuid4()}",
        target=_target(args),
        title=args.title,
        body=args.body,
        priority=args.priority,
        ack_within=_deadline(args.ack_within),
        due_within=_deadline(args.due_within),
        assignment=args.assignment,
        issued_by=args.issued_by,
    )
    async with database(settings) as db, db.reading() as session:
        await resolve_target(session, message.target)
    ack = await publish_directive(settings.resolved_nats_url, message)
    print(_("Directive sent: id {id}, stream sequence {seq}.", id=message.message_id, seq=ack.seq))
    if args.no_wait:
        return 0
    task_ids = await _wait_for_tasks(settings, Directive, message.message_id, "message_id")
    return _report_tasks(task_ids, _)


async def send_lead(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Publish a lead and report the task it became."""
    subject = LeadSubjectRef(credit_code=args.subject) if args.subject else None
    message = LeadMessage(
        message_id=args.message_id or f"cli-{uuid.uuid4()}",
        source=args.source,
        dedup_key=args.key,
        title=args.title,
        text=args.text,
        severity=args.severity,
        subject=subject,
        grid_code=args.grid,
        ack_within=_deadline(args.ack_within),
        due_within=_deadline(args.due_within),
    )
    ack = await publish_lead(settings.resolved_nats_url, message)
    print(_("Lead sent: id {id}, stream sequence {seq}.", id=message.message_id, seq=ack.seq))
    if args.no_wait:
        return 0
    key = args.key or message.message_id
    task_ids = await _wait_for_tasks(settings, Lead, key, "dedup_key")
    return _report_tasks(task_ids, _)


def _report_tasks(task_ids: list[int] | None, _: Translator) -> int:
    if task_ids is None:
        print(_("No tasks yet. Is `griddispatch up` running? Check the dead letters if it is."))
        return 1
    if not task_ids:
        print(_("Accepted, but nobody was assigned: the lead waits in the triage queue."))
        return 0
    print(
        _(
            "{count} tasks created: {ids}",
            count=len(task_ids),
            ids=", ".join(f"#{task_id}" for task_id in task_ids),
        )
    )
    return 0


async def show_tasks(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print tasks as a table."""
    async with database(settings) as db:
        tasks = await list_tasks(db, open_only=args.open, limit=args.limit)
        print(_("ID | State | Assignee | Acknowledge by (China time) | Title"))
        for task in tasks:
            view = await load_task_view(db, task.id)
            print(
                f"#{view.id} | {_(STATE_LABELS[view.state])} | {view.inspector_name}"
                f" ({view.inspector_code}) | {local_time(view.ack_due_at)} | {view.title}"
            )
        print(_("{count} tasks", count=len(tasks)))
    return 0


async def show_task(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print one task, its deadlines and its trail."""
    async with database(settings) as db:
        view = await load_task_view(db, args.task_id)
        print(f"#{view.id} {view.title}")
        if view.body:
            print(view.body)
        print(_("State: {state}", state=_(STATE_LABELS[view.state])))
        print(_("Assignee: {name} ({grid})", name=view.inspector_name, grid=view.grid_name))
        print(_("Acknowledge by: {deadline}", deadline=local_time(view.ack_due_at)))
        print(_("Result due by: {deadline}", deadline=local_time(view.due_at)))
        for event in await trail(db, args.task_id):
            label = _(EVENT_LABELS.get(event.kind, event.kind))
            details = " ".join(f"{key}={_shown(value)}" for key, value in event.detail.items())
            print(f"  {local_time(event.at)}  {label}  {event.actor}  {details}".rstrip())
    return 0


def _shown(value: Any) -> str:
    """Return a trail detail value for printing, with a timestamp in China Standard Time."""
    if not isinstance(value, str):
        return str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return local_time(moment) if moment.tzinfo is not None else value


async def show_dead_letters(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print the most recent dead letters with their reasons."""
    letters = await recent_dead_letters(settings.resolved_nats_url, limit=args.limit)
    for letter in letters:
        print(f"{local_time(letter.received_at)}  {letter.subject}  {letter.reason}")
        print(f"  {letter.payload[:300]}")
    print(_("{count} dead letters", count=len(letters)))
    return 0


async def import_registry(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Import registry files and print what each did, with every rejected row."""
    async with database(settings) as db:
        reports = await import_files(db, args.files)
    failed = 0
    for report in reports:
        print(
            _(
                "{file}: {kind}, {inserted} added, {updated} updated, {unchanged} unchanged, "
                "{errors} rejected",
                file=report.path,
                kind=_(KIND_NAMES.get(report.kind, report.kind)),
                inserted=report.inserted,
                updated=report.updated,
                unchanged=report.unchanged,
                errors=len(report.errors),
            )
        )
        for error in report.errors:
            print(f"  {error.localized(settings.locale)}")
        failed += len(report.errors)
    return 1 if failed else 0


async def import_example(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Import the shipped Ordos example registry."""
    async with database(settings) as db:
        await load_example_registry(db)
    print(_("Example registry imported."))
    return 0


async def invite_inspector(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Create an invite code and print how the inspector uses it."""
    async with database(settings) as db:
        invite = await create_invite(db, args.code, now=SystemClock().now())
    print(
        _(
            "Invite code: {code} (valid until {until}). The inspector sends to the bot: "
            "/start {code}",
            code=invite.code,
            until=local_time(invite.expires_at),
        )
    )
    return 0


async def migrate(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Migrate the database."""
    async with database(settings):
        pass
    print(_("Database is up to date."))
    return 0


async def snooze(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Hold a task's escalation for a while, as its grid leader, with a reason."""
    now = SystemClock().now()
    until = now + timedelta(seconds=parse_duration(args.duration))
    async with database(settings) as db:
        async with db.reading() as session:
            leader = await inspector_by_code(session, args.by)
        if leader is None:
            raise NotFoundError("inspector {code!r} not found; check the staff code", code=args.by)
        await snooze_task(
            db,
            task_id=args.task_id,
            inspector_id=leader.id,
            until=until,
            reason=args.reason,
            escalation=escalation_from(settings),
            now=now,
        )
    print(_("Task #{id} snoozed until {until}.", id=args.task_id, until=local_time(until)))
    return 0


async def show_deadline(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print where a deadline falls on the working calendar."""
    spec = parse_deadline(args.spec)
    start = SystemClock().now()
    if args.start:
        try:
            start = datetime.fromisoformat(args.start).replace(tzinfo=CHINA)
        except ValueError:
            raise ValidationError(
                "start {start!r} is invalid; write it as YYYY-MM-DDTHH:MM", start=args.start
            ) from None
    deadline = spec.resolve(start, escalation_from(settings).calendar)
    print(
        _(
            "{spec} from {start}: {deadline}",
            spec=args.spec,
            start=local_time(start),
            deadline=local_time(deadline.at),
        )
    )
    if deadline.provisional:
        print(_("Provisional: a year on the way has no official holiday calendar yet."))
    return 0


async def create_api_token(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Create a token of the HTTP API and print it, the only time it is shown."""
    async with database(settings) as db:
        record, plaintext = await create_token(
            db,
            args.name,
            [*args.scopes, *([f"county:{args.county}"] if args.county else [])],
            rate_per_s=args.rate,
            burst=args.burst,
            with_hmac_secret=args.hmac,
        )
    print(
        _(
            "Token {name} created with scopes {scopes}. It is shown only now; store it safely:",
            name=record.name,
            scopes=", ".join(record.scopes),
        )
    )
    print(plaintext)
    if record.hmac_secret:
        print(_("Secret for signing hook requests with HMAC-SHA256:"))
        print(record.hmac_secret)
    return 0


async def revoke_api_token(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Revoke a token of the HTTP API."""
    async with database(settings) as db:
        await revoke_token(db, args.name)
    print(_("Token {name} revoked.", name=args.name))
    if settings.token_cache_s > 0:
        print(
            _(
                "API processes that cached it accept it for up to {seconds} s more "
                "(GRIDDISPATCH_TOKEN_CACHE_S).",
                seconds=f"{settings.token_cache_s:g}",
            )
        )
    return 0

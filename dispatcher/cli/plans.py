"""Commands for risk grades and routine inspection plans."""

import argparse
from datetime import date, datetime, time

from dispatcher.cli.commands import database
from dispatcher.setup import escalation_from
from griddispatch.clock import SystemClock
from griddispatch.errors import ValidationError
from griddispatch.i18n import Translator
from griddispatch.labels import local_time
from griddispatch.settings import Settings
from griddispatch.workcalendar import CHINA
from storage.plans.coverage import area_figures
from storage.plans.grades import change_grade_by_hand, grade_history, plans_in
from storage.plans.progress import hand_over_subjects
from workers.plans import PlanWorker


def _day(text: str, option: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time(0), CHINA)
    except ValueError:
        raise ValidationError(
            "{option} {text!r} is invalid; write a date as YYYY-MM-DD", option=option, text=text
        ) from None


async def set_grade(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Set a subject's grade and print the change."""
    async with database(settings) as db:
        change = await change_grade_by_hand(
            db,
            plans_in(settings.plan_dir),
            subject_identifier=args.subject,
            grade=args.grade,
            actor=args.by,
            reason=args.reason,
            now=SystemClock().now(),
        )
    if change is None:
        print(_("The subject already has grade {grade}; nothing changed.", grade=args.grade))
        return 0
    print(
        _(
            "Grade changed from {old} to {new}; it applies from the next plan period.",
            old=change.old_grade or "-",
            new=change.new_grade,
        )
    )
    return 0


async def show_grade_history(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print a subject's grade changes, oldest first."""
    async with database(settings) as db:
        changes = await grade_history(db, args.subject)
    for change in changes:
        print(
            f"{local_time(change.changed_at)}  {change.old_grade or '-'} → {change.new_grade}  "
            f"{change.source}  {change.actor}  {change.reason}"
        )
    if not changes:
        print(_("No grade changes."))
    return 0


async def run_plans(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Run the plan job once and print what it did."""
    async with database(settings) as db:
        worker = PlanWorker(
            db, plans_in(settings.plan_dir), escalation_from(settings), SystemClock()
        )
        run = await worker.run_once()
    if run is None:
        print(_("Another worker is running the plan job; try again later."))
        return 1
    print(
        _(
            "Plan job: {entries} entries and {tasks} tasks created, {released} released, "
            "{lowered} grades lowered, {warnings} warnings.",
            entries=run.generated.entries,
            tasks=run.generated.tasks,
            released=run.released,
            lowered=run.lowered,
            warnings=run.warnings,
        )
    )
    return 0


async def show_coverage(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Print the plan figures of an area for a period."""
    start, end = _day(args.start, "--start"), _day(args.end, "--end")
    async with database(settings) as db:
        figures = await area_figures(
            db, args.division, start=start, end=end, now=SystemClock().now()
        )
    progress = figures.progress
    coverage = figures.coverage.value
    print(
        _(
            "Due {due}, done {done}, overdue {overdue}; coverage {coverage}; "
            "projected at the end {projected}.",
            due=progress.due,
            done=progress.done,
            overdue=progress.overdue,
            coverage="-" if coverage is None else f"{coverage:.1%}",
            projected="-" if progress.projected is None else f"{progress.projected:.1%}",
        )
    )
    return 0


async def hand_over(settings: Settings, args: argparse.Namespace, _: Translator) -> int:
    """Move a leaving inspector's subjects and open routine tasks to another inspector."""
    async with database(settings) as db:
        subjects, tasks = await hand_over_subjects(
            db, from_code=args.from_code, to_code=args.to_code, now=SystemClock().now()
        )
    print(_("{subjects} subjects and {tasks} open tasks moved.", subjects=subjects, tasks=tasks))
    return 0

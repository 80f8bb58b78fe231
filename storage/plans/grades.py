"""Risk grades (风险分级) of subjects: set by hand or on import, raised and lowered by events.

Every change writes a `GradeChange` row in the caller's transaction. A change
takes effect from the next plan period, because a period's entries are made
from the grade the subject held when the period began (see `grades_at`).
"""

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.errors import NotFoundError, ValidationError
from storage.db import Database
from storage.labs.models import LabSample
from storage.plans.config import Plan, PlanSet, load_plans
from storage.plans.models import GradeChange
from storage.registry.models import Subject
from storage.registry.queries import subject_by_identifier
from storage.results.models import InspectionResult

log = logging.getLogger(__name__)

# The lab verdicts that count as a finding, as storage.labs.service.FINDINGS lists them. That
# module raises grades through this one, so importing it here would be circular.
FAILED_SAMPLE_VERDICTS = ("exceeds", "banned")


class GradeSource(StrEnum):
    """The cause of a grade change, as the trail records it."""

    HAND = "hand"
    IMPORT = "import"
    RESULT = "result"
    LAB = "lab"
    CLEAN_RUN = "clean_run"


@cache
def plans_in(folder: Path | None) -> PlanSet:
    """Return the plans of `folder` (the shipped plans for None), loaded once per process."""
    return load_plans(folder)


def effective_grade(subject: Subject, plan: Plan) -> str:
    """Return the subject's grade, or the plan's default for a missing or unknown grade."""
    if subject.risk_grade in plan.grade_codes:
        return subject.risk_grade
    return plan.spec.default_grade


async def set_grade(
    session: AsyncSession,
    subject: Subject,
    grade: str,
    *,
    source: GradeSource,
    actor: str,
    reason: str,
    now: datetime,
) -> bool:
    """Set a subject's grade and record the change; return False when it already had it."""
    if subject.risk_grade == grade:
        return False
    session.add(
        GradeChange(
            subject_id=subject.id,
            old_grade=subject.risk_grade,
            new_grade=grade,
            source=source.value,
            actor=actor,
            reason=reason,
            changed_at=now,
        )
    )
    previous = subject.risk_grade
    subject.risk_grade = grade
    log.info(
        "risk grade changed subject=%s from=%s to=%s source=%s actor=%s",
        subject.id,
        previous,
        grade,
        source.value,
        actor,
    )
    return True


async def raise_grade(
    session: AsyncSession,
    subject: Subject,
    plans: PlanSet,
    *,
    source: GradeSource,
    reason: str,
    now: datetime,
) -> bool:
    """Move a subject one grade riskier because of a finding; return whether it changed."""
    plan = plans.for_day(now.date())
    current = effective_grade(subject, plan)
    return await set_grade(
        session,
        subject,
        plan.raised(current),
        source=source,
        actor="system",
        reason=reason,
        now=now,
    )


async def change_grade_by_hand(
    db: Database,
    plans: PlanSet,
    *,
    subject_identifier: str,
    grade: str,
    actor: str,
    reason: str,
    now: datetime,
) -> GradeChange | None:
    """Set a subject's grade by hand; return the trail row, or None when nothing changed.

    Raises NotFoundError for an unknown subject and ValidationError for a
    grade the plan does not define or a missing reason.
    """
    plan = plans.for_day(now.date())
    code = grade.strip()
    if code not in plan.grade_codes:
        raise ValidationError(
            "risk grade {grade!r} is not defined in plan {version}; use one of {grades}",
            grade=grade,
            version=plan.version,
            grades=plan.grade_codes,
        )
    if not reason.strip():
        raise ValidationError("a reason is required for a grade change; say why it changes")
    async with db.transaction() as session:
        subject = await subject_by_identifier(session, subject_identifier)
        if subject is None:
            raise NotFoundError(
                "subject {subject_identifier!r} not found; give its credit code or other id",
                subject_identifier=subject_identifier,
            )
        changed = await set_grade(
            session, subject, code, source=GradeSource.HAND, actor=actor, reason=reason, now=now
        )
        if not changed:
            return None
        await session.flush()
        return await session.scalar(
            select(GradeChange)
            .where(GradeChange.subject_id == subject.id)
            .order_by(GradeChange.id.desc())
            .limit(1)
        )


async def grade_history(db: Database, subject_identifier: str) -> list[GradeChange]:
    """Return a subject's grade changes, oldest first. Raises NotFoundError."""
    async with db.reading() as session:
        subject = await subject_by_identifier(session, subject_identifier)
        if subject is None:
            raise NotFoundError(
                "subject {subject_identifier!r} not found; give its credit code or other id",
                subject_identifier=subject_identifier,
            )
        rows = await session.scalars(
            select(GradeChange)
            .where(GradeChange.subject_id == subject.id)
            .order_by(GradeChange.changed_at, GradeChange.id)
        )
        return list(rows)


async def grades_at(session: AsyncSession, moment: datetime) -> dict[int, str | None]:
    """Return the grade each subject changed after `moment` had at `moment`.

    Subjects missing from the result have held their current grade since then.
    """
    rows = await session.execute(
        select(GradeChange.subject_id, GradeChange.old_grade)
        .where(GradeChange.changed_at > moment)
        .order_by(GradeChange.subject_id, GradeChange.changed_at.desc(), GradeChange.id.desc())
    )
    earlier: dict[int, str | None] = {}
    for subject_id, old_grade in rows:
        # Rows run newest first per subject, so the last one kept is the first change after.
        earlier[subject_id] = old_grade
    return earlier


async def on_failed_sample(
    session: AsyncSession, subject: Subject, plans: PlanSet, *, sample: LabSample, now: datetime
) -> bool:
    """Raise the grade of the subject of a failed lab sample; return whether it changed."""
    return await raise_grade(
        session,
        subject,
        plans,
        source=GradeSource.LAB,
        reason=f"lab sample {sample.sample_id} failed: {sample.analyte} ({sample.verdict})",
        now=now,
    )


async def on_result(
    session: AsyncSession,
    subject: Subject,
    plans: PlanSet,
    *,
    result: InspectionResult,
    now: datetime,
) -> bool:
    """Raise the subject's grade after a non-compliant (不合格) result; return if it changed."""
    if result.compliant:
        return False
    return await raise_grade(
        session,
        subject,
        plans,
        source=GradeSource.RESULT,
        reason=f"non-compliant inspection result {result.id} (task {result.task_id})",
        now=now,
    )


async def lower_after_clean_runs(db: Database, plans: PlanSet, *, now: datetime) -> int:
    """Lower by one step every raised grade that has had a clean run; return how many changed.

    A run is clean when the last grade change is at least `lower_after_days`
    old and since then the subject had `lower_after_clean_inspections` or
    more compliant results, no non-compliant one and no failed lab sample.
    """
    plan = plans.for_day(now.date())
    rules = plan.spec.grading
    changed = 0
    async with db.transaction() as session:
        candidates = await session.execute(_clean_run_query(plan, now))
        for subject, since in candidates.all():
            changed += await set_grade(
                session,
                subject,
                plan.lowered(effective_grade(subject, plan)),
                source=GradeSource.CLEAN_RUN,
                actor="system",
                reason=(
                    f"{rules.lower_after_clean_inspections} or more compliant inspections and "
                    f"no finding in {rules.lower_after_days} days since {since.date()}"
                ),
                now=now,
            )
    if changed:
        log.info("risk grades lowered after clean runs count=%d", changed)
    return changed


def _clean_run_query(plan: Plan, now: datetime) -> Select[Any]:
    """Select the subjects with a clean run, and when their grade last changed, in one query."""
    rules = plan.spec.grading
    last_change = (
        select(GradeChange.subject_id, func.max(GradeChange.changed_at).label("at"))
        .group_by(GradeChange.subject_id)
        .subquery()
    )
    since_change = (
        InspectionResult.subject_id == last_change.c.subject_id,
        InspectionResult.submitted_at > last_change.c.at,
    )
    results = (
        select(
            InspectionResult.subject_id,
            func.count(case((InspectionResult.compliant.is_(True), 1))).label("clean"),
            func.count(case((InspectionResult.compliant.is_(False), 1))).label("failed"),
        )
        .join(last_change, and_(*since_change))
        .group_by(InspectionResult.subject_id)
        .subquery()
    )
    failed_samples = (
        select(LabSample.subject_id)
        .join(last_change, last_change.c.subject_id == LabSample.subject_id)
        .where(
            LabSample.received_at > last_change.c.at,
            LabSample.verdict.in_(FAILED_SAMPLE_VERDICTS),
        )
    )
    return (
        select(Subject, last_change.c.at)
        .join(last_change, last_change.c.subject_id == Subject.id)
        .join(results, results.c.subject_id == Subject.id)
        .where(
            last_change.c.at <= now - timedelta(days=rules.lower_after_days),
            Subject.risk_grade.is_not(None),
            Subject.risk_grade != plan.grade_codes[-1],
            results.c.clean >= rules.lower_after_clean_inspections,
            results.c.failed == 0,
            Subject.id.not_in(failed_samples),
        )
    )

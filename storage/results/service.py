"""Submitting an inspection result, with everything it causes, in one transaction."""

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from griddispatch.deadlines import parse_deadline
from griddispatch.errors import NotFoundError, PermissionDeniedError, ValidationError
from griddispatch.geo import distance_m
from griddispatch.messages import NotificationKind
from storage.db import Database
from storage.escalation.plan import replan
from storage.escalation.policy import Escalation
from storage.plans.grades import on_result, plans_in
from storage.plans.progress import close_entries_for_result
from storage.registry.models import Inspector, Subject
from storage.results.checklists import Checklist, ChecklistItem, checklist_for
from storage.results.models import InspectionResult, Photo, ResultItem
from storage.tasks.models import Task
from storage.tasks.service import SYSTEM, Actor, NewTask, create_task, notify, record_event
from storage.tasks.states import TaskAction, TaskState, next_state

log = logging.getLogger(__name__)

DEFAULT_FLAG_DISTANCE_M = 500.0
DEFAULT_FOLLOWUP_WITHIN = "10 working days"
# Verification codes avoid 0/O and 1/I/L, which people misread when typing them.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
NO_CHECKLIST = "none"


class Answer(StrEnum):
    """The conclusion on one checklist item: 合格 / 不合格 / 不适用."""

    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "na"


@dataclass(frozen=True)
class ItemAnswer:
    """An inspector's answer to one item; a failed item needs a note."""

    item_code: str
    answer: Answer
    note: str | None = None


@dataclass(frozen=True)
class PhotoEvidence:
    """A photo already saved in the file store."""

    telegram_file_id: str
    telegram_file_unique_id: str
    storage_key: str
    sha256: str
    size_bytes: int
    mime_type: str
    received_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PhotoEvidence":
        """Build evidence from its JSON form, as a draft keeps it."""
        values = dict(data)
        values["received_at"] = datetime.fromisoformat(values["received_at"])
        return cls(**values)


@dataclass(frozen=True)
class Submission:
    """Everything an inspector sends for one task."""

    task_id: int
    inspector_id: int
    answers: list[ItemAnswer]
    opinion: str
    latitude: float | None = None
    longitude: float | None = None
    photos: list[PhotoEvidence] = field(default_factory=list)


@dataclass(frozen=True)
class SubmittedResult:
    """The outcome of a submission: result id, verification code, flags and follow-up."""

    result_id: int
    task_id: int
    verification_code: str
    compliant: bool
    distance_m: float | None
    location_flagged: bool
    followup_task_id: int | None


@dataclass(frozen=True)
class ResultRules:
    """Settings of result handling."""

    flag_distance_m: float = DEFAULT_FLAG_DISTANCE_M
    followup_within: str = DEFAULT_FOLLOWUP_WITHIN
    # Folder of inspection plan files, whose grade list a failed result raises a subject on;
    # None means the shipped plans.
    plan_dir: Path | None = None


def checklist_of_task(subject: Subject | None) -> Checklist | None:
    """Return the checklist a task's result answers, or None for a task without a subject."""
    return checklist_for(subject.industry) if subject is not None else None


def _check_answers(checklist: Checklist | None, industry: str, answers: list[ItemAnswer]) -> None:
    expected = [item.code for item in checklist.items_for(industry)] if checklist else []
    given = [answer.item_code for answer in answers]
    if given != expected:
        raise ValidationError(
            "answers cover items {given}, but the checklist needs {expected} in that order; "
            "answer every item",
            given=given,
            expected=expected,
        )
    unexplained = [a.item_code for a in answers if a.answer is Answer.FAIL and not a.note]
    if unexplained:
        raise ValidationError(
            "failed items {unexplained} need a note saying what was found", unexplained=unexplained
        )


async def _lock_task(session: AsyncSession, submission: Submission) -> Task:
    task = await session.scalar(select(Task).where(Task.id == submission.task_id).with_for_update())
    if task is None:
        raise NotFoundError(
            "task {task_id} not found; check the task id", task_id=submission.task_id
        )
    if task.inspector_id != submission.inspector_id:
        raise PermissionDeniedError(
            "only the assignee of task {task_id} can submit its result", task_id=task.id
        )
    return task


def _new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _location_check(
    subject: Subject | None, submission: Submission, rules: ResultRules
) -> tuple[float | None, bool]:
    if submission.latitude is None or submission.longitude is None:
        return None, False
    if subject is None or subject.latitude is None or subject.longitude is None:
        return None, False
    distance = distance_m(
        submission.longitude, submission.latitude, subject.longitude, subject.latitude
    )
    return round(distance, 1), distance > rules.flag_distance_m


async def submit_result(
    db: Database,
    submission: Submission,
    *,
    escalation: Escalation,
    now: datetime,
    rules: ResultRules | None = None,
) -> SubmittedResult:
    """Store a result, move the task to submitted, and open a follow-up task if anything failed.

    A result more than `rules.flag_distance_m` from the subject's registered
    location is stored and flagged, not refused. Raises ValidationError for
    missing answers or notes, PermissionDeniedError for anyone but the
    assignee, and IllegalTransitionError for a task that cannot take a result.
    """
    rules = rules or ResultRules()
    async with db.transaction() as session:
        task = await _lock_task(session, submission)
        inspector = await session.get(Inspector, submission.inspector_id)
        assert inspector is not None
        subject = await session.get(Subject, task.subject_id) if task.subject_id else None
        checklist = checklist_of_task(subject)
        _check_answers(checklist, subject.industry if subject else "", submission.answers)
        await _move_to_submitted(session, task, inspector, escalation=escalation, now=now)

        distance, flagged = _location_check(subject, submission, rules)
        compliant = all(answer.answer is not Answer.FAIL for answer in submission.answers)
        result = InspectionResult(
            task_id=task.id,
            subject_id=task.subject_id,
            inspector_id=inspector.id,
            checklist_group=checklist.industry_group if checklist else NO_CHECKLIST,
            checklist_version=checklist.version if checklist else "",
            compliant=compliant,
            opinion=submission.opinion,
            latitude=submission.latitude,
            longitude=submission.longitude,
            distance_m=distance,
            location_flagged=flagged,
            verification_code=_new_code(),
            submitted_at=now,
        )
        session.add(result)
        await session.flush()
        _add_items_and_photos(session, result, task, submission)
        await close_entries_for_result(session, result, now=now)
        if subject is not None:
            await on_result(session, subject, plans_in(rules.plan_dir), result=result, now=now)

        detail = {
            "result_id": result.id,
            "compliant": compliant,
            "verification_code": result.verification_code,
            "distance_m": distance,
            "location_flagged": flagged,
            "photos": len(submission.photos),
        }
        await record_event(
            session,
            task,
            kind="submitted",
            actor=Actor.inspector(inspector),
            now=now,
            detail=detail,
        )
        notify(
            session,
            task,
            inspector_id=task.inspector_id,
            kind=NotificationKind.TASK_UPDATED,
            now=now,
        )
        followup = None
        if not compliant and subject is not None:
            followup = await _open_followup(
                session, task, subject, escalation=escalation, now=now, rules=rules
            )
        log.info(
            "result submitted task=%s result=%s inspector=%s compliant=%s flagged=%s",
            task.id,
            result.id,
            inspector.id,
            compliant,
            flagged,
        )
        return SubmittedResult(
            result_id=result.id,
            task_id=task.id,
            verification_code=result.verification_code,
            compliant=compliant,
            distance_m=distance,
            location_flagged=flagged,
            followup_task_id=followup.id if followup else None,
        )


async def _move_to_submitted(
    session: AsyncSession,
    task: Task,
    inspector: Inspector,
    *,
    escalation: Escalation,
    now: datetime,
) -> None:
    """Acknowledge first if the inspector skipped it, then submit, re-planning the chain."""
    if task.state == TaskState.NEW.value:
        task.state = next_state(task.state, TaskAction.ACKNOWLEDGE).value
        await record_event(
            session,
            task,
            kind="acknowledged",
            actor=Actor.inspector(inspector),
            now=now,
            detail={"with_result": True},
        )
    task.state = next_state(task.state, TaskAction.SUBMIT).value
    task.updated_at = now
    policy = escalation.policy_named(task.policy_name, task.kind, task.priority)
    review = parse_deadline(policy.review_within).resolve(now, escalation.calendar)
    task.review_due_at = review.at
    replan(task, policy, escalation.calendar)


def _add_items_and_photos(
    session: AsyncSession, result: InspectionResult, task: Task, submission: Submission
) -> None:
    for position, answer in enumerate(submission.answers, start=1):
        session.add(
            ResultItem(
                result_id=result.id,
                position=position,
                item_code=answer.item_code,
                answer=answer.answer.value,
                note=answer.note,
            )
        )
    for photo in submission.photos:
        session.add(
            Photo(
                result_id=result.id,
                task_id=task.id,
                telegram_file_id=photo.telegram_file_id,
                telegram_file_unique_id=photo.telegram_file_unique_id,
                storage_key=photo.storage_key,
                sha256=photo.sha256,
                size_bytes=photo.size_bytes,
                mime_type=photo.mime_type,
                received_at=photo.received_at,
            )
        )


async def _open_followup(
    session: AsyncSession,
    task: Task,
    subject: Subject,
    *,
    escalation: Escalation,
    now: datetime,
    rules: ResultRules,
) -> Task:
    """Open a rectification follow-up (整改) task for the same subject and inspector."""
    spec = NewTask(
        kind="followup",
        inspector_id=task.inspector_id,
        title=f"整改复查：{subject.name}",
        body=f"任务 #{task.id} 检查发现不合格项，请督促整改并复查。",
        priority=task.priority,
        routing="followup",
        due_within=rules.followup_within,
        subject_id=subject.id,
    )
    followup = await create_task(session, spec, escalation=escalation, now=now)
    await record_event(
        session,
        task,
        kind="followup_opened",
        actor=SYSTEM,
        now=now,
        detail={"followup_task_id": followup.id},
    )
    return followup


async def result_by_code(db: Database, code: str) -> InspectionResult:
    """Return the result a receipt's verification code names. Raises NotFoundError."""
    async with db.reading() as session:
        result = await session.scalar(
            select(InspectionResult).where(InspectionResult.verification_code == code.upper())
        )
        if result is None:
            raise NotFoundError(
                "verification code {code!r} matches no inspection result", code=code
            )
        return result


async def checklist_items_for_task(db: Database, task_id: int) -> list[ChecklistItem]:
    """Return the checklist items a task's result must answer; none for a task without subject."""
    async with db.reading() as session:
        task = await session.get(Task, task_id)
        if task is None:
            raise NotFoundError("task {task_id} not found; check the task id", task_id=task_id)
        subject = await session.get(Subject, task.subject_id) if task.subject_id else None
    checklist = checklist_of_task(subject)
    if checklist is None or subject is None:
        return []
    return checklist.items_for(subject.industry)


async def result_id_of_task(db: Database, task_id: int) -> int | None:
    """Return the id of the result submitted for a task, or None while there is none."""
    async with db.reading() as session:
        return await session.scalar(
            select(InspectionResult.id).where(InspectionResult.task_id == task_id)
        )


async def photos_of_task(db: Database, task_id: int) -> list[Photo]:
    """Return the photos kept for a task, in the order they arrived."""
    async with db.reading() as session:
        rows = await session.scalars(
            select(Photo).where(Photo.task_id == task_id).order_by(Photo.received_at, Photo.id)
        )
        return list(rows)


async def photo_of_task(db: Database, task_id: int, photo_id: int) -> Photo:
    """Return one photo of a task. Raises NotFoundError unless the photo belongs to the task."""
    async with db.reading() as session:
        photo = await session.get(Photo, photo_id)
    if photo is None or photo.task_id != task_id:
        raise NotFoundError(
            "photo {photo_id} of task {task_id} not found", photo_id=photo_id, task_id=task_id
        )
    return photo

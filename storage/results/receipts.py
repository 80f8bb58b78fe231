"""The content of an inspection receipt (检查回执), read back from a stored result."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from griddispatch.errors import NotFoundError
from storage.db import Database
from storage.registry.models import Inspector, Subject
from storage.results.checklists import load_checklists
from storage.results.models import InspectionResult, Photo, ResultItem
from storage.tasks.models import Task


@dataclass(frozen=True)
class ReceiptItem:
    """One checklist line of a receipt."""

    code: str
    text: str
    answer: str  # "pass", "fail" or "na"
    note: str | None


@dataclass(frozen=True)
class Receipt:
    """Everything a receipt shows: who inspected whom, when and where, and what they found."""

    result_id: int
    task_id: int
    task_title: str
    verification_code: str
    submitted_at: datetime
    inspector_name: str
    inspector_code: str
    subject_name: str | None
    subject_credit_code: str | None
    subject_address: str | None
    checklist_title: str | None
    checklist_version: str
    items: list[ReceiptItem]
    opinion: str
    compliant: bool
    latitude: float | None
    longitude: float | None
    distance_m: float | None
    location_flagged: bool
    photo_count: int


def _item_texts(group: str) -> tuple[str | None, dict[str, str]]:
    checklist = load_checklists().get(group)
    if checklist is None:
        return None, {}
    return checklist.title, {item.code: item.text for item in checklist.items}


async def load_receipt(db: Database, result_id: int) -> Receipt:
    """Return the receipt of one result. Raises NotFoundError for an unknown result."""
    async with db.reading() as session:
        result = await session.get(InspectionResult, result_id)
        if result is None:
            raise NotFoundError("inspection result {result_id} not found", result_id=result_id)
        task = await session.get(Task, result.task_id)
        inspector = await session.get(Inspector, result.inspector_id)
        assert task is not None and inspector is not None
        subject = await session.get(Subject, result.subject_id) if result.subject_id else None
        items = list(
            await session.scalars(
                select(ResultItem)
                .where(ResultItem.result_id == result.id)
                .order_by(ResultItem.position)
            )
        )
        photos = len(
            list(await session.scalars(select(Photo.id).where(Photo.result_id == result.id)))
        )
    title, texts = _item_texts(result.checklist_group)
    return Receipt(
        result_id=result.id,
        task_id=task.id,
        task_title=task.title,
        verification_code=result.verification_code,
        submitted_at=result.submitted_at,
        inspector_name=inspector.name,
        inspector_code=inspector.code,
        subject_name=subject.name if subject else None,
        subject_credit_code=(subject.credit_code or subject.other_id) if subject else None,
        subject_address=subject.address if subject else None,
        checklist_title=title,
        checklist_version=result.checklist_version,
        items=[
            ReceiptItem(
                item.item_code, texts.get(item.item_code, item.item_code), item.answer, item.note
            )
            for item in items
        ],
        opinion=result.opinion,
        compliant=result.compliant,
        latitude=result.latitude,
        longitude=result.longitude,
        distance_m=result.distance_m,
        location_flagged=result.location_flagged,
        photo_count=photos,
    )

"""Submitting a result in the bot, as an inspector does it in the field."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bots.local_api.client import SentMessage
from griddispatch import subjects
from griddispatch.geo import distance_m
from storage.registry.models import Inspector, Subject
from storage.results.models import InspectionResult, Photo, ResultItem
from storage.tasks.models import Task
from tests.bot.support import task_id_of
from tests.harness.images import png
from tests.harness.loop import Loop, running_loop

FAILED_ITEM = 3
NOTE = "库房发现禁用农药包装"
# About 400 m and 2 km north of a point, in degrees of latitude.
NORTH_400_M = 0.0036
NORTH_2_KM = 0.018


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    async with running_loop(database_url, tmp_path) as running:
        yield running


async def _planting_subject(loop: Loop) -> tuple[Subject, Inspector]:
    async with loop.db.reading() as session:
        subject = await session.scalar(
            select(Subject)
            .where(Subject.industry == "planting", Subject.credit_code.is_not(None))
            .order_by(Subject.id)
            .limit(1)
        )
        assert subject is not None and subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
        assert inspector is not None
        return subject, inspector


async def _acknowledged_lead(loop: Loop, subject: Subject, user: int) -> SentMessage:
    lead = {
        "message_id": "lead-submit",
        "source": "opinion",
        "title": "舆情：疑似违规使用禁用农药",
        "subject": {"credit_code": subject.credit_code},
    }
    await loop.publish(subjects.lead_subject("opinion"), lead, "lead-submit")
    card = await loop.chats.receives(user, "疑似违规使用禁用农药")
    await loop.delivery_recorded(task_id_of(card))
    await loop.control.tap(user, card.message_id, button_text="签收")
    return await loop.chats.message_becomes(user, card.message_id, "已签收")


async def _answer_checklist(loop: Loop, user: int, items: int) -> None:
    for index in range(items):
        item = await loop.chats.receives(user, f"检查项 {index + 1}/{items}")
        if index == FAILED_ITEM:
            await loop.control.tap(user, item.message_id, button_text="不合格")
            await loop.chats.receives(user, "不合格的情况")
            await loop.control.send_text(user, NOTE)
        else:
            await loop.control.tap(user, item.message_id, button_text="合格")


async def _send_evidence(loop: Loop, user: int, subject: Subject, north: float) -> None:
    await loop.chats.receives(user, "总体检查意见")
    await loop.control.send_text(user, "总体良好，禁用农药问题须立即整改")
    prompt = await loop.chats.receives(user, "现场照片")
    await loop.control.send_photo(user, png())
    await loop.chats.receives(user, "第 1 张")
    await loop.control.send_photo(
        user, png(64, 48, (200, 10, 10)), as_document=True, file_name="库房.png"
    )
    await loop.chats.receives(user, "第 2 张")
    await loop.control.tap(user, prompt.message_id, button_text="照片已发完")
    await loop.chats.receives(user, "发送您的位置")
    await loop.chats.receives(user, "返回上一步")
    assert subject.latitude is not None and subject.longitude is not None
    await loop.control.send_location(user, subject.latitude + north, subject.longitude)
    await loop.chats.receives(user, "已收到位置")


@pytest.mark.parametrize(("north", "flagged"), [(NORTH_400_M, False), (NORTH_2_KM, True)])
async def test_submission_stores_result_and_sends_receipt(
    loop: Loop, north: float, flagged: bool
) -> None:
    subject, inspector = await _planting_subject(loop)
    user = await loop.bind(inspector)
    card = await _acknowledged_lead(loop, subject, user)

    await loop.control.tap(user, card.message_id, button_text="提交结果")
    await _answer_checklist(loop, user, items=12)
    await _send_evidence(loop, user, subject, north)
    summary = await loop.chats.receives(user, "请核对", NOTE, "照片：2 张")
    await loop.control.tap(user, summary.message_id, button_text="提交")
    confirmation = await loop.chats.receives(user, "核验码", "整改复查任务")
    receipt = await loop.chats.receives(user, "检查回执")

    assert receipt.kind == "document"
    assert ("已标记待核查" in (confirmation.text or "")) is flagged
    async with loop.db.reading() as session:
        result = await session.scalar(select(InspectionResult))
        assert result is not None
        items = list(
            await session.scalars(
                select(ResultItem)
                .where(ResultItem.result_id == result.id)
                .order_by(ResultItem.position)
            )
        )
        photos = list(await session.scalars(select(Photo).where(Photo.result_id == result.id)))
        followups = list(await session.scalars(select(Task).where(Task.kind == "followup")))
        task = await session.get(Task, result.task_id)
    assert task is not None
    assert task.state == "submitted"
    assert result.verification_code in (confirmation.text or "")
    assert result.checklist_version == "2026.1"
    assert result.compliant is False
    assert result.location_flagged is flagged
    assert result.distance_m is not None
    assert abs(result.distance_m - distance_m(0, 0, 0, north)) < 5
    assert [item.answer for item in items].count("fail") == 1
    assert items[FAILED_ITEM].note == NOTE
    assert len(photos) == 2
    assert {photo.mime_type for photo in photos} == {"image/jpeg", "image/png"}
    for photo in photos:
        assert len(photo.sha256) == 64
        assert await loop.bot.files.exists(photo.storage_key)
    assert len(followups) == 1
    assert followups[0].subject_id == subject.id
    assert followups[0].inspector_id == inspector.id
    assert await loop.trail_kinds(result.task_id) == [
        "created",
        "delivered",
        "acknowledged",
        "submitted",
        "followup_opened",
    ]

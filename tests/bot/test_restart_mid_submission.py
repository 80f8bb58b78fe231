"""A submission draft survives a restart of the bot service."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bots.app import BotService
from bots.local_api.client import SentMessage
from griddispatch.settings import LOCAL_BOT_TOKEN
from storage.registry.models import Subject
from storage.results.models import InspectionResult, ResultItem
from storage.results.service import checklist_items_for_task
from storage.telegram.drafts import Draft
from tests.bot.support import (
    GRID_INSPECTORS,
    acknowledge,
    bind_codes,
    directive_for,
    drafts,
    labels,
    lead_card,
    planting_subject,
    submit_without_checklist,
    task_id_of,
)
from tests.harness.images import png
from tests.harness.loop import Loop, running_loop

FAILED_ITEM = 2
NOTE = "农药出入库记录缺失"
ANSWERED_BEFORE_RESTART = 6
OPINION = "重启后继续填写"


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    """A running loop whose bot a test may replace. The fixture stops the replacement afterwards."""
    async with running_loop(database_url, tmp_path) as running:
        first_bot = running.bot
        yield running
        if running.bot is not first_bot:
            await running.bot.stop()


async def _restart_bot(loop: Loop) -> None:
    """Stop the bot service and start a new one on the same database, as running_loop does."""
    files = loop.bot.files
    await loop.bot.stop()
    bot = BotService(
        nats_url=loop.nats.url,
        db=loop.db,
        clock=loop.clock,
        escalation=loop.escalation,
        files=files,
        token=LOCAL_BOT_TOKEN,
        api_url=loop.api.base_url,
        poll_timeout_s=1,
    )
    await bot.start()
    loop.bot = bot


async def _answer(loop: Loop, user: int, item: SentMessage, index: int) -> None:
    if index == FAILED_ITEM:
        await loop.control.tap(user, item.message_id, button_text="不合格")
        await loop.chats.receives(user, "不合格的情况")
        await loop.control.send_text(user, NOTE)
    elif index % 2:
        await loop.control.tap(user, item.message_id, button_text="不适用")
    else:
        await loop.control.tap(user, item.message_id, button_text="合格")


async def _answer_items(loop: Loop, user: int, numbers: range, total: int) -> None:
    for index in numbers:
        item = await loop.chats.receives(user, f"检查项 {index + 1}/{total}")
        await _answer(loop, user, item, index)


async def _finish(loop: Loop, user: int, subject: Subject) -> None:
    """Give the opinion, a photo and the location after the checklist, then submit."""
    await loop.chats.receives(user, "总体检查意见")
    await loop.control.send_text(user, OPINION)
    prompt = await loop.chats.receives(user, "现场照片")
    await loop.control.send_photo(user, png())
    await loop.chats.receives(user, "第 1 张")
    await loop.control.tap(user, prompt.message_id, button_text="照片已发完")
    await loop.chats.receives(user, "发送您的位置")
    await loop.chats.receives(user, "返回上一步")
    assert subject.latitude is not None
    assert subject.longitude is not None
    await loop.control.send_location(user, subject.latitude, subject.longitude)
    await loop.chats.receives(user, "已收到位置")
    summary = await loop.chats.receives(user, "请核对", NOTE)
    await loop.control.tap(user, summary.message_id, button_text="提交")
    await loop.chats.receives(user, "核验码")
    await loop.chats.receives(user, "检查回执")


def _expected_answer(index: int) -> str:
    if index == FAILED_ITEM:
        return "fail"
    return "na" if index % 2 else "pass"


async def test_draft_survives_bot_restart(loop: Loop) -> None:
    subject, inspector = await planting_subject(loop)
    user = await loop.bind(inspector)
    card = await acknowledge(loop, user, await lead_card(loop, subject, user, "restart"))
    task_id = task_id_of(card)
    items = await checklist_items_for_task(loop.db, task_id)
    total = len(items)
    await loop.control.tap(user, card.message_id, button_text="提交结果")
    await _answer_items(loop, user, range(ANSWERED_BEFORE_RESTART), total)
    # The old bot sends the next item, and the inspector answers it after the restart.
    next_item = await loop.chats.receives(user, f"检查项 {ANSWERED_BEFORE_RESTART + 1}/{total}")

    stored = await drafts(loop)
    assert len(stored) == 1
    assert stored[0].state == "Submit:item"
    assert [a["code"] for a in stored[0].data["answers"]] == [
        item.code for item in items[:ANSWERED_BEFORE_RESTART]
    ]

    await _restart_bot(loop)
    await _answer(loop, user, next_item, ANSWERED_BEFORE_RESTART)
    await _answer_items(loop, user, range(ANSWERED_BEFORE_RESTART + 1, total), total)
    await _finish(loop, user, subject)
    followup = await loop.chats.receives(user, "整改复查", "待签收")

    async with loop.db.reading() as session:
        result = await session.scalar(
            select(InspectionResult).where(InspectionResult.task_id == task_id)
        )
        assert result is not None
        answers = list(
            await session.scalars(
                select(ResultItem)
                .where(ResultItem.result_id == result.id)
                .order_by(ResultItem.position)
            )
        )
    assert [answer.item_code for answer in answers] == [item.code for item in items]
    assert [answer.answer for answer in answers] == [_expected_answer(i) for i in range(total)]
    assert [answer.position for answer in answers] == list(range(1, total + 1))
    assert answers[FAILED_ITEM].note == NOTE
    assert result.opinion == OPINION
    assert labels(followup) == ["签收", "无法执行"]
    assert await loop.trail_kinds(task_id) == [
        "created",
        "delivered",
        "acknowledged",
        "submitted",
        "followup_opened",
    ]
    await loop.chats.assert_no_unexpected([user])


async def test_submitted_draft_leaves_no_row(loop: Loop) -> None:
    owner, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    await directive_for(loop, owner, "cleared-draft", "提交后清除草稿")
    card = await acknowledge(loop, user, await loop.chats.receives(user, "提交后清除草稿"))

    await submit_without_checklist(loop, user, card)

    assert await drafts(loop) == []
    async with loop.db.reading() as session:
        rows = list(await session.scalars(select(Draft)))
    assert rows == []


async def test_followup_card_names_kind(loop: Loop) -> None:
    subject, inspector = await planting_subject(loop)
    user = await loop.bind(inspector)
    card = await acknowledge(loop, user, await lead_card(loop, subject, user, "followup-kind"))
    items = await checklist_items_for_task(loop.db, task_id_of(card))
    await loop.control.tap(user, card.message_id, button_text="提交结果")

    await _answer_items(loop, user, range(len(items)), len(items))
    await _finish(loop, user, subject)
    followup = await loop.chats.receives(user, "整改复查", "待签收")

    assert "followup" not in (followup.text or "")

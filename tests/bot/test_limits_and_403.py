"""Telegram's size limits on everything the bot sends, and an inspector who blocked the bot."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bots.local_api.client import SentMessage
from storage.registry.models import Inspector
from storage.tasks.models import Task
from tests.bot.support import (
    GRID,
    GRID_INSPECTORS,
    GRID_LEADER,
    ORDOS_LATITUDE,
    ORDOS_LONGITUDE,
    acknowledge,
    bind_codes,
    directive_for,
    issue_directive,
    labels,
    open_draft_at_photos,
    submit_without_checklist,
    wait_for_button,
)
from tests.harness.images import png
from tests.harness.loop import ESCALATE_AFTER, Loop, wait_for

# Bot API limits: message text, media caption (in characters) and callback data (in bytes).
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
ACK_WITHIN = timedelta(minutes=30)
# The directive schema's longest title and body.
LONG_TITLE = "关于开展农产品质量安全专项整治行动的通知" * 10
LONG_BODY = ("请各网格监管员于本周内完成辖区内农药经营门店、种植基地和畜禽养殖场的全面检查。" * 80)[
    :3000
]
# A Telegram user can send up to 4,096 characters in one message.
MAX_LENGTH_TEXT = "检" * MAX_TEXT


def _oversize(message: SentMessage) -> list[str]:
    """Describe every part of a message that is over Telegram's limits."""
    found = []
    limit = MAX_CAPTION if message.kind in {"document", "photo"} else MAX_TEXT
    texts = [message.text, *(edit.text for edit in message.edits)]
    for text in texts:
        if text is not None and len(text) > limit:
            found.append(f"message {message.message_id}: {len(text)} characters of {message.kind}")
    rows = [message.buttons, *(edit.buttons for edit in message.edits)]
    for buttons in rows:
        for row in buttons:
            for label, data in row:
                if data is not None and len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
                    found.append(f"message {message.message_id}: button {label!r} data {data!r}")
    return found


async def _reminders_recorded(loop: Loop, tasks: list[Task]) -> None:
    """Wait until each task's reminder is recorded as delivered.

    On PostgreSQL the sweep skips a task while a delivery record for it is being written
    (see test_sweep_locks.py), so the next sweep waits for these records.
    """

    async def recorded() -> bool:
        for task in tasks:
            if (await loop.trail_kinds(task.id))[-2:] != ["reminded", "delivered"]:
                return False
        return True

    await wait_for(recorded, "the reminders' delivery records")


async def test_whole_scenario_fits_limits(loop: Loop, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    bound = await bind_codes(loop, *GRID_INSPECTORS, GRID_LEADER)
    users = {code: user for code, (_, user) in bound.items()}
    leader_user = users[GRID_LEADER]
    await issue_directive(
        loop,
        "long-directive",
        {"kind": "grid", "code": GRID},
        title=LONG_TITLE,
        body=LONG_BODY,
        ack_within_s=ACK_WITHIN.total_seconds(),
    )
    tasks = await loop.tasks_of_directive("long-directive", len(GRID_INSPECTORS))
    cards = {}
    for code in GRID_INSPECTORS:
        cards[code] = await loop.chats.receives(users[code], LONG_BODY, "待签收")

    # The first inspector submits, and the second declines with the longest reason a user can type.
    first, second = GRID_INSPECTORS[:2]
    silent = GRID_INSPECTORS[2:]
    card = await acknowledge(loop, users[first], cards[first])
    await submit_without_checklist(loop, users[first], card)
    await loop.control.tap(users[second], cards[second].message_id, button_text="无法执行")
    await wait_for_button(loop, users[second], cards[second].message_id, "其他原因（请输入文字）")
    await loop.control.tap(
        users[second], cards[second].message_id, button_text="其他原因（请输入文字）"
    )
    await loop.chats.receives(users[second], "请输入无法执行任务")
    await loop.control.send_text(users[second], MAX_LENGTH_TEXT)
    await loop.chats.receives(users[second], "无法执行")
    declined = await loop.chats.message_becomes(
        users[second], cards[second].message_id, "状态：无法执行"
    )
    await loop.chats.receives(leader_user, "无法执行：请改派", LONG_BODY)

    # The rest stay silent: a reminder, then the grid leader.
    loop.clock.advance(ACK_WITHIN)
    reminded = await loop.sweep()
    for code in silent:
        await loop.chats.receives(users[code], "提醒：任务尚未签收", LONG_BODY)
    await _reminders_recorded(loop, tasks[len(GRID_INSPECTORS) - len(silent) :])
    loop.clock.advance(ESCALATE_AFTER)
    escalated = await loop.sweep()
    for _ in silent:
        await loop.chats.receives(leader_user, "升级：任务未按时签收", LONG_BODY)
    await loop.control.send_text(users[silent[0]], "/tasks")
    await loop.chats.receives(users[silent[0]], "您的未办结任务")
    await loop.control.send_text(leader_user, f"/task {tasks[1].id}")
    await loop.chats.receives(leader_user, f"#{tasks[1].id} ")
    await loop.control.send_text(leader_user, "/grid")
    await loop.chats.receives(leader_user, "本网格未办结任务")

    assert len(reminded) == len(silent)
    assert len(escalated) == len(silent)
    # The card with the directive's body and the typed reason is cut to fit.
    assert len(declined.text or "") == MAX_TEXT
    assert (declined.text or "").endswith("…")
    await loop.chats.assert_no_unexpected(list(users.values()))
    oversize = []
    for user in users.values():
        for message in await loop.control.messages(user):
            oversize.extend(_oversize(message))
    assert oversize == []
    assert "BUTTON_DATA_INVALID" not in caplog.text
    assert "too long" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_summary_of_long_opinion_arrives(loop: Loop) -> None:
    inspector, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    await directive_for(loop, inspector, "long-opinion", "长检查意见")
    card = await acknowledge(loop, user, await loop.chats.receives(user, "长检查意见"))
    prompt = await open_draft_at_photos(loop, user, card, MAX_LENGTH_TEXT)
    await loop.control.send_photo(user, png())
    await loop.chats.receives(user, "第 1 张")
    await loop.control.tap(user, prompt.message_id, button_text="照片已发完")
    await loop.chats.receives(user, "发送您的位置")
    await loop.chats.receives(user, "返回上一步")

    await loop.control.send_location(user, ORDOS_LATITUDE, ORDOS_LONGITUDE)
    await loop.chats.receives(user, "已收到位置")
    summary = await loop.chats.receives(user, "请核对", timeout_s=5)

    assert len(summary.text or "") <= MAX_TEXT
    assert labels(summary) == ["提交", "返回", "放弃草稿"]


async def test_blocked_inspector_is_escalated(loop: Loop) -> None:
    bound = await bind_codes(loop, GRID_INSPECTORS[0], GRID_LEADER)
    inspector, user = bound[GRID_INSPECTORS[0]]
    _, leader_user = bound[GRID_LEADER]
    await loop.control.block(user)

    task = await directive_for(loop, inspector, "blocked", "发给已屏蔽机器人的监管员")
    escalation = await loop.chats.receives(
        leader_user, "升级：无法通过 Telegram 联系承办监管员", "发给已屏蔽机器人的监管员"
    )

    assert inspector.name in (escalation.text or "")
    async with loop.db.reading() as session:
        reachable = await session.scalar(
            select(Inspector.reachable).where(Inspector.id == inspector.id)
        )
    assert reachable is False
    kinds = await loop.trail_kinds(task.id)
    assert "not_delivered" in kinds
    assert "escalated" in kinds
    assert [m.text for m in await loop.control.messages(user)] == [
        f"已绑定监管员 {inspector.name}（工号 {inspector.code}），新任务将发送到本对话。"
    ]
    await loop.chats.assert_no_unexpected([leader_user])

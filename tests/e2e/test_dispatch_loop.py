"""The dispatch loop end to end: a directive to a real Ordos grid, taps, reminder, escalation."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from griddispatch import subjects
from storage.registry.models import Division, Inspector, Role
from storage.registry.queries import grid_inspectors
from storage.tasks.models import Task
from tests.harness.loop import ESCALATE_AFTER, Loop, running_loop, wait_for

ACK_WITHIN = timedelta(minutes=30)


@pytest.fixture
async def loop(database_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    async with running_loop(database_url, tmp_path) as running:
        yield running


async def _grid_with_three_inspectors(loop: Loop) -> tuple[Division, list[Inspector], Inspector]:
    """Return the first example grid with at least three inspectors, them, and its leader."""
    async with loop.db.reading() as session:
        grids = await session.scalars(
            select(Division).where(Division.level == "grid").order_by(Division.code)
        )
        for grid in grids:
            inspectors = await grid_inspectors(session, grid.code)
            leader = await session.scalar(
                select(Inspector).where(
                    Inspector.division_code == grid.code, Inspector.role == Role.GRID_LEADER.value
                )
            )
            if len(inspectors) >= 3 and leader is not None:
                return grid, inspectors, leader
    raise AssertionError("the example registry has no grid with three inspectors and a leader")


async def test_directive_to_grid_runs_whole_loop(loop: Loop) -> None:
    grid, inspectors, leader = await _grid_with_three_inspectors(loop)
    users = {inspector.id: await loop.bind(inspector) for inspector in inspectors}
    leader_user = await loop.bind(leader)
    title = "开展春季农药经营门店专项检查"

    await loop.publish(
        subjects.DIRECTIVE_ISSUE,
        {
            "message_id": "directive-e2e-1",
            "target": {"kind": "grid", "code": grid.code},
            "title": title,
            "body": "请于本周内完成辖区农药门店检查。",
            "ack_within_s": ACK_WITHIN.total_seconds(),
        },
        msg_id="directive-e2e-1",
    )
    tasks = await loop.tasks_of_directive("directive-e2e-1", len(inspectors))
    assert [task.inspector_id for task in tasks] == [inspector.id for inspector in inspectors]

    cards = {}
    for task in tasks:
        card = await loop.chats.receives(users[task.inspector_id], title, "待签收")
        assert [text for row in card.buttons for text, _ in row] == ["签收", "无法执行"]
        await loop.trail_becomes(task.id, ["created", "delivered"])
        cards[task.id] = card
    first, second = tasks[0], tasks[1]

    # The first inspector acknowledges.
    await loop.control.tap(
        users[first.inspector_id], cards[first.id].message_id, button_text="签收"
    )
    acknowledged = await loop.chats.message_becomes(
        users[first.inspector_id], cards[first.id].message_id, "已签收"
    )
    assert [text for row in acknowledged.buttons for text, _ in row] == ["提交结果", "无法执行"]

    # The second cannot carry it out and gives a reason.
    second_user = users[second.inspector_id]
    await loop.control.tap(second_user, cards[second.id].message_id, button_text="无法执行")
    await _wait_for_button(loop, second_user, cards[second.id].message_id, "无法联系生产经营主体")
    await loop.control.tap(
        second_user, cards[second.id].message_id, button_text="无法联系生产经营主体"
    )
    declined = await loop.chats.message_becomes(
        second_user, cards[second.id].message_id, "状态：无法执行"
    )
    assert "无法联系生产经营主体" in (declined.text or "")
    to_reassign = await loop.chats.receives(leader_user, "无法执行：请改派", title)
    # Everyone else in the grid already holds a task of this directive, so nobody can take it.
    assert to_reassign.buttons == []

    # The rest stay silent: at the deadline a reminder, after another interval the leader.
    silent = tasks[2:]
    loop.clock.advance(ACK_WITHIN)
    fired = await loop.sweep()
    assert [(step.task_id, step.kind) for step in fired] == [(t.id, "reminded") for t in silent]
    for task in silent:
        await loop.chats.receives(users[task.inspector_id], "提醒", title)
        await loop.trail_becomes(task.id, ["created", "delivered", "reminded", "delivered"])

    loop.clock.advance(ESCALATE_AFTER)
    fired = await loop.sweep()
    assert [(step.task_id, step.kind) for step in fired] == [(t.id, "escalated") for t in silent]
    for inspector in inspectors[2:]:
        escalation = await loop.chats.receives(leader_user, "升级", title, inspector.name)
        assert escalation.buttons == []

    # Nothing more fires, and nobody got a message the scenario did not expect.
    loop.clock.advance(timedelta(days=1))
    assert await loop.sweep() == []
    await loop.chats.assert_no_unexpected([*users.values(), leader_user])

    await loop.trail_becomes(first.id, ["created", "delivered", "acknowledged"])
    await loop.trail_becomes(second.id, ["created", "delivered", "declined", "delivered"])
    for task in silent:
        await loop.trail_becomes(
            task.id,
            ["created", "delivered", "reminded", "delivered", "escalated", "delivered"],
        )


async def _wait_for_button(loop: Loop, chat_id: int, message_id: int, text: str) -> None:
    async def shown() -> bool:
        for message in await loop.control.messages(chat_id):
            labels = [label for row in message.buttons for label, _ in row]
            if message.message_id == message_id and text in labels:
                return True
        return False

    await wait_for(shown, f"button {text!r} on message {message_id}")


async def test_same_directive_twice_creates_tasks_once(loop: Loop) -> None:
    grid, inspectors, _ = await _grid_with_three_inspectors(loop)
    directive = {
        "message_id": "directive-twice",
        "target": {"kind": "grid", "code": grid.code},
        "title": "重复发送的指令",
    }

    await loop.publish(subjects.DIRECTIVE_ISSUE, directive, msg_id="directive-twice")
    await loop.tasks_of_directive("directive-twice", len(inspectors))
    # Past JetStream's duplicate window only the database's unique key stops a copy,
    # so the copy goes out under another Nats-Msg-Id.
    await loop.publish(subjects.DIRECTIVE_ISSUE, directive, msg_id="directive-twice-resent")
    marker = {"message_id": "marker", "target": {"kind": "grid", "code": grid.code}, "title": "m"}
    await loop.publish(subjects.DIRECTIVE_ISSUE, marker, msg_id="marker")
    await loop.tasks_of_directive("marker", len(inspectors))

    async with loop.db.reading() as session:
        count = await session.scalar(select(func.count()).select_from(Task))
    assert count == 2 * len(inspectors)

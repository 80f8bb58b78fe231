"""The everyday commands /tasks, /task and /grid, and a typed decline reassigned by the leader."""

from datetime import timedelta

from sqlalchemy import select

from bots.callbacks import ReassignCallback
from bots.local_api.client import SentMessage
from storage.registry.models import Inspector
from storage.tasks.models import Task
from tests.bot.support import (
    GRID,
    GRID_INSPECTORS,
    GRID_LEADER,
    answer_to,
    bind_codes,
    buttons_become,
    directive_for,
    issue_directive,
    labels,
    task_state,
    trail_events,
    wait_for_button,
)
from tests.harness.loop import Loop

LATER = timedelta(hours=2)
SOONER = timedelta(minutes=30)
TYPED_REASON = "该主体已停业，现场无人"


async def _two_tasks(loop: Loop, user_code: str) -> tuple[int, Task, Task]:
    """Issue a task due later, then one due sooner, to one inspector.

    Returns (user id, the later task, the sooner task).
    """
    inspector, user = (await bind_codes(loop, user_code))[user_code]
    later = await directive_for(
        loop, inspector, "due-later", "两小时内签收", ack_within_s=LATER.total_seconds()
    )
    await loop.chats.receives(user, "两小时内签收")
    sooner = await directive_for(
        loop, inspector, "due-sooner", "半小时内签收", ack_within_s=SOONER.total_seconds()
    )
    await loop.chats.receives(user, "半小时内签收")
    return user, later, sooner


async def test_tasks_lists_most_urgent_first(loop: Loop) -> None:
    user, later, sooner = await _two_tasks(loop, GRID_INSPECTORS[0])

    await loop.control.send_text(user, "/tasks")
    reply = await loop.chats.receives(user, "您的未办结任务")

    lines = (reply.text or "").splitlines()
    assert lines[0] == "您的未办结任务（按紧急程度排序）："
    assert lines[1] == f"#{sooner.id} 半小时内签收｜待签收｜2026-03-02 09:30"
    assert lines[2] == f"#{later.id} 两小时内签收｜待签收｜2026-03-02 11:00"
    assert lines[3] == "发送 /task 加任务编号可查看单个任务。"
    assert len(lines) == 4


async def test_task_shows_trail_to_assignee(loop: Loop) -> None:
    bound = await bind_codes(loop, GRID_INSPECTORS[0], GRID_INSPECTORS[1], GRID_LEADER)
    owner, owner_user = bound[GRID_INSPECTORS[0]]
    _, other_user = bound[GRID_INSPECTORS[1]]
    _, leader_user = bound[GRID_LEADER]
    task = await directive_for(loop, owner, "task-trail", "查看处理记录")
    card = await loop.chats.receives(owner_user, "查看处理记录")
    await loop.delivery_recorded(task.id)
    await loop.control.tap(owner_user, card.message_id, button_text="签收")
    await loop.chats.message_becomes(owner_user, card.message_id, "已签收")

    await loop.control.send_text(owner_user, f"/task {task.id}")
    shown = await loop.chats.receives(owner_user, f"#{task.id} 查看处理记录")
    await loop.control.send_text(other_user, f"/task {task.id}")
    refused = await loop.chats.receives(other_user, "不是派给您的")
    await loop.control.send_text(leader_user, f"/task {task.id}")
    to_leader = await loop.chats.receives(leader_user, f"#{task.id} 查看处理记录")

    lines = (shown.text or "").splitlines()
    assert lines[1] == "状态：已签收"
    assert lines[2] == f"承办监管员：{owner.name}（交通街道第1网格）"
    assert [line.split(" ", 2)[2] for line in lines[5:]] == ["已生成", "已送达", "已签收"]
    assert refused.text == "此任务不是派给您的，无法操作。"
    assert to_leader.text == shown.text


async def test_grid_counts_overdue_for_leader(loop: Loop) -> None:
    user, later, sooner = await _two_tasks(loop, GRID_INSPECTORS[0])
    leader_user = (await bind_codes(loop, GRID_LEADER))[GRID_LEADER][1]
    loop.clock.advance(SOONER + timedelta(minutes=15))

    await loop.control.send_text(leader_user, "/grid")
    reply = await loop.chats.receives(leader_user, "本网格未办结任务")
    await loop.control.send_text(user, "/grid")
    refused = await loop.chats.receives(user, "/grid")

    lines = (reply.text or "").splitlines()
    assert lines[0] == "本网格未办结任务 2 个，已逾期 1 个"
    assert lines[1].startswith(f"#{sooner.id} 半小时内签收｜待签收｜")
    assert lines[1].endswith("⚠️已逾期")
    assert lines[2].startswith(f"#{later.id} 两小时内签收｜待签收｜")
    assert not lines[2].endswith("已逾期")
    assert refused.text == "/grid 仅供网格长使用。"


async def test_typed_decline_is_reassigned(loop: Loop) -> None:
    bound = await bind_codes(loop, *GRID_INSPECTORS, GRID_LEADER)
    owner, owner_user = bound[GRID_INSPECTORS[0]]
    new_owner, new_user = bound[GRID_INSPECTORS[1]]
    _, leader_user = bound[GRID_LEADER]
    task = await directive_for(loop, owner, "typed-decline", "无法执行后改派")
    card = await loop.chats.receives(owner_user, "无法执行后改派", "待签收")

    await loop.control.tap(owner_user, card.message_id, button_text="无法执行")
    await wait_for_button(loop, owner_user, card.message_id, "其他原因（请输入文字）")
    await loop.control.tap(owner_user, card.message_id, button_text="其他原因（请输入文字）")
    await loop.chats.receives(owner_user, f"请输入无法执行任务 #{task.id} 的原因。")
    await loop.control.send_text(owner_user, TYPED_REASON)
    await loop.chats.receives(owner_user, "无法执行")
    declined = await loop.chats.message_becomes(owner_user, card.message_id, "状态：无法执行")
    to_leader = await loop.chats.receives(leader_user, "无法执行：请改派", "无法执行后改派")

    assert f"原因：{TYPED_REASON}" in (declined.text or "")
    assert labels(declined) == []
    events = await trail_events(loop, task.id)
    assert [e.detail for e in events if e.kind == "declined"] == [{"reason": TYPED_REASON}]
    expected = [f"改派给 {bound[code][0].name}" for code in GRID_INSPECTORS[1:]]
    assert labels(to_leader) == expected

    tap = await loop.control.tap(
        leader_user, to_leader.message_id, button_text=f"改派给 {new_owner.name}"
    )
    answer = await answer_to(loop, leader_user, tap)
    new_card = await loop.chats.receives(new_user, "新任务", "无法执行后改派")
    # The leader's request loses its 改派给 buttons, so the task cannot be handed on twice.
    await buttons_become(loop, leader_user, to_leader.message_id, [])

    assert answer.text == "已改派"
    assert labels(new_card) == ["签收", "无法执行"]
    old_card = next(
        m for m in await loop.control.messages(owner_user) if m.message_id == card.message_id
    )
    assert labels(old_card) == []
    assert "reassigned" in await loop.trail_kinds(task.id)
    assert await task_state(loop, task.id) == "new"
    async with loop.db.reading() as session:
        assignee = await session.scalar(select(Task.inspector_id).where(Task.id == task.id))
    assert assignee == new_owner.id
    await loop.chats.assert_no_unexpected([owner_user, new_user, leader_user])


async def _declined_grid_task(loop: Loop, message_id: str) -> tuple[list[Task], int, SentMessage]:
    """Issue a directive to the whole grid and let its first inspector decline.

    Returns the tasks, the leader's user id and the leader's request to reassign.
    """
    bound = await bind_codes(loop, *GRID_INSPECTORS, GRID_LEADER)
    owner_user = bound[GRID_INSPECTORS[0]][1]
    await issue_directive(loop, message_id, {"kind": "grid", "code": GRID}, title="全网格检查")
    tasks = await loop.tasks_of_directive(message_id, len(GRID_INSPECTORS))
    card = await loop.chats.receives(owner_user, "全网格检查", "待签收")
    await loop.control.tap(owner_user, card.message_id, button_text="无法执行")
    await wait_for_button(loop, owner_user, card.message_id, "不在本人辖区")
    await loop.control.tap(owner_user, card.message_id, button_text="不在本人辖区")
    leader_user = bound[GRID_LEADER][1]
    to_leader = await loop.chats.receives(leader_user, "无法执行：请改派", "全网格检查")
    return tasks, leader_user, to_leader


async def test_reassign_offers_only_free_inspectors(loop: Loop) -> None:
    tasks, _, to_leader = await _declined_grid_task(loop, "grid-offer")

    names = {inspector.name for inspector in await _inspectors(loop, tasks[1:])}
    offered = {label.removeprefix("改派给 ") for label in labels(to_leader)}

    assert offered & names == set()


async def test_reassign_to_holder_is_answered(loop: Loop) -> None:
    tasks, leader_user, to_leader = await _declined_grid_task(loop, "grid-holder")
    holder = (await _inspectors(loop, tasks[1:2]))[0]

    labels = [label for row in to_leader.buttons for label, _ in row]
    assert f"改派给 {holder.name}" not in labels
    # A button from before the holder got the directive, or a modified client, can still ask.
    forged = ReassignCallback(task_id=tasks[0].id, inspector_id=holder.id).pack()
    tap = await loop.control.tap(leader_user, to_leader.message_id, data=forged, forge=True)
    answer = await answer_to(loop, leader_user, tap)

    assert answer.show_alert
    assert await task_state(loop, tasks[0].id) == "declined"


async def _inspectors(loop: Loop, tasks: list[Task]) -> list[Inspector]:
    async with loop.db.reading() as session:
        found = [await session.get(Inspector, task.inspector_id) for task in tasks]
    return [inspector for inspector in found if inspector is not None]

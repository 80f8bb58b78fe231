"""Taps that come twice, late, on an old message, or from someone else."""

from bots.callbacks import TaskButton, TaskCallback
from storage.directives.service import cancel_directive
from storage.tasks.service import SYSTEM
from tests.bot.support import (
    GRID_INSPECTORS,
    ORDOS_LATITUDE,
    ORDOS_LONGITUDE,
    acknowledge,
    answer_to,
    bind_codes,
    button_data,
    directive_for,
    drafts,
    labels,
    lead_card,
    open_draft_at_photos,
    planting_subject,
    submit_without_checklist,
    task_state,
)
from tests.harness.images import png
from tests.harness.loop import Loop

NOTHING_CHANGED = "未作更改：任务当前状态为“{state}”。"
NO_LONGER_VALID = "此按钮已失效。"
NOT_YOURS = "此任务不是派给您的，无法操作。"


async def test_double_tap_acknowledges_once(loop: Loop) -> None:
    owner, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    task = await directive_for(loop, owner, "double-tap", "双击签收")
    card = await loop.chats.receives(user, "双击签收", "待签收")
    data = button_data(card, "签收")

    first = await loop.control.tap(user, card.message_id, data=data)
    second = await loop.control.tap(user, card.message_id, data=data)
    first_answer = await answer_to(loop, user, first)
    second_answer = await answer_to(loop, user, second)
    await loop.chats.message_becomes(user, card.message_id, "已签收")

    assert first_answer.text == "已签收"
    assert second_answer.text == NOTHING_CHANGED.format(state="已签收")
    assert (await loop.trail_kinds(task.id)).count("acknowledged") == 1
    assert await task_state(loop, task.id) == "acknowledged"


async def test_outdated_ack_button_changes_nothing(loop: Loop) -> None:
    owner, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    task = await directive_for(loop, owner, "outdated-ack", "过时的签收按钮")
    card = await loop.chats.receives(user, "过时的签收按钮", "待签收")
    old_data = button_data(card, "签收")
    await acknowledge(loop, user, card)
    trail_before = await loop.trail_kinds(task.id)

    # The card now shows 提交结果, but a client that still shows 签收 sends the old data.
    tap = await loop.control.tap(user, card.message_id, data=old_data, forge=True)
    answer = await answer_to(loop, user, tap)

    assert answer.text == NOTHING_CHANGED.format(state="已签收")
    assert await loop.trail_kinds(task.id) == trail_before
    assert await task_state(loop, task.id) == "acknowledged"
    current = next(m for m in await loop.control.messages(user) if m.message_id == card.message_id)
    assert labels(current) == ["提交结果", "无法执行"]


async def test_earlier_checklist_item_is_stale(loop: Loop) -> None:
    subject, inspector = await planting_subject(loop)
    user = await loop.bind(inspector)
    card = await lead_card(loop, subject, user, "stale-item")
    card = await acknowledge(loop, user, card)
    await loop.control.tap(user, card.message_id, button_text="提交结果")
    first_item = await loop.chats.receives(user, "检查项 1/")
    await loop.control.tap(user, first_item.message_id, button_text="合格")
    await loop.chats.receives(user, "检查项 2/")

    # The first item's message still shows its buttons, so the inspector can tap one again.
    tap = await loop.control.tap(user, first_item.message_id, button_text="不合格")
    answer = await answer_to(loop, user, tap)

    assert answer.text == NO_LONGER_VALID
    assert answer.show_alert
    stored = await drafts(loop)
    assert len(stored) == 1
    assert [a["answer"] for a in stored[0].data["answers"]] == ["pass"]
    assert stored[0].data["pending_fail"] is None
    await loop.chats.assert_no_unexpected([user])


async def test_submit_of_other_task_is_rejected(loop: Loop) -> None:
    bound = await bind_codes(loop, GRID_INSPECTORS[0], GRID_INSPECTORS[1])
    owner, owner_user = bound[GRID_INSPECTORS[0]]
    _, stranger_user = bound[GRID_INSPECTORS[1]]
    task = await directive_for(loop, owner, "forged-submit", "只允许承办人提交")
    card = await loop.chats.receives(owner_user, "只允许承办人提交")
    await acknowledge(loop, owner_user, card)

    # A modified client sends the owner's 提交结果 data on a message in its own chat.
    own_message = (await loop.control.messages(stranger_user))[-1]
    forged = TaskCallback(task_id=task.id, button=TaskButton.SUBMIT).pack()
    tap = await loop.control.tap(stranger_user, own_message.message_id, data=forged, forge=True)
    answer = await answer_to(loop, stranger_user, tap)

    assert answer.text == NOT_YOURS
    assert answer.show_alert
    assert await drafts(loop) == []
    assert await task_state(loop, task.id) == "acknowledged"
    await loop.chats.assert_no_unexpected([stranger_user])


async def test_outdated_submit_button_names_state(loop: Loop) -> None:
    owner, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    task = await directive_for(loop, owner, "outdated-submit", "已提交结果的任务")
    card = await loop.chats.receives(user, "已提交结果的任务")
    card = await acknowledge(loop, user, card)
    submit_data = button_data(card, "提交结果")
    await submit_without_checklist(loop, user, card)
    await loop.chats.message_becomes(user, card.message_id, "状态：已提交结果")

    # A client that still shows 提交结果 sends the old data once more.
    tap = await loop.control.tap(user, card.message_id, data=submit_data, forge=True)
    answer = await answer_to(loop, user, tap)

    assert await drafts(loop) == []
    assert await task_state(loop, task.id) == "submitted"
    assert answer.text == NOTHING_CHANGED.format(state="已提交结果")


async def test_decline_after_acknowledge_offers_reasons(loop: Loop) -> None:
    owner, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    task = await directive_for(loop, owner, "decline-acknowledged", "签收后无法执行")
    card = await loop.chats.receives(user, "签收后无法执行")
    card = await acknowledge(loop, user, card)

    tap = await loop.control.tap(user, card.message_id, button_text="无法执行")
    answer = await answer_to(loop, user, tap)

    assert await task_state(loop, task.id) == "acknowledged"
    assert answer.text == "请选择无法执行的原因"
    current = next(m for m in await loop.control.messages(user) if m.message_id == card.message_id)
    assert "不在本人辖区" in labels(current)


async def test_rejected_submit_explains_in_chinese(loop: Loop) -> None:
    owner, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    task = await directive_for(loop, owner, "cancelled-mid-draft", "提交前被撤销")
    card = await acknowledge(loop, user, await loop.chats.receives(user, "提交前被撤销"))
    prompt = await open_draft_at_photos(loop, user, card, "现场检查未发现问题")
    await loop.control.send_photo(user, png())
    await loop.chats.receives(user, "第 1 张")
    await loop.control.tap(user, prompt.message_id, button_text="照片已发完")
    await loop.chats.receives(user, "返回上一步")
    await loop.control.send_location(user, ORDOS_LATITUDE, ORDOS_LONGITUDE)
    summary = await loop.chats.receives(user, "请核对")
    await cancel_directive(
        loop.db,
        "cancelled-mid-draft",
        actor=SYSTEM,
        escalation=loop.escalation,
        now=loop.clock.now(),
    )

    tap = await loop.control.tap(user, summary.message_id, button_text="提交")
    answer = await answer_to(loop, user, tap)

    assert answer.show_alert
    assert answer.text is not None
    assert answer.text.startswith("结果未能提交：任务状态为“已撤销”")
    assert "cannot" not in answer.text
    assert await task_state(loop, task.id) == "cancelled"

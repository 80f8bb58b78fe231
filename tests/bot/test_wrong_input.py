"""Messages that do not fit the current step of a submission get a hint for that step.

Messages sent outside any submission get a hint on how to list tasks and submit a result.
"""

from bots.local_api.client import SentMessage
from tests.bot.support import (
    GRID_INSPECTORS,
    ORDOS_LATITUDE,
    ORDOS_LONGITUDE,
    acknowledge,
    bind_codes,
    directive_for,
    drafts,
    open_draft_at_photos,
    task_state,
)
from tests.harness.images import png
from tests.harness.loop import Loop

PHOTO_HINT = "请发送照片（或以文件形式发送图片），发完后点“照片已发完”。"
EDIT_HINT = "修改已发送的消息不会生效，请重新发送修改后的内容。"
LOCATION_HINT = "请点击下方的“发送当前位置”按钮。"
SUMMARY_HINT = "请点击汇总下方的“提交”“返回”或“放弃草稿”。"
OPINION = "总体良好"
EVIDENCE_HINT = (
    "照片和位置只在提交检查结果时记录。要提交结果，请先签收任务，再在任务卡片上点“提交结果”。"
    "发送 /tasks 查看您的任务。"
)
IDLE_HINT = "发送 /tasks 查看您的任务，发送 /plan 查看本期日常巡查。"


async def _task_card(loop: Loop, message_id: str) -> tuple[int, int, SentMessage]:
    """Issue a task without checklist to a bound inspector and return (user id, task id, card)."""
    inspector, user = (await bind_codes(loop, GRID_INSPECTORS[0]))[GRID_INSPECTORS[0]]
    task = await directive_for(loop, inspector, message_id, f"现场核查 {message_id}")
    card = await acknowledge(loop, user, await loop.chats.receives(user, message_id))
    return user, task.id, card


async def test_photo_step_rejects_sticker_and_text(loop: Loop) -> None:
    user, _, card = await _task_card(loop, "photo-step")
    await open_draft_at_photos(loop, user, card, OPINION)

    await loop.control.send_sticker(user)
    after_sticker = await loop.chats.receives(user, "请发送照片")
    await loop.control.send_text(user, "照片稍后补发")
    after_text = await loop.chats.receives(user, "请发送照片")

    assert after_sticker.text == PHOTO_HINT
    assert after_text.text == PHOTO_HINT
    stored = await drafts(loop)
    assert len(stored) == 1
    assert stored[0].state == "Submit:photos"
    assert stored[0].data["photos"] == []
    await loop.chats.assert_no_unexpected([user])


async def test_edited_opinion_is_not_used(loop: Loop) -> None:
    user, _, card = await _task_card(loop, "edited")
    await loop.control.tap(user, card.message_id, button_text="提交结果")
    await loop.chats.receives(user, "请填写总体检查意见")
    opinion = await loop.control.send_text(user, OPINION)
    await loop.chats.receives(user, "请发送现场照片")

    await loop.control.edit_text(user, opinion.message_id, "总体良好，另发现过期农药")
    reply = await loop.chats.receives(user, "修改已发送的消息")

    assert reply.text == EDIT_HINT
    stored = await drafts(loop)
    assert len(stored) == 1
    assert stored[0].data["opinion"] == OPINION
    assert stored[0].state == "Submit:photos"
    await loop.chats.assert_no_unexpected([user])


async def test_location_step_rejects_text(loop: Loop) -> None:
    user, _, card = await _task_card(loop, "location-step")
    prompt = await open_draft_at_photos(loop, user, card, OPINION)
    await loop.control.send_photo(user, png())
    await loop.chats.receives(user, "第 1 张")
    await loop.control.tap(user, prompt.message_id, button_text="照片已发完")
    location_prompt = await loop.chats.receives(user, "发送您的位置")
    await loop.chats.receives(user, "返回上一步")

    await loop.control.send_text(user, "交通街道育才路124号")
    reply = await loop.chats.receives(user, "发送当前位置")

    assert reply.text == LOCATION_HINT
    assert location_prompt.keyboard == [["发送当前位置"]]
    stored = await drafts(loop)
    assert stored[0].data["latitude"] is None
    assert stored[0].state == "Submit:location"
    await loop.chats.assert_no_unexpected([user])


async def test_summary_step_rejects_typed_submit(loop: Loop) -> None:
    user, task_id, card = await _task_card(loop, "summary-step")
    prompt = await open_draft_at_photos(loop, user, card, OPINION)
    await loop.control.send_photo(user, png())
    await loop.chats.receives(user, "第 1 张")
    await loop.control.tap(user, prompt.message_id, button_text="照片已发完")
    await loop.chats.receives(user, "发送您的位置")
    await loop.chats.receives(user, "返回上一步")
    await loop.control.send_location(user, ORDOS_LATITUDE, ORDOS_LONGITUDE)
    await loop.chats.receives(user, "已收到位置")
    await loop.chats.receives(user, "请核对")

    await loop.control.send_text(user, "提交")
    reply = await loop.chats.receives(user, "汇总下方")

    assert reply.text == SUMMARY_HINT
    assert await task_state(loop, task_id) == "acknowledged"
    stored = await drafts(loop)
    assert stored[0].state == "Submit:confirm"
    await loop.chats.assert_no_unexpected([user])


async def test_photo_without_submission_gets_hint(loop: Loop) -> None:
    user, task_id, _ = await _task_card(loop, "stray-photo")

    await loop.control.send_photo(user, png())
    after_photo = await loop.chats.receives(user, "只在提交检查结果时记录")
    await loop.control.send_location(user, ORDOS_LATITUDE, ORDOS_LONGITUDE)
    after_location = await loop.chats.receives(user, "只在提交检查结果时记录")

    assert after_photo.text == EVIDENCE_HINT
    assert after_location.text == EVIDENCE_HINT
    assert await drafts(loop) == []
    assert await task_state(loop, task_id) == "acknowledged"
    await loop.chats.assert_no_unexpected([user])


async def test_stray_text_gets_hint(loop: Loop) -> None:
    user, _, _ = await _task_card(loop, "stray-text")

    await loop.control.send_text(user, "你好")
    reply = await loop.chats.receives(user, "/plan")

    assert reply.text == IDLE_HINT
    assert await drafts(loop) == []
    await loop.chats.assert_no_unexpected([user])

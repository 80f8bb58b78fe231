"""Steps an inspector takes in the bot, shared by the bot tests.

The example registry's grid 交通街道第1网格 (150602001001) has the grid
leader JG0009 and the inspectors JG0010 to JG0013.
"""

import re
from typing import Any

from sqlalchemy import select

from bots.local_api.client import CallbackAnswer, SentMessage, Tap
from griddispatch import subjects
from storage.registry.models import Inspector, Subject
from storage.tasks.models import Task, TaskEvent
from storage.telegram.drafts import Draft
from tests.harness.images import png
from tests.harness.loop import Loop, wait_for

GRID = "150602001001"
GRID_LEADER = "JG0009"
GRID_INSPECTORS = ("JG0010", "JG0011", "JG0012", "JG0013")
# A point in the grid, near 交通街道 in 东胜区.
ORDOS_LATITUDE = 39.8605
ORDOS_LONGITUDE = 109.3480


def labels(message: SentMessage) -> list[str]:
    """Return the texts of a message's inline buttons, row by row."""
    return [text for row in message.buttons for text, _ in row]


def task_id_of(card: SentMessage) -> int:
    """Return the task number a task card shows after "#"."""
    found = re.search(r"#(\d+)", card.text or "")
    assert found is not None, f"message {card.message_id} names no task: {card.text!r}"
    return int(found.group(1))


def button_data(message: SentMessage, label: str) -> str:
    """Return the callback data of the button labelled `label`."""
    for row in message.buttons:
        for text, data in row:
            if text == label and data is not None:
                return data
    raise AssertionError(f"message {message.message_id} has no button {label!r}: {labels(message)}")


async def answer_to(loop: Loop, chat_id: int, tap: Tap) -> CallbackAnswer:
    """Wait for the bot's answer to one tap on a message in `chat_id`."""

    async def answered() -> CallbackAnswer | None:
        for answer in await loop.control.callback_answers(chat_id):
            if answer.callback_query_id == tap.callback_query_id:
                return answer
        return None

    return await wait_for(answered, f"the answer to tap {tap.callback_query_id}")


async def wait_for_button(loop: Loop, chat_id: int, message_id: int, label: str) -> None:
    """Wait until message `message_id` shows a button labelled `label`."""

    async def shown() -> bool:
        for message in await loop.control.messages(chat_id):
            if message.message_id == message_id and label in labels(message):
                return True
        return False

    await wait_for(shown, f"button {label!r} on message {message_id}")


async def buttons_become(
    loop: Loop, chat_id: int, message_id: int, expected: list[str]
) -> SentMessage:
    """Wait until message `message_id` shows exactly the buttons `expected`, and return it."""

    async def matching() -> SentMessage | None:
        for message in await loop.control.messages(chat_id):
            if message.message_id == message_id and labels(message) == expected:
                return message
        return None

    return await wait_for(matching, f"buttons {expected!r} on message {message_id}")


async def bind_codes(loop: Loop, *codes: str) -> dict[str, tuple[Inspector, int]]:
    """Bind the inspectors with these staff codes and map each code to (inspector, user id)."""
    bound = {}
    for code in codes:
        inspector = await loop.inspector(code)
        bound[code] = (inspector, await loop.bind(inspector))
    return bound


async def issue_directive(
    loop: Loop, message_id: str, target: dict[str, str], **fields: Any
) -> None:
    """Publish a directive as the command centre does."""
    payload = {"message_id": message_id, "target": target, **fields}
    await loop.publish(subjects.DIRECTIVE_ISSUE, payload, message_id)


async def directive_for(
    loop: Loop, inspector: Inspector, message_id: str, title: str, **fields: Any
) -> Task:
    """Issue a directive to one inspector and return its task."""
    target = {"kind": "inspector", "code": inspector.code}
    await issue_directive(loop, message_id, target, title=title, **fields)
    return (await loop.tasks_of_directive(message_id, 1))[0]


async def acknowledge(loop: Loop, user: int, card: SentMessage) -> SentMessage:
    """Tap 签收 on a task card and return the card once it reads 已签收."""
    await loop.delivery_recorded(task_id_of(card))
    await loop.control.tap(user, card.message_id, button_text="签收")
    return await loop.chats.message_becomes(user, card.message_id, "已签收")


async def planting_subject(loop: Loop) -> tuple[Subject, Inspector]:
    """Return the first planting subject with a credit code, and its inspector."""
    async with loop.db.reading() as session:
        subject = await session.scalar(
            select(Subject)
            .where(Subject.industry == "planting", Subject.credit_code.is_not(None))
            .order_by(Subject.id)
            .limit(1)
        )
        assert subject is not None
        assert subject.inspector_id is not None
        inspector = await session.get(Inspector, subject.inspector_id)
        assert inspector is not None
        return subject, inspector


async def lead_card(loop: Loop, subject: Subject, user: int, message_id: str) -> SentMessage:
    """Send a risk lead about `subject` and return the card its inspector receives."""
    title = f"舆情：疑似违规使用禁用农药 {message_id}"
    lead = {
        "message_id": message_id,
        "source": "opinion",
        "title": title,
        "subject": {"credit_code": subject.credit_code},
    }
    await loop.publish(subjects.lead_subject("opinion"), lead, message_id)
    return await loop.chats.receives(user, title)


async def open_draft_at_photos(
    loop: Loop, user: int, card: SentMessage, opinion: str
) -> SentMessage:
    """Open the draft of a task without checklist, send `opinion`, return the photo prompt."""
    await loop.control.tap(user, card.message_id, button_text="提交结果")
    await loop.chats.receives(user, "请填写总体检查意见")
    await loop.control.send_text(user, opinion)
    return await loop.chats.receives(user, "请发送现场照片")


async def submit_without_checklist(loop: Loop, user: int, card: SentMessage) -> SentMessage:
    """Submit the result of an acknowledged task without checklist and return the confirmation."""
    prompt = await open_draft_at_photos(loop, user, card, "现场检查未发现问题")
    await loop.control.send_photo(user, png())
    await loop.chats.receives(user, "第 1 张")
    await loop.control.tap(user, prompt.message_id, button_text="照片已发完")
    await loop.chats.receives(user, "发送您的位置")
    await loop.chats.receives(user, "返回上一步")
    await loop.control.send_location(user, ORDOS_LATITUDE, ORDOS_LONGITUDE)
    await loop.chats.receives(user, "已收到位置")
    summary = await loop.chats.receives(user, "请核对")
    await loop.control.tap(user, summary.message_id, button_text="提交")
    confirmation = await loop.chats.receives(user, "核验码")
    await loop.chats.receives(user, "检查回执")
    return confirmation


async def task_state(loop: Loop, task_id: int) -> str:
    async with loop.db.reading() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task.state


async def trail_events(loop: Loop, task_id: int) -> list[TaskEvent]:
    async with loop.db.reading() as session:
        return list(
            await session.scalars(
                select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
            )
        )


async def drafts(loop: Loop) -> list[Draft]:
    """Return the stored conversations (the bot_drafts table) that hold a state or data."""
    async with loop.db.reading() as session:
        rows = await session.scalars(select(Draft).order_by(Draft.key))
        return [row for row in rows if row.state is not None or row.data]

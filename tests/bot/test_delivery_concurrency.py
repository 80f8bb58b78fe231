"""Notifications delivered several at a time: one send per notification, task order kept."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from bots.delivery import DELIVERY_WORKERS
from bots.ordered_pool import OrderedPool, PoolClosedError
from griddispatch import subjects
from griddispatch.messages import NotificationKind
from storage.tasks.models import Task
from tests.bot.support import GRID_INSPECTORS, bind_codes, directive_for
from tests.harness.loop import Loop, wait_for

HEADER_END = "】"


def _header(text: str | None) -> str:
    """Return a card's header, the part of its first line that names the kind of message."""
    assert text is not None
    return text.split(HEADER_END, 1)[0]


async def _publish_notification(
    loop: Loop, task: Task, kind: NotificationKind, notification_id: str
) -> None:
    """Publish a notification under a fresh message id, as a second relay of it would."""
    assert task.inspector_id is not None
    payload = {
        "notification_id": notification_id,
        "kind": kind.value,
        "task_id": task.id,
        "inspector_id": task.inspector_id,
    }
    await loop.publish(subjects.notify_subject(task.inspector_id), payload, uuid.uuid4().hex)


async def _all_acked(loop: Loop) -> bool:
    info = await loop.js.consumer_info(subjects.NOTIFY_STREAM, subjects.NOTIFY_CONSUMER)
    return bool(info.num_ack_pending == 0 and info.num_pending == 0)


async def test_bot_delivers_with_a_pool(loop: Loop) -> None:
    assert loop.bot.delivery_pool is not None
    assert loop.bot.delivery_pool.size == DELIVERY_WORKERS > 1


async def test_same_notification_twice_at_once_is_sent_once(loop: Loop) -> None:
    bound = await bind_codes(loop, GRID_INSPECTORS[0])
    inspector, user = bound[GRID_INSPECTORS[0]]
    task = await directive_for(loop, inspector, "dup-1", "重复提醒检查")
    await loop.chats.receives(user, "重复提醒检查")
    sent_before = len(await loop.control.messages(user))

    for _ in range(5):
        await _publish_notification(loop, task, NotificationKind.REMINDER, "reminder-dup-1")
    await wait_for(lambda: _all_acked(loop), "every copy acked")

    messages = await loop.control.messages(user)
    assert len(messages) == sent_before + 1


async def test_messages_about_one_task_keep_their_order(loop: Loop) -> None:
    bound = await bind_codes(loop, *GRID_INSPECTORS[:2])
    (first, first_user), (second, second_user) = bound.values()
    first_task = await directive_for(loop, first, "order-1", "顺序检查一")
    second_task = await directive_for(loop, second, "order-2", "顺序检查二")
    await loop.chats.receives(first_user, "顺序检查一")
    await loop.chats.receives(second_user, "顺序检查二")
    before = {user: len(await loop.control.messages(user)) for user in (first_user, second_user)}
    kinds = [NotificationKind.REMINDER, NotificationKind.TASK_ASSIGNED] * 6

    for number, kind in enumerate(kinds):
        for task in (first_task, second_task):
            await _publish_notification(loop, task, kind, f"order-{task.id}-{number}")
    await wait_for(lambda: _all_acked(loop), "every notification acked")

    for user in (first_user, second_user):
        new = (await loop.control.messages(user))[before[user] :]
        headers = [_header(message.text) for message in new]
        assert len(headers) == len(kinds)
        assert headers == [headers[0], headers[1]] * (len(kinds) // 2)
        assert headers[0] != headers[1]


async def test_pool_orders_jobs_per_key() -> None:
    pool = OrderedPool(3, name="test")
    started: list[str] = []
    release = {name: asyncio.Event() for name in ("a1", "a2", "b1")}

    def job(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            started.append(name)
            await release[name].wait()

        return run

    await pool.submit("a", job("a1"))
    await pool.submit("a", job("a2"))
    await pool.submit("b", job("b1"))
    await wait_for(_returns(lambda: len(started) == 2), "two jobs started")
    assert started == ["a1", "b1"]

    release["a1"].set()
    await wait_for(_returns(lambda: "a2" in started), "a2 started after a1")
    release["a2"].set()
    release["b1"].set()
    await pool.close(timeout_s=5.0)
    assert pool.running == 0


async def test_pool_waits_when_full_rejects_closed() -> None:
    pool = OrderedPool(1, name="test")
    release = asyncio.Event()

    async def blocked() -> None:
        await release.wait()

    async def quick() -> None:
        return None

    await pool.submit("a", blocked)
    waiting = asyncio.create_task(pool.submit("b", quick))
    await asyncio.sleep(0)
    assert not waiting.done()

    release.set()
    await waiting
    await pool.close(timeout_s=5.0)
    try:
        await pool.submit("c", quick)
    except PoolClosedError:
        pass
    else:
        raise AssertionError("a closed pool took a job")


async def test_pool_close_cancels_jobs_that_run_too_long() -> None:
    pool = OrderedPool(2, name="test")
    cancelled = asyncio.Event()

    async def endless() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    await pool.submit("a", endless)
    await asyncio.sleep(0)
    await pool.close(timeout_s=0.0)

    assert cancelled.is_set()
    assert pool.running == 0


def _returns(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """Wrap a plain check for wait_for, which polls an async probe."""

    async def probe() -> bool:
        return bool(check())

    return probe

"""Task events from NATS to browsers as server-sent events.

One ordered JetStream consumer on `gd.event.task.*` (new messages only)
feeds every open event stream of the process. Each browser gets the events
of the tasks it may see: a county user only those inside their county.
"""

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

import pydantic
from aiohttp import web
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from dispatcher.api.context import context_of
from dispatcher.console.session import user_of
from griddispatch import subjects
from griddispatch.errors import NotFoundError
from griddispatch.messages import TaskEventMessage
from storage.accounts.scope import check_task

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
QUEUE_SIZE = 1000


class EventHub:
    """Fans the task events of one NATS subscription out to the open event streams."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._subscription: Subscription | None = None
        self._queues: set[asyncio.Queue[TaskEventMessage | None]] = set()

    async def start(self) -> None:
        """Subscribe to new task events."""
        self._subscription = await self._js.subscribe(
            subjects.TASK_EVENT_ANY,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            cb=self._on_message,
        )
        log.info("console event hub subscribed subject=%s", subjects.TASK_EVENT_ANY)

    async def close(self) -> None:
        """Unsubscribe and tell every open stream to end."""
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def _on_message(self, msg: Msg) -> None:
        try:
            event = TaskEventMessage.model_validate_json(msg.data)
        except pydantic.ValidationError as exc:
            log.warning(
                "console skipped a malformed task event subject=%s error=%s", msg.subject, exc
            )
            return
        for queue in self._queues:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("console event stream is behind; event dropped task=%s", event.task_id)

    @contextlib.contextmanager
    def listen(self) -> Iterator[asyncio.Queue[TaskEventMessage | None]]:
        """Register a queue that receives every event while the block runs."""
        queue: asyncio.Queue[TaskEventMessage | None] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)


HUB = web.AppKey("griddispatch_console_events", EventHub)


def _sse(event: TaskEventMessage) -> bytes:
    data = {
        "event_id": event.event_id,
        "task_id": event.task_id,
        "kind": event.kind,
        "state": event.state,
        "actor": event.actor,
        "at": event.at.isoformat(),
    }
    return f"event: task\nid: {event.event_id}\ndata: {json.dumps(data)}\n\n".encode()


async def _visible(request: web.Request, event: TaskEventMessage) -> bool:
    try:
        await check_task(context_of(request).db, event.task_id, user_of(request).county_code)
    except NotFoundError:
        return False
    return True


async def _next(queue: asyncio.Queue[TaskEventMessage | None]) -> TaskEventMessage | bool | None:
    """Return the next event, None when the hub closes, or False after a quiet keep-alive time."""
    try:
        return await asyncio.wait_for(queue.get(), KEEPALIVE_S)
    except TimeoutError:
        return False


async def event_stream(request: web.Request) -> web.StreamResponse:
    """Stream the task events the user may see until the browser leaves or the server stops."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b": connected\n\n")
    with request.app[HUB].listen() as queue, contextlib.suppress(ConnectionResetError):
        while True:
            item = await _next(queue)
            if item is None:
                break
            if item is False:
                await response.write(b": keep-alive\n\n")
            elif isinstance(item, TaskEventMessage) and await _visible(request, item):
                await response.write(_sse(item))
    return response

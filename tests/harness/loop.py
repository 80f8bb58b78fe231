"""The whole griddispatch loop in one test: real NATS, real database, real HTTP to Telegram.

Time is a ManualClock: the worker's scheduled sweeps are off, and a test
moves the clock and calls `sweep()`, which returns once the steps fired and
their messages were relayed.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from nats.js import JetStreamContext
from sqlalchemy import select

from bots.app import BotService, WebhookConfig
from bots.local_api.client import LocalBotApiControl
from bots.local_api.server import LocalBotApiServer
from dispatcher.service import DispatcherService
from dispatcher.setup import load_example_registry
from griddispatch import subjects
from griddispatch.clock import ManualClock
from griddispatch.nats_connection import connect
from griddispatch.nats_server import NatsServer, free_port
from griddispatch.settings import LOCAL_BOT_TOKEN, Settings
from storage.db import Database
from storage.directives.models import Directive
from storage.escalation.policy import Escalation
from storage.escalation.service import FiredStep
from storage.files import FileStore, LocalFileStore
from storage.registry.models import Inspector
from storage.registry.queries import inspector_by_code
from storage.registry.service import create_invite
from storage.tasks.models import Task, TaskEvent
from tests.harness.chats import ChatExpectations
from workers.service import WorkerService

T = TypeVar("T")

# A Monday morning in China Standard Time, so tests read like a working day.
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
WAIT_TIMEOUT_S = 10.0
TEST_USER_BASE = 5_000_000_000
TEST_POLICIES = Path(__file__).parent / "policies.yaml"
# The harness chain: the grid leader hears this long after the reminder.
ESCALATE_AFTER = timedelta(minutes=30)


@dataclass
class Loop:
    """Handles on every running component of one scenario."""

    clock: ManualClock
    db: Database
    nats: NatsServer
    js: JetStreamContext
    api: LocalBotApiServer
    control: LocalBotApiControl
    chats: ChatExpectations
    escalation: Escalation
    dispatcher: DispatcherService
    worker: WorkerService
    bot: BotService

    async def sweep(self) -> list[FiredStep]:
        """Run one escalation sweep at the clock's time and relay what it queued."""
        assert self.worker.escalation_worker is not None and self.worker.relay is not None
        fired = await self.worker.escalation_worker.sweep_once()
        await self.worker.relay.drain()
        return fired

    async def publish(self, subject: str, payload: dict[str, Any] | bytes, msg_id: str) -> None:
        """Publish a message to JetStream as an outside sender would."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self.js.publish(subject, body, headers={"Nats-Msg-Id": msg_id})

    async def bind(self, inspector: Inspector, *, language: str = "zh-hans") -> int:
        """Bind an inspector via `/start <invite>` as a new Telegram user; return the user id."""
        user_id = TEST_USER_BASE + inspector.id
        await self.control.create_user(user_id, inspector.name, language_code=language)
        invite = await create_invite(self.db, inspector.code, now=self.clock.now())
        await self.control.send_text(user_id, f"/start {invite.code}")
        await self.chats.receives(user_id, inspector.code)
        return user_id

    async def inspector(self, code: str) -> Inspector:
        async with self.db.reading() as session:
            inspector = await inspector_by_code(session, code)
        assert inspector is not None, f"inspector {code} is not in the registry"
        return inspector

    async def tasks_of_directive(self, message_id: str, count: int) -> list[Task]:
        """Wait until the directive with `message_id` has `count` tasks; return them by id."""

        async def found() -> list[Task] | None:
            async with self.db.reading() as session:
                directive = await session.scalar(
                    select(Directive).where(Directive.message_id == message_id)
                )
                if directive is None:
                    return None
                tasks = list(
                    await session.scalars(
                        select(Task).where(Task.directive_id == directive.id).order_by(Task.id)
                    )
                )
                return tasks if len(tasks) >= count else None

        return await wait_for(found, f"{count} tasks of directive {message_id}")

    async def trail_kinds(self, task_id: int) -> list[str]:
        """Return the kinds of a task's trail entries in order."""
        async with self.db.reading() as session:
            events = await session.scalars(
                select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
            )
            return [event.kind for event in events]

    async def delivery_recorded(self, task_id: int) -> None:
        """Wait until the bot has recorded a delivery about a task, as before tapping its card."""

        async def recorded() -> bool:
            return "delivered" in await self.trail_kinds(task_id)

        await wait_for(recorded, f"a recorded delivery of task {task_id}")

    async def trail_becomes(self, task_id: int, kinds: list[str]) -> None:
        """Wait until a task's trail is `kinds`, and fail with the last trail read if it times out.

        The bot records a delivery after Telegram returns the sent message. That can be later
        than the message shows in the chat, so a scenario waits here before it moves on.
        """
        seen: list[str] = []

        async def reached() -> bool:
            seen[:] = await self.trail_kinds(task_id)
            return seen == kinds

        try:
            await wait_for(reached, f"the trail of task {task_id} to be {kinds}")
        except AssertionError as error:
            raise AssertionError(f"{error}. The last trail read was {seen}") from None

    async def dead_letters(self) -> list[dict[str, Any]]:
        """Return the dead letters stored so far, at most ten, oldest first."""
        subscription = await self.js.pull_subscribe(
            subjects.DEAD_LETTER_ANY, stream=subjects.DEAD_LETTER_STREAM
        )
        try:
            messages = await subscription.fetch(10, timeout=2)
        finally:
            await subscription.unsubscribe()
        return [json.loads(message.data) for message in messages]

    async def stream_count(self, stream: str) -> int:
        """Return how many messages a stream holds."""
        info = await self.js.stream_info(stream)
        return int(info.state.messages)


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = WAIT_TIMEOUT_S
) -> T:
    """Poll `probe` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_loop(
    database_url: str,
    tmp_path: Path,
    *,
    escalation: Escalation | None = None,
    example_registry: bool = True,
    webhook: WebhookConfig | None = None,
    files: FileStore | None = None,
) -> AsyncIterator[Loop]:
    """Start every component against `database_url` and stop them all afterwards."""
    clock = ManualClock(START)
    escalation = escalation or Escalation.load(TEST_POLICIES, tmp_path / "calendars")
    async with AsyncExitStack() as stack:
        nats = NatsServer(port=free_port(), store_dir=tmp_path / "jetstream")
        await nats.start()
        stack.push_async_callback(nats.stop)

        db = Database(database_url)
        stack.push_async_callback(db.dispose)
        if example_registry:
            await load_example_registry(db)

        api = LocalBotApiServer()
        await api.start()
        stack.push_async_callback(api.stop)
        control = LocalBotApiControl(api.base_url, LOCAL_BOT_TOKEN)
        stack.push_async_callback(control.close)

        dispatcher = DispatcherService(nats_url=nats.url, db=db, escalation=escalation, clock=clock)
        await dispatcher.start()
        stack.push_async_callback(dispatcher.stop)
        worker = WorkerService(
            nats_url=nats.url,
            db=db,
            escalation=escalation,
            clock=clock,
            sweep_interval_s=3600.0,
            settings=Settings(data_dir=tmp_path),
            schedule_jobs=False,
        )
        await worker.start()
        stack.push_async_callback(worker.stop)
        bot = BotService(
            nats_url=nats.url,
            db=db,
            clock=clock,
            escalation=escalation,
            files=files or LocalFileStore(tmp_path / "files"),
            webhook=webhook,
            token=LOCAL_BOT_TOKEN,
            # The local server enforces no limits here; tests/sender checks the spacing.
            private_chat_interval_s=0.0,
            api_url=api.base_url,
            poll_timeout_s=1,
        )
        await bot.start()
        stack.push_async_callback(bot.stop)

        client = await connect(nats.url, name="griddispatch-test")
        stack.push_async_callback(client.close)

        yield Loop(
            clock=clock,
            db=db,
            nats=nats,
            js=client.jetstream(),
            api=api,
            control=control,
            chats=ChatExpectations(control),
            escalation=escalation,
            dispatcher=dispatcher,
            worker=worker,
            bot=bot,
        )

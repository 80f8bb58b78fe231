"""The hooks on the whole loop: an HTTP server with the hook routes, and a callback receiver.

`running_hooks` starts the loop of `tests.harness.loop` and an aiohttp
server on 127.0.0.1 with `add_hook_routes`. It also starts the callback
worker, whose delivery job the tests run themselves on the loop's manual
clock, and a receiver on 127.0.0.1 that records the callbacks it gets and
returns the statuses a test sets.
"""

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from dispatcher.hooks import add_hook_routes
from dispatcher.hooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from griddispatch import subjects
from griddispatch.clock import Clock
from griddispatch.nats_server import free_port
from griddispatch.settings import Settings
from storage.api_tokens.cache import VerifiedTokens
from storage.api_tokens.service import create_token
from storage.db import Database
from storage.leads.models import Lead
from storage.registry.models import Inspector, Role
from storage.tasks.models import Task, TaskEvent
from tests.harness.loop import Loop, running_loop, wait_for
from workers.callbacks import CallbackWorker

RECEIVER_PATH = "/griddispatch/status"
CALLBACK_MAX_ATTEMPTS = 3
CALLBACK_BACKOFF_S = 60.0


@dataclass(frozen=True)
class HookContextForTests:
    """The five things the hooks need, taken from the running loop and the settings."""

    db: Database
    js: Any
    clock: Clock
    settings: Settings
    verified_tokens: VerifiedTokens


@dataclass
class Receiver:
    """A callback receiver: records each request and returns the next queued status."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": status < 300}, status=status)


@dataclass
class Answer:
    """A hook's HTTP response: status and decoded body."""

    status: int
    body: dict[str, Any]

    @property
    def error(self) -> dict[str, Any]:
        error = self.body.get("error")
        assert isinstance(error, dict), f"expected an error body, got {self.body}"
        return error


@dataclass
class Hooks:
    """Handles on the hook server, its tokens, the callback worker and the receiver."""

    loop: Loop
    base_url: str
    http: aiohttp.ClientSession
    settings: Settings
    callbacks: CallbackWorker
    receiver: Receiver
    hook_token: str
    hook_secret: str
    reader_token: str
    reader_secret: str

    async def post(
        self,
        path: str,
        payload: Any,
        *,
        token: str | None = None,
        bearer: bool = True,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        chunked: bool = False,
    ) -> Answer:
        """POST JSON (or raw bytes) to a hook, with a bearer token unless `bearer` is False.

        With `chunked` the body goes in 16 KiB chunks without a Content-Length.
        """
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        # The tests read error messages in English, as a monitoring system asking for it does.
        sent = {"Content-Type": "application/json", "Accept-Language": "en", **(headers or {})}
        if bearer:
            sent["Authorization"] = f"Bearer {token or self.hook_token}"
        data: bytes | AsyncIterator[bytes] = _chunks(body) if chunked else body
        async with self.http.post(
            self.base_url + path, data=data, headers=sent, params=params
        ) as response:
            text = await response.text()
            return Answer(response.status, json.loads(text) if text else {})

    def signature_headers(
        self, body: bytes, *, secret: str | None = None, age_s: float = 0.0
    ) -> dict[str, str]:
        """Return the signature headers of `body`, signed `age_s` seconds before the clock."""
        timestamp = str(int(self.loop.clock.now().timestamp() - age_s))
        return {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret or self.hook_secret, timestamp, body),
        }

    async def post_signed(
        self, path: str, payload: Any, *, secret: str | None = None, age_s: float = 0.0
    ) -> Answer:
        """POST a body signed with the hook token's HMAC secret, without a bearer token."""
        body = json.dumps(payload).encode()
        headers = self.signature_headers(body, secret=secret, age_s=age_s)
        return await self.post(path, body, bearer=False, headers=headers)

    async def lead(self, source: str, dedup_key: str, *, episode: int = 1) -> Lead:
        """Wait until the dispatcher stored the lead; return it."""

        async def stored() -> Lead | None:
            async with self.loop.db.reading() as session:
                return await session.scalar(
                    select(Lead).where(
                        Lead.source == source,
                        Lead.dedup_key == dedup_key,
                        Lead.episode == episode,
                    )
                )

        return await wait_for(stored, f"lead {source}/{dedup_key} episode {episode}")

    async def task_of(self, lead: Lead) -> Task:
        """Return the task a lead opened or was folded into."""
        async with self.loop.db.reading() as session:
            task = await session.scalar(
                select(Task).where(Task.lead_id == (lead.folded_into_id or lead.id))
            )
        assert task is not None, f"lead {lead.id} has no task (routing {lead.routing})"
        return task

    async def task_state_becomes(self, task_id: int, state: str) -> Task:
        """Wait until a task is in `state`; return it."""

        async def reached() -> Task | None:
            async with self.loop.db.reading() as session:
                task = await session.get(Task, task_id)
            return task if task is not None and task.state == state else None

        return await wait_for(reached, f"task {task_id} to be {state}")

    async def trail(self, task_id: int) -> list[TaskEvent]:
        """Return a task's trail entries in order."""
        async with self.loop.db.reading() as session:
            rows = await session.scalars(
                select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)
            )
            return list(rows)

    async def count(self, model: type[Any]) -> int:
        """Return how many rows a table holds."""
        async with self.loop.db.reading() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def inbound_messages(self) -> int:
        """Return how many directives and leads JetStream holds."""
        return await self.loop.stream_count(subjects.INBOUND_STREAM)

    async def grid_leader(self, grid_code: str) -> Inspector:
        """Return the grid leader of a grid of the example registry."""
        async with self.loop.db.reading() as session:
            leader = await session.scalar(
                select(Inspector).where(
                    Inspector.division_code == grid_code,
                    Inspector.role == Role.GRID_LEADER.value,
                )
            )
        assert leader is not None, f"grid {grid_code} has no grid leader"
        return leader

    async def deliver_until(self, count: int) -> None:
        """Run the delivery job until the receiver has had `count` requests."""

        async def received() -> bool:
            await self.callbacks.deliver_due()
            return len(self.receiver.received) >= count

        await wait_for(received, f"{count} callbacks at the receiver")


async def _chunks(body: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _start_site(app: web.Application, stack: AsyncExitStack) -> str:
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def running_hooks(database_url: str, tmp_path: Path) -> AsyncIterator[Hooks]:
    """Start the loop, the hook server, the callback worker and the receiver."""
    async with AsyncExitStack() as stack:
        loop = await stack.enter_async_context(running_loop(database_url, tmp_path))

        receiver = Receiver()
        receiver_app = web.Application()
        receiver_app.router.add_post(RECEIVER_PATH, receiver.handle)
        receiver_base = await _start_site(receiver_app, stack)
        receiver.url = receiver_base + RECEIVER_PATH

        settings = Settings(
            callback_allowlist=receiver_base.removeprefix("http://"),
            callback_max_attempts=CALLBACK_MAX_ATTEMPTS,
            callback_backoff_s=CALLBACK_BACKOFF_S,
            callback_timeout_s=5.0,
        )
        context = HookContextForTests(
            db=loop.db,
            js=loop.js,
            clock=loop.clock,
            settings=settings,
            verified_tokens=VerifiedTokens(timedelta(seconds=settings.token_cache_s), loop.clock),
        )
        app = web.Application()
        add_hook_routes(app, context)
        base_url = await _start_site(app, stack)

        now = loop.clock.now()
        hook_record, hook_token = await create_token(
            loop.db, "monitoring", ["hook"], with_hmac_secret=True, now=now
        )
        reader_record, reader_token = await create_token(
            loop.db, "dashboard", ["read_only"], with_hmac_secret=True, now=now
        )
        assert hook_record.hmac_secret is not None and reader_record.hmac_secret is not None

        callbacks = CallbackWorker(loop.db, loop.js, loop.clock, settings)
        await callbacks.start()
        stack.push_async_callback(callbacks.stop)
        http = await stack.enter_async_context(aiohttp.ClientSession())

        yield Hooks(
            loop=loop,
            base_url=base_url,
            http=http,
            settings=settings,
            callbacks=callbacks,
            receiver=receiver,
            hook_token=hook_token,
            hook_secret=hook_record.hmac_secret,
            reader_token=reader_token,
            reader_secret=reader_record.hmac_secret,
        )

"""The API, dispatcher and worker built by `build_component` as `griddispatch up` builds them.

Every component runs on the system clock with its jobs scheduled, so the
worker delivers callbacks on its own. The settings make the delivery
interval and the back-off fractions of a second, so a failing callback is
parked within about a second. Leads come in over the generic hook.
Resolving a lead from its source cancels its task, and that state change
is what the callbacks report.
"""

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from nats.js import JetStreamContext
from sqlalchemy import select

from dispatcher.api.service import ApiService
from dispatcher.setup import load_example_registry
from dispatcher.up import BotEndpoint, build_component
from griddispatch import subjects
from griddispatch.nats_connection import connect
from griddispatch.nats_server import NatsServer, free_port
from griddispatch.settings import LOCAL_BOT_TOKEN, Settings
from storage.api_tokens.service import create_token
from storage.callbacks.models import Callback
from storage.db import Database
from storage.leads.models import Lead
from storage.tasks.models import Task
from tests.harness.loop import wait_for
from tests.hooks.support import RECEIVER_PATH, Receiver

LEADS_PATH = "/hooks/leads"
FARM_CODE = "92150602MANDKQ4J2L"  # 东胜区丰泽家庭农场, inspector JG0010
MAX_ATTEMPTS = 3
# Real seconds: the first retry waits this long, the second twice as long.
BACKOFF_S = 0.05
# Real seconds between the worker's scheduled delivery runs.
DELIVERY_INTERVAL_S = 0.1


@dataclass
class Components:
    """The running API, dispatcher and worker, their settings, tokens and a callback receiver."""

    api: ApiService
    settings: Settings
    db: Database
    js: JetStreamContext
    http: aiohttp.ClientSession
    receiver: Receiver
    tokens: dict[str, str]
    hook_secret: str

    async def request(
        self, method: str, path: str, *, token: str = "centre", json_body: Any = None
    ) -> tuple[int, dict[str, str], Any]:
        """Send a request to a path under /api/v1; return status, headers and decoded body."""
        # Error messages in English, as a program asking for them gets them.
        headers = {"Authorization": f"Bearer {self.tokens[token]}", "Accept-Language": "en"}
        async with self.http.request(
            method, self.api.base_url + path, json=json_body, headers=headers
        ) as response:
            return response.status, dict(response.headers), await response.json()

    async def post_lead(self, payload: dict[str, Any], *, token: str = "hook") -> tuple[int, Any]:
        """POST a lead to the generic hook; return status and decoded body."""
        status, _, body = await self.request("POST", LEADS_PATH, token=token, json_body=payload)
        return status, body

    async def resolve(self, dedup_key: str) -> None:
        """Publish the source's resolve of an opinion lead on NATS, as the source would."""
        update = {
            "message_id": f"resolve-{dedup_key}",
            "action": "resolve",
            "source": "opinion",
            "dedup_key": dedup_key,
        }
        await self.js.publish(
            subjects.lead_subject("opinion"),
            json.dumps(update).encode(),
            headers={"Nats-Msg-Id": update["message_id"]},
        )

    async def task_of(self, dedup_key: str) -> Task:
        """Wait until the dispatcher has opened a task for the lead; return it."""

        async def opened() -> Task | None:
            async with self.db.reading() as session:
                lead = await session.scalar(select(Lead).where(Lead.dedup_key == dedup_key))
                if lead is None:
                    return None
                return await session.scalar(select(Task).where(Task.lead_id == lead.id))

        return await wait_for(opened, f"a task for lead {dedup_key}")

    async def callback_becomes(self, task_id: int, state: str) -> Callback:
        """Wait until the callback of a task is in `state`; return it."""

        async def reached() -> Callback | None:
            async with self.db.reading() as session:
                callback = await session.scalar(select(Callback).where(Callback.task_id == task_id))
            return callback if callback is not None and callback.state == state else None

        return await wait_for(reached, f"the callback of task {task_id} to be {state}")


def lead_payload(dedup_key: str, *, callback_url: str | None = None) -> dict[str, Any]:
    """Return a generic-hook lead about the farm, with a callback URL if given."""
    payload: dict[str, Any] = {
        "source": "opinion",
        "dedup_key": dedup_key,
        "title": "舆情：丰泽家庭农场韭菜疑似农残超标",
        "subject": {"credit_code": FARM_CODE},
    }
    if callback_url is not None:
        payload["callback_url"] = callback_url
    return payload


async def parked_callback(components: Components, dedup_key: str) -> Callback:
    """Post a lead whose receiver keeps failing, resolve it, and wait until its callback parks."""
    components.receiver.statuses = [503] * MAX_ATTEMPTS
    status, body = await components.post_lead(
        lead_payload(dedup_key, callback_url=components.receiver.url)
    )
    assert status == 202, body
    task = await components.task_of(dedup_key)
    await components.resolve(dedup_key)
    return await components.callback_becomes(task.id, "parked")


async def _start_receiver(receiver: Receiver, stack: AsyncExitStack) -> str:
    app = web.Application()
    app.router.add_post(RECEIVER_PATH, receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return f"127.0.0.1:{port}"


def components_settings(tmp_path: Path, receiver_host: str) -> Settings:
    """Return settings for the components on loopback, with short callback timings."""
    return Settings(
        data_dir=tmp_path,
        api_host="127.0.0.1",
        api_port=free_port(),
        callback_allowlist=receiver_host,
        callback_max_attempts=MAX_ATTEMPTS,
        callback_backoff_s=BACKOFF_S,
        callback_timeout_s=5.0,
        callback_interval_s=DELIVERY_INTERVAL_S,
    )


async def _make_tokens(db: Database) -> tuple[dict[str, str], str]:
    """Create a hook token with an HMAC secret, a command-centre token and a read-only token."""
    hook_record, hook_token = await create_token(db, "monitoring", ["hook"], with_hmac_secret=True)
    _, centre_token = await create_token(db, "centre", ["command_centre"])
    _, reader_token = await create_token(db, "reader", ["read_only"])
    assert hook_record.hmac_secret is not None
    tokens = {"hook": hook_token, "centre": centre_token, "reader": reader_token}
    return tokens, hook_record.hmac_secret


@asynccontextmanager
async def running_components(
    nats_url: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Components]:
    """Start the dispatcher, worker and API as `up` does, and a callback receiver."""
    async with AsyncExitStack() as stack:
        receiver = Receiver()
        receiver_host = await _start_receiver(receiver, stack)
        receiver.url = f"http://{receiver_host}{RECEIVER_PATH}"
        settings = components_settings(tmp_path, receiver_host)
        db = Database(database_url)
        stack.push_async_callback(db.dispose)
        await load_example_registry(db)
        tokens, hook_secret = await _make_tokens(db)

        bot = BotEndpoint(LOCAL_BOT_TOKEN, None)
        api = build_component("api", settings, db, nats_url=nats_url, bot=bot)
        assert isinstance(api, ApiService)
        for name in ("dispatcher", "worker"):
            component = build_component(name, settings, db, nats_url=nats_url, bot=bot)
            await component.start()
            stack.push_async_callback(component.stop)
        await api.start()
        stack.push_async_callback(api.stop)

        client = await connect(nats_url, name="griddispatch-test")
        stack.push_async_callback(client.close)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        yield Components(
            api=api,
            settings=settings,
            db=db,
            js=client.jetstream(),
            http=http,
            receiver=receiver,
            tokens=tokens,
            hook_secret=hook_secret,
        )


@pytest.fixture(name="components")
async def components_fixture(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> AsyncIterator[Components]:
    """The `components` fixture: what `up` starts, with a callback receiver.

    A test module imports it to use it, as tests in more than one folder do."""
    async with running_components(nats_server.url, database_url, tmp_path) as running:
        yield running

"""The dispatcher's consumers fed malformed and hostile messages on a real nats-server.

For each subject a batch of hypothesis-generated messages is published:
random bytes, JSON of the wrong shape, fields of the wrong type, huge
strings, unicode edge cases, missing and unknown fields, strange headers.
Afterwards nothing is pending or unacknowledged, every certainly invalid
message is in the dead-letter stream with a reason, every other one was
either accepted or dead-lettered, and a valid message sent after the batch
still becomes its tasks. The short batch runs by default. `--soak` runs a
long one that also carries NUL characters, which PostgreSQL rejects as
database errors: those are retried before they are dead-lettered.
"""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import strategies as st
from nats.aio.client import Client
from sqlalchemy import func, select

from dispatcher.service import DispatcherService
from griddispatch import subjects
from griddispatch.clock import ManualClock
from griddispatch.messages import LeadUpdateMessage
from griddispatch.nats_connection import connect
from griddispatch.nats_server import NatsServer
from storage.db import Database
from storage.directives.models import Directive
from storage.leads.models import Lead
from storage.tasks.models import Task
from tests.fuzz.payloads import Hostile, hostile_messages
from tests.fuzz.support import (
    SETTLE_TIMEOUT_S,
    SHORT_BATCH,
    SOAK_BATCH,
    SOAK_SETTLE_TIMEOUT_S,
    Published,
    dead_letters,
    describe,
    draw,
    logged_errors,
    publish_all,
    wait_settled,
)
from tests.harness.loop import wait_for
from tests.storage.support import ESCALATION, GRID, GRID_INSPECTORS, START, import_small_registry

LEAD_SUBJECT = subjects.lead_subject("opinion")


def _directive() -> dict[str, Any]:
    return {"target": {"kind": "grid", "code": GRID}, "title": "农药门店专项检查", "body": "本周内"}


def _lead() -> dict[str, Any]:
    return {"source": "opinion", "title": "舆情：疑似违规用药", "grid_code": GRID, "text": "详情"}


def _lead_update() -> dict[str, Any]:
    return {"action": "resolve", "source": "opinion", "dedup_key": "fuzz-lead", "note": "已处置"}


DIRECTIVE_REQUIRED = ["target", "title"]
DIRECTIVE_STRINGS = ["title", "body", "priority", "assignment", "ack_within"]
DIRECTIVE_TEXTS = ["title", "body", "issued_by"]
DIRECTIVES = hostile_messages(
    _directive,
    required=DIRECTIVE_REQUIRED,
    string_fields=DIRECTIVE_STRINGS,
    text_fields=DIRECTIVE_TEXTS,
)
DIRECTIVES_WITH_NUL = hostile_messages(
    _directive,
    required=DIRECTIVE_REQUIRED,
    string_fields=DIRECTIVE_STRINGS,
    text_fields=DIRECTIVE_TEXTS,
    with_nul=True,
)
LEADS = hostile_messages(
    _lead,
    required=["source", "title"],
    string_fields=["title", "text", "source", "grid_code", "severity", "dedup_key"],
    text_fields=["title", "text", "address", "dedup_key"],
)
LEAD_UPDATES = hostile_messages(
    _lead_update,
    required=["action", "source", "dedup_key"],
    string_fields=["action", "source", "dedup_key", "note"],
    text_fields=["note", "dedup_key"],
)


@pytest.fixture
async def dispatcher(
    nats_server: NatsServer, db: Database, tmp_path: Path
) -> AsyncIterator[DispatcherService]:
    await import_small_registry(db, tmp_path)
    service = DispatcherService(
        nats_url=nats_server.url, db=db, escalation=ESCALATION, clock=ManualClock(START)
    )
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def client(nats_server: NatsServer) -> AsyncIterator[Client]:
    connection = await connect(nats_server.url, name="test-fuzz")
    yield connection
    await connection.close()


async def _accepted_directives(db: Database) -> set[str]:
    async with db.reading() as session:
        return set(await session.scalars(select(Directive.message_id)))


async def _accepted_leads(db: Database) -> set[str]:
    async with db.reading() as session:
        return {
            message_id
            for message_id in await session.scalars(select(Lead.message_id))
            if message_id
        }


async def _task_count(db: Database) -> int:
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(Task)) or 0)


async def _fuzz(
    client: Client,
    subject: str,
    consumer: str,
    strategy: st.SearchStrategy[Hostile],
    *,
    count: int,
    settle_timeout_s: float = SETTLE_TIMEOUT_S,
) -> tuple[list[Published], dict[int, Any]]:
    js = client.jetstream()
    published = await publish_all(js, subject, draw(strategy, count), prefix=f"fuzz-{consumer}")
    await wait_settled(js, subjects.INBOUND_STREAM, consumer, timeout_s=settle_timeout_s)
    return published, await dead_letters(js, consumer)


def _check_settlement(
    published: list[Published], letters: dict[int, Any], accepted: set[str]
) -> None:
    for item in published:
        letter = letters.get(item.sequence)
        if item.message.certainly_invalid:
            assert letter is not None, f"not dead-lettered: {describe(item)}"
        if letter is not None:
            assert letter.reason.strip(), f"dead letter without a reason: {describe(item)}"
            assert item.message_id not in accepted, f"accepted and dead-lettered: {describe(item)}"
        else:
            assert item.message_id in accepted, (
                f"neither accepted nor dead-lettered: {describe(item)}"
            )


async def _valid_directive_still_becomes_tasks(client: Client, db: Database) -> None:
    before = await _task_count(db)
    await client.jetstream().publish(
        subjects.DIRECTIVE_ISSUE,
        json.dumps(_directive()).encode(),
        headers={"Nats-Msg-Id": "after-the-fuzz"},
    )

    async def tasks_created() -> bool:
        return await _task_count(db) == before + len(GRID_INSPECTORS)

    await wait_for(tasks_created, "the tasks of the directive sent after the fuzz batch")


async def test_directive_consumer_survives_fuzz(
    dispatcher: DispatcherService, client: Client, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    published, letters = await _fuzz(
        client, subjects.DIRECTIVE_ISSUE, subjects.DIRECTIVE_CONSUMER, DIRECTIVES, count=SHORT_BATCH
    )

    _check_settlement(published, letters, await _accepted_directives(db))
    await _valid_directive_still_becomes_tasks(client, db)
    assert logged_errors(caplog.records) == []


async def test_lead_consumer_survives_fuzz(
    dispatcher: DispatcherService, client: Client, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    published, letters = await _fuzz(
        client, LEAD_SUBJECT, subjects.LEAD_CONSUMER, LEADS, count=SHORT_BATCH
    )

    _check_settlement(published, letters, await _accepted_leads(db))
    await _valid_directive_still_becomes_tasks(client, db)
    assert logged_errors(caplog.records) == []


def _valid_updates(published: list[Published]) -> set[str]:
    """Return the ids of the messages that are valid lead updates, as the schema decides."""
    valid = set()
    for item in published:
        try:
            data = json.loads(item.message.body)
            if isinstance(data, dict):
                LeadUpdateMessage.model_validate({"message_id": item.message_id, **data})
                valid.add(item.message_id)
        except (ValueError, pydantic.ValidationError):
            continue
    return valid


async def _open_fuzz_lead(client: Client, db: Database) -> None:
    lead = {**_lead(), "dedup_key": _lead_update()["dedup_key"]}
    await client.jetstream().publish(
        LEAD_SUBJECT, json.dumps(lead).encode(), headers={"Nats-Msg-Id": "fuzz-lead"}
    )

    async def stored() -> bool:
        return "fuzz-lead" in await _accepted_leads(db)

    await wait_for(stored, "the lead the updates are about")


async def test_lead_update_consumer_survives_fuzz(
    dispatcher: DispatcherService, client: Client, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _open_fuzz_lead(client, db)

    published, letters = await _fuzz(
        client, LEAD_SUBJECT, subjects.LEAD_CONSUMER, LEAD_UPDATES, count=SHORT_BATCH
    )

    # A valid update is applied to the open lead, or ignored once the lead is resolved.
    _check_settlement(published, letters, _valid_updates(published))
    await _valid_directive_still_becomes_tasks(client, db)
    assert logged_errors(caplog.records) == []


@pytest.mark.soak
async def test_directive_consumer_survives_long_fuzz(
    dispatcher: DispatcherService, client: Client, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    published, letters = await _fuzz(
        client,
        subjects.DIRECTIVE_ISSUE,
        subjects.DIRECTIVE_CONSUMER,
        DIRECTIVES_WITH_NUL,
        count=SOAK_BATCH,
        settle_timeout_s=SOAK_SETTLE_TIMEOUT_S,
    )

    _check_settlement(published, letters, await _accepted_directives(db))
    await _valid_directive_still_becomes_tasks(client, db)
    # NUL characters reach PostgreSQL as database errors, which are logged as they are
    # retried and finally dead-lettered. No other error may appear.
    unexpected = [line for line in logged_errors(caplog.records) if "0x00" not in line]
    assert unexpected == []


@pytest.mark.soak
async def test_lead_consumer_survives_long_fuzz(
    dispatcher: DispatcherService, client: Client, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    published, letters = await _fuzz(
        client,
        LEAD_SUBJECT,
        subjects.LEAD_CONSUMER,
        LEADS,
        count=SOAK_BATCH,
        settle_timeout_s=SOAK_SETTLE_TIMEOUT_S,
    )

    _check_settlement(published, letters, await _accepted_leads(db))
    await _valid_directive_still_becomes_tasks(client, db)
    assert logged_errors(caplog.records) == []


async def test_nul_in_title_is_dead_lettered_at_once(
    dispatcher: DispatcherService, client: Client, db: Database
) -> None:
    js = client.jetstream()
    body = json.dumps({**_directive(), "title": "检查\x00门店"}).encode()
    ack = await js.publish(subjects.DIRECTIVE_ISSUE, body, headers={"Nats-Msg-Id": "nul-title"})

    async def dead_lettered() -> bool:
        return ack.seq in await dead_letters(js, subjects.DIRECTIVE_CONSUMER)

    await wait_for(dead_lettered, "the dead letter of the title with NUL")

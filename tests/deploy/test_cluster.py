"""Replicas on the three-node cluster of deploy/nats: R3 streams, two dispatchers, one consumer.

Two dispatcher services, connected to different nodes, bind the same durable
pull consumer, so JetStream hands each directive to one of them: every
directive is processed once and becomes its tasks once.
"""

import json
import logging
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import func, select

from dispatcher.service import DispatcherService
from griddispatch import subjects
from griddispatch.clock import ManualClock
from griddispatch.errors import ConfigurationError
from griddispatch.nats_connection import connect
from griddispatch.nats_server import NatsServer
from griddispatch.streams import STREAMS, ensure_streams
from storage.db import Database
from storage.directives.models import Directive
from storage.tasks.models import Task
from tests.deploy.cluster import nats_cluster
from tests.harness.loop import wait_for
from tests.storage.support import (
    ESCALATION,
    GRID,
    GRID_INSPECTORS,
    START,
    import_small_registry,
)

DIRECTIVES = 40


def _directive(number: int) -> dict[str, object]:
    return {
        "message_id": f"cluster-{number}",
        "target": {"kind": "grid", "code": GRID},
        "title": f"集群测试指令 {number}",
    }


async def _count(db: Database, model: type[Directive] | type[Task]) -> int:
    async with db.reading() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _processed(records: list[logging.LogRecord]) -> list[str]:
    return [
        record.getMessage()
        for record in records
        if record.name == "dispatcher.consumers" and record.msg.startswith("message processed")
    ]


async def test_two_dispatchers_share_r3_streams(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await import_small_registry(db, tmp_path)
    monkeypatch.setenv("GRIDDISPATCH_STREAM_REPLICAS", "3")
    caplog.set_level(logging.DEBUG, logger="dispatcher.consumers")
    clock = ManualClock(START)

    async with nats_cluster(tmp_path / "cluster") as nodes:
        dispatchers = [
            DispatcherService(nats_url=node.url, db=db, escalation=ESCALATION, clock=clock)
            for node in nodes[:2]
        ]
        for dispatcher in dispatchers:
            await dispatcher.start()
        publisher = await connect(nodes[2].url, name="test-publisher")
        try:
            js = publisher.jetstream()
            for spec in STREAMS:
                info = await js.stream_info(spec.name)
                assert info.config.num_replicas == 3, spec.name
                assert info.cluster is not None
                assert len(info.cluster.replicas or []) == 2, spec.name

            for number in range(DIRECTIVES):
                body = json.dumps(_directive(number)).encode()
                await js.publish(
                    subjects.DIRECTIVE_ISSUE, body, headers={"Nats-Msg-Id": f"cluster-{number}"}
                )

            async def all_stored() -> bool:
                return await _count(db, Task) == DIRECTIVES * len(GRID_INSPECTORS)

            await wait_for(all_stored, f"{DIRECTIVES * len(GRID_INSPECTORS)} tasks", timeout_s=60)
            consumer = await js.consumer_info(subjects.INBOUND_STREAM, subjects.DIRECTIVE_CONSUMER)
            with pytest.raises(ConfigurationError, match="GRIDDISPATCH_STREAM_REPLICAS=5"):
                await ensure_streams(js, replicas=5)
        finally:
            await publisher.close()
            for dispatcher in dispatchers:
                await dispatcher.stop()

    assert await _count(db, Directive) == DIRECTIVES
    assert await _count(db, Task) == DIRECTIVES * len(GRID_INSPECTORS)
    assert consumer.num_pending == 0
    assert consumer.num_ack_pending == 0
    assert consumer.num_redelivered == 0
    assert len(_processed(caplog.records)) == DIRECTIVES


async def test_three_replicas_on_one_server_name_the_setting(nats_server: NatsServer) -> None:
    client = await connect(nats_server.url, name="test-replicas")
    try:
        js = client.jetstream()
        with pytest.raises(ConfigurationError, match="GRIDDISPATCH_STREAM_REPLICAS=3"):
            await ensure_streams(js, replicas=3)
        with pytest.raises(NotFoundError):
            await js.stream_info(STREAMS[0].name)
    finally:
        await client.close()


async def test_replicas_come_from_the_setting(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDDISPATCH_STREAM_REPLICAS", "2")
    client = await connect(nats_server.url, name="test-replicas")
    try:
        with pytest.raises(ConfigurationError, match="set GRIDDISPATCH_STREAM_REPLICAS=1"):
            await ensure_streams(client.jetstream())
    finally:
        await client.close()

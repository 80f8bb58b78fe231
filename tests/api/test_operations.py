"""Liveness, readiness and Prometheus metrics, read as a monitoring system reads them."""

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from griddispatch import subjects
from griddispatch.nats_server import NatsServer
from storage.tasks.models import Task, TaskEvent
from tests.api.support import Client, Reply
from tests.harness.loop import Loop, wait_for

GRID = "150602001001"
GRID_INSPECTORS = 4


def _samples(reply: Reply) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of a Prometheus text reply by name and sorted labels."""
    samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def _trail_count(loop: Loop, kind: str) -> int:
    async with loop.db.reading() as session:
        count = await session.scalar(
            select(func.count()).select_from(TaskEvent).where(TaskEvent.kind == kind)
        )
    return int(count or 0)


async def test_healthz_needs_no_token(api: Client) -> None:
    reply = await api.get("/healthz", token=None)

    assert reply.status == 200
    assert reply.data == {"status": "ok"}
    assert reply.headers["X-Request-Id"]


async def test_request_id_is_echoed(api: Client) -> None:
    reply = await api.get("/healthz", token=None, headers={"X-Request-Id": "trace-42"})

    assert reply.headers["X-Request-Id"] == "trace-42"


async def test_readyz_when_everything_answers(api: Client) -> None:
    reply = await api.get("/readyz", token=None)

    assert reply.status == 200
    assert reply.data["status"] == "ready"
    assert reply.data["checks"]["nats"] == {"ok": True, "error": None}
    assert reply.data["checks"]["database"] == {"ok": True, "error": None}


async def test_readyz_is_503_while_nats_is_down(api: Client, nats_server: NatsServer) -> None:
    await nats_server.stop()

    down = await api.get("/readyz", token=None)

    assert down.status == 503
    assert down.data["status"] == "not_ready"
    assert down.data["checks"]["nats"]["ok"] is False
    assert down.data["checks"]["nats"]["error"]
    assert down.data["checks"]["database"]["ok"] is True
    assert (await api.get("/healthz", token=None)).status == 200

    await nats_server.start()

    async def ready_again() -> bool:
        return (await api.get("/readyz", token=None)).status == 200

    assert await wait_for(ready_again, "readyz after nats-server restarted", timeout_s=20.0)


async def test_metrics_count_what_happened(loop: Loop, loop_api: Client) -> None:
    issued = await loop_api.post(
        "/directives",
        json={
            "target": {"kind": "grid", "code": GRID},
            "title": "春季专项检查",
            "ack_within": "30m",
        },
    )
    await loop.tasks_of_directive(issued.data["message_id"], GRID_INSPECTORS)
    await loop.publish(subjects.DIRECTIVE_ISSUE, b"not json", msg_id="broken-1")

    async def dead_lettered() -> bool:
        return await loop.stream_count(subjects.DEAD_LETTER_STREAM) == 1

    await wait_for(dead_lettered, "the broken directive to be dead-lettered")

    async def bot_gave_up() -> bool:
        # No inspector of the grid is bound to Telegram, so no task's message is delivered.
        return await _trail_count(loop, "not_delivered") == GRID_INSPECTORS

    await wait_for(bot_gave_up, "the bot to record every undeliverable task")
    # Past the 30-minute acknowledge deadline, before the grid leader step 30 minutes later.
    loop.clock.advance(timedelta(minutes=45))
    await loop.sweep()

    reply = await loop_api.get("/metrics", token=None)

    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    samples = _samples(reply)
    directives = (("consumer", subjects.DIRECTIVE_CONSUMER), ("stream", subjects.INBOUND_STREAM))
    assert samples[("griddispatch_messages_consumed_total", directives)] == 2
    assert samples[("griddispatch_messages_dead_lettered_total", ())] == 1
    assert samples[("griddispatch_tasks", (("state", "new"),))] == GRID_INSPECTORS
    assert samples[("griddispatch_tasks", (("state", "closed"),))] == 0
    for kind in ("reminded", "escalated", "escalation_skipped"):
        fired = samples[("griddispatch_escalations_fired_total", (("kind", kind),))]
        assert fired == await _trail_count(loop, kind), kind
    fired_steps = [
        value
        for (name, _), value in samples.items()
        if name == "griddispatch_escalations_fired_total"
    ]
    assert sum(fired_steps) >= GRID_INSPECTORS
    assert samples[("griddispatch_telegram_sends_total", ())] == await _trail_count(
        loop, "delivered"
    )
    assert samples[("griddispatch_telegram_send_errors_total", ())] == await _trail_count(
        loop, "not_delivered"
    )
    posted = (("method", "POST"), ("route", "/api/v1/directives"), ("status", "202"))
    assert samples[("griddispatch_http_request_duration_seconds_count", posted)] == 1
    assert samples[("griddispatch_nats_up", ())] == 1
    assert samples[("griddispatch_database_up", ())] == 1


async def test_metrics_without_nats_still_count_tasks(api: Client, nats_server: NatsServer) -> None:
    await nats_server.stop()

    reply = await api.get("/metrics", token=None)

    samples = _samples(reply)
    assert reply.status == 200
    assert samples[("griddispatch_nats_up", ())] == 0
    assert samples[("griddispatch_database_up", ())] == 1
    assert samples[("griddispatch_tasks", (("state", "new"),))] == 0
    assert not [name for name, _ in samples if name == "griddispatch_messages_consumed_total"]


async def test_task_count_query_counts_each_state(loop: Loop, loop_api: Client) -> None:
    issued = await loop_api.post(
        "/directives", json={"target": {"kind": "grid", "code": GRID}, "title": "复查"}
    )
    await loop.tasks_of_directive(issued.data["message_id"], GRID_INSPECTORS)
    await loop_api.post(f"/directives/{issued.data['message_id']}/cancel")

    samples = _samples(await loop_api.get("/metrics", token=None))

    async with loop.db.reading() as session:
        cancelled = await session.scalar(
            select(func.count()).select_from(Task).where(Task.state == "cancelled")
        )
    assert samples[("griddispatch_tasks", (("state", "cancelled"),))] == cancelled == 4
    assert samples[("griddispatch_tasks", (("state", "new"),))] == 0

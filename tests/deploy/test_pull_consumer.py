"""The dispatcher's pull consumer: batches, the message it hands on, stopping, and fetch errors."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import nats
import pytest
from faststream.nats import NatsMessage
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from dispatcher.pulling import PullConsumer
from griddispatch.nats_server import NatsServer
from tests.harness.loop import wait_for

STREAM = "PULLTEST"
SUBJECT = "pull.test"
DURABLE = "puller"
ACK_WAIT_S = 1.0


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    client: Client = await nats.connect(nats_server.url)
    context = client.jetstream()
    await context.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    await _add_durable(context)
    try:
        yield context
    finally:
        await client.close()


async def _add_durable(js: JetStreamContext) -> None:
    config = ConsumerConfig(
        durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S
    )
    await js.add_consumer(STREAM, config)


async def _publish(js: JetStreamContext, count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        await js.publish(SUBJECT, str(number).encode(), headers={"Nats-Msg-Id": f"m{number}"})


async def _ack_floor(js: JetStreamContext) -> int:
    info = await js.consumer_info(STREAM, DURABLE)
    assert info.ack_floor is not None
    return int(info.ack_floor.stream_seq or 0)


class Receiver:
    """Collects handed-on messages, and acks each one unless created with ack=False."""

    def __init__(self, *, ack: bool = True) -> None:
        self.messages: list[NatsMessage] = []
        self.ack = ack
        self.changed = asyncio.Event()

    async def deliver(self, message: NatsMessage) -> None:
        self.messages.append(message)
        if self.ack:
            await message.ack()
        self.changed.set()

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.messages) < count:
                self.changed.clear()
                await self.changed.wait()

    def bodies(self) -> list[bytes]:
        return [message.body for message in self.messages]


@asynccontextmanager
async def _running(js: JetStreamContext, receiver: Receiver) -> AsyncIterator[PullConsumer]:
    """Run a consumer that hands its messages to `receiver` until the block ends."""
    consumer = _consumer(js, receiver)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


def _consumer(js: JetStreamContext, receiver: Receiver, max_batch: int = 7) -> PullConsumer:
    return PullConsumer(
        js,
        stream=STREAM,
        durable=DURABLE,
        max_batch=max_batch,
        deliver=receiver.deliver,
        fetch_timeout_s=0.2,
        retry_after_s=0.05,
    )


async def test_backlog_handed_on_in_order(js: JetStreamContext) -> None:
    await _publish(js, 30)
    receiver = Receiver()

    async with _running(js, receiver):
        await receiver.wait_for(30)

    assert receiver.bodies() == [str(number).encode() for number in range(30)]
    first = receiver.messages[0]
    assert first.headers["Nats-Msg-Id"] == "m0"
    assert first.raw_message.subject == SUBJECT
    assert first.raw_message.metadata.sequence.stream == 1
    assert await _ack_floor(js) == 30


async def test_message_published_later_arrives(js: JetStreamContext) -> None:
    receiver = Receiver()

    async with _running(js, receiver):
        # Idle fetches time out first, and the loop must go on fetching.
        await asyncio.sleep(0.5)
        await _publish(js, 1)
        await receiver.wait_for(1)

    assert receiver.bodies() == [b"0"]


async def test_no_fetch_after_stop(js: JetStreamContext) -> None:
    receiver = Receiver()
    async with _running(js, receiver):
        pass

    await _publish(js, 3)
    await asyncio.sleep(0.5)

    assert receiver.messages == []
    info = await js.consumer_info(STREAM, DURABLE)
    assert info.num_pending == 3


async def test_unsettled_message_redelivered(js: JetStreamContext) -> None:
    await _publish(js, 2)
    holder = Receiver(ack=False)
    async with _running(js, holder):
        await holder.wait_for(2)

    receiver = Receiver()
    async with _running(js, receiver):
        await receiver.wait_for(2, timeout_s=ACK_WAIT_S + 10)

    assert receiver.bodies() == [b"0", b"1"]
    assert [message.raw_message.metadata.num_delivered for message in receiver.messages] == [2, 2]


async def test_fetch_error_logged_and_retried(
    js: JetStreamContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dispatcher.pulling")
    receiver = Receiver()
    async with _running(js, receiver):
        await js.delete_consumer(STREAM, DURABLE)
        await _publish(js, 1)

        async def failures_logged() -> bool:
            return len(_failed_fetches(caplog)) >= 3

        await wait_for(failures_logged, "three failed fetches in the log")

        await _add_durable(js)
        await receiver.wait_for(1)

    assert receiver.bodies() == [b"0"]
    failed = _failed_fetches(caplog)
    assert [record.levelno for record in failed[:3]] == [
        logging.WARNING,
        logging.DEBUG,
        logging.DEBUG,
    ]
    assert "failures=1 " in failed[0].getMessage()
    recovered = [
        record for record in caplog.records if record.getMessage().startswith("fetch recovered")
    ]
    assert len(recovered) == 1
    assert recovered[0].levelno == logging.INFO
    assert f"after {len(failed)} failed fetches" in recovered[0].getMessage()


def _failed_fetches(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.getMessage().startswith("fetch failed durable=puller")
    ]


def test_batch_below_one_rejected(js: JetStreamContext) -> None:
    with pytest.raises(ValueError, match="batch size 0 must be 1 or more"):
        _consumer(js, Receiver(), max_batch=0)

"""A durable subscriber hands its handler the message itself, on the event loop's thread."""

import asyncio
import threading

import nats
from faststream.nats import NatsBroker, NatsMessage
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from griddispatch.nats_server import NatsServer
from griddispatch.settle import durable_subscriber

STREAM = "DURABLETEST"
SUBJECT = "durable.test"
MESSAGES = 20


async def _prepare(server: NatsServer) -> None:
    client = await nats.connect(server.url)
    try:
        js = client.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
        await js.add_consumer(
            STREAM, ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT)
        )
        for number in range(MESSAGES):
            await js.publish(SUBJECT, f'{{"n": {number}}}'.encode())
    finally:
        await client.close()


def _worker_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if "AnyIO" in thread.name]


async def test_handler_runs_on_loop_thread(
    nats_server: NatsServer,
) -> None:
    await _prepare(nats_server)
    broker = NatsBroker(nats_server.url)
    received: list[bytes] = []
    threads: set[str] = set()
    done = asyncio.Event()

    @durable_subscriber(
        broker,
        subject=SUBJECT,
        stream=STREAM,
        durable="reader",
        title="test",
        description="Messages of the durable subscriber test.",
        pull_batch=5,
    )
    async def on_message(message: NatsMessage) -> None:
        threads.add(threading.current_thread().name)
        received.append(message.body)
        await message.ack()
        if len(received) == MESSAGES:
            done.set()

    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await broker.stop()

    assert sorted(received) == sorted(f'{{"n": {n}}}'.encode() for n in range(MESSAGES))
    assert threads == {threading.main_thread().name}
    assert _worker_threads() == []

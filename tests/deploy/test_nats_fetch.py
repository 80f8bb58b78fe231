"""Batched fetches time out with nats' own TimeoutError, which FastStream's pull loop expects."""

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.client import JetStreamContext

from griddispatch.nats_fetch import _converting, convert_fetch_timeouts
from griddispatch.nats_server import NatsServer

STREAM = "FETCHTEST"
SUBJECT = "fetch.test"


async def _pull(server: NatsServer) -> tuple[Client, JetStreamContext.PullSubscription]:
    client = await nats.connect(server.url)
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="reader"))
    subscription = await js.pull_subscribe(SUBJECT, durable="reader", stream=STREAM)
    return client, subscription


async def test_idle_batch_fetch_raises_nats_timeout(nats_server: NatsServer) -> None:
    convert_fetch_timeouts()
    client, subscription = await _pull(nats_server)
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await subscription.fetch(10, timeout=0.3)
    finally:
        await client.close()


async def test_bare_timeout_becomes_nats_timeout() -> None:
    """nats-py raises a bare timeout only when a reply races the deadline, so it is forced here."""

    async def fetch_that_times_out(*_: object) -> list[object]:
        raise TimeoutError

    with pytest.raises(nats.errors.TimeoutError):
        await _converting(fetch_that_times_out)()


async def test_batch_fetch_returns_messages(nats_server: NatsServer) -> None:
    convert_fetch_timeouts()
    convert_fetch_timeouts()
    client, subscription = await _pull(nats_server)
    try:
        for number in range(3):
            await client.jetstream().publish(SUBJECT, f"m{number}".encode())
        messages = await subscription.fetch(10, timeout=1.0)
    finally:
        await client.close()

    assert [message.data for message in messages] == [b"m0", b"m1", b"m2"]

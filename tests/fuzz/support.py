"""Publishing hostile messages and finding out how each was settled."""

import asyncio
import logging
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from griddispatch import subjects
from griddispatch.messages import DeadLetter
from tests.fuzz.payloads import Hostile

SHORT_BATCH = 60
SOAK_BATCH = 2000
SETTLE_TIMEOUT_S = 60.0
SOAK_SETTLE_TIMEOUT_S = 900.0


def draw(strategy: st.SearchStrategy[Hostile], count: int) -> list[Hostile]:
    """Draw up to `count` messages from `strategy`, each a fresh hypothesis example."""
    drawn: list[Hostile] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(message: Hostile) -> None:
        drawn.append(message)

    collect()
    return drawn


@dataclass(frozen=True)
class Published:
    """A hostile message as stored: its stream sequence and its message id."""

    message: Hostile
    sequence: int
    message_id: str


async def publish_all(
    js: JetStreamContext, subject: str, messages: list[Hostile], prefix: str
) -> list[Published]:
    """Publish each message with a unique Nats-Msg-Id; return them with their sequences."""
    published = []
    for index, message in enumerate(messages):
        message_id = f"{prefix}-{index}"
        headers = {**message.headers, "Nats-Msg-Id": message_id}
        ack = await js.publish(subject, message.body, headers=headers)
        assert not ack.duplicate, message_id
        published.append(Published(message, ack.seq, message_id))
    return published


async def wait_settled(
    js: JetStreamContext, stream: str, consumer: str, timeout_s: float = SETTLE_TIMEOUT_S
) -> None:
    """Wait until the consumer has nothing pending and nothing unacknowledged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        info = await js.consumer_info(stream, consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        if loop.time() > deadline:
            raise AssertionError(
                f"consumer {consumer} not settled after {timeout_s:.0f} s: "
                f"{info.num_pending} pending, {info.num_ack_pending} unacknowledged, "
                f"{info.num_redelivered} redelivered"
            )
        await asyncio.sleep(0.2)


async def dead_letters(js: JetStreamContext, consumer: str) -> dict[int, DeadLetter]:
    """Return the dead letters `consumer` stored, by the original stream sequence."""
    try:
        info = await js.stream_info(subjects.DEAD_LETTER_STREAM)
    except NotFoundError:
        return {}
    if info.state.messages == 0:
        return {}
    prefix = f"dl-{consumer}-"
    letters: dict[int, DeadLetter] = {}
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        stored = await js.get_msg(subjects.DEAD_LETTER_STREAM, sequence)
        letter_id = (stored.headers or {}).get("Nats-Msg-Id", "")
        if letter_id.startswith(prefix):
            letters[int(letter_id.removeprefix(prefix))] = DeadLetter.model_validate_json(
                stored.data or b"{}"
            )
    return letters


def describe(published: Published) -> str:
    """Return a short description of a message for an assertion's output."""
    body = published.message.body
    shown = body[:200] + (b"..." if len(body) > 200 else b"")
    return f"{published.message.kind} id={published.message_id} body={shown!r}"


def logged_errors(records: list[logging.LogRecord]) -> list[str]:
    """Return the records at ERROR or above as "logger: message" lines."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in records
        if record.levelno >= logging.ERROR
    ]

"""Publishing directives and leads to JetStream from the command line and the API.

A publish that times out may still have been stored, so it is retried with
the same Nats-Msg-Id: JetStream stores it once, and the dispatcher creates
its tasks once.
"""

import asyncio
import logging

from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import PubAck
from pydantic import BaseModel

from griddispatch import subjects
from griddispatch.errors import InfrastructureError
from griddispatch.messages import DeadLetter, DirectiveMessage, LeadMessage
from griddispatch.nats_connection import connect

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 5.0
PUBLISH_TRIES = 4


async def publish_message(nats_url: str, subject: str, message_id: str, body: BaseModel) -> PubAck:
    """Publish `body` on `subject` with `message_id` as Nats-Msg-Id, retrying on timeouts."""
    try:
        client = await connect(nats_url, name="griddispatch-cli", reconnect=False)
    except (NatsError, OSError) as exc:
        raise InfrastructureError(
            "cannot connect to NATS at {url} ({error!r}); start griddispatch with "
            "`griddispatch up`, or set GRIDDISPATCH_NATS_URL to a running NATS server",
            url=nats_url,
            error=exc,
        ) from exc
    try:
        return await publish_with_retry(client.jetstream(), subject, message_id, body)
    finally:
        await client.close()


async def publish_with_retry(
    js: JetStreamContext, subject: str, message_id: str, body: BaseModel
) -> PubAck:
    """Publish `body` on an open JetStream context, retrying timeouts with the same id."""
    payload = body.model_dump_json(exclude_none=True).encode()
    for attempt in range(1, PUBLISH_TRIES + 1):
        try:
            return await js.publish(
                subject, payload, timeout=PUBLISH_TIMEOUT_S, headers={"Nats-Msg-Id": message_id}
            )
        except NatsTimeoutError:
            log.info(
                "publish timed out, retrying with the same id message=%s try=%d",
                message_id,
                attempt,
            )
            await asyncio.sleep(0.5 * attempt)
    raise InfrastructureError(
        "JetStream did not confirm message {message_id!r} on {subject} after {tries} "
        "tries; it may still be stored. Send it again with the same id, which is safe",
        message_id=message_id,
        subject=subject,
        tries=PUBLISH_TRIES,
    )


async def publish_directive(nats_url: str, directive: DirectiveMessage) -> PubAck:
    """Publish a directive on `gd.directive.issue`."""
    return await publish_message(
        nats_url, subjects.DIRECTIVE_ISSUE, directive.message_id, directive
    )


async def publish_lead(nats_url: str, lead: LeadMessage) -> PubAck:
    """Publish a lead on `gd.lead.<source>`."""
    return await publish_message(
        nats_url, subjects.lead_subject(lead.source), lead.message_id, lead
    )


async def recent_dead_letters(nats_url: str, *, limit: int) -> list[DeadLetter]:
    """Return up to `limit` of the newest dead letters, oldest first."""
    try:
        client = await connect(nats_url, name="griddispatch-cli", reconnect=False)
    except (NatsError, OSError) as exc:
        raise InfrastructureError(
            "cannot connect to NATS at {url} ({error!r}); start griddispatch with "
            "`griddispatch up`, or set GRIDDISPATCH_NATS_URL to a running NATS server",
            url=nats_url,
            error=exc,
        ) from exc
    try:
        js = client.jetstream()
        info = await js.stream_info(subjects.DEAD_LETTER_STREAM)
        last = info.state.last_seq
        first = max(info.state.first_seq, last - limit + 1)
        letters = []
        for sequence in range(first, last + 1) if info.state.messages else []:
            try:
                stored = await js.get_msg(subjects.DEAD_LETTER_STREAM, sequence)
            except NatsError:
                continue
            letters.append(DeadLetter.model_validate_json(stored.data or b"{}"))
        return letters
    finally:
        await client.close()

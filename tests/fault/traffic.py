"""Directives and leads sent to JetStream at a bounded, steady rate, retried until stored.

A message counts as accepted once JetStream acknowledged storing it. A
publish that fails or times out is sent again with the same Nats-Msg-Id, as
`dispatcher.publish` does, so a retry of a message that was in fact stored
is dropped by JetStream's duplicate window.
"""

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from griddispatch import subjects

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 3.0
RETRY_PAUSE_S = 0.5
GIVE_UP_AFTER_S = 120.0
LEAD_SOURCE = "fault"


@dataclass(frozen=True)
class Targets:
    """Who messages go to: inspectors' staff codes and subjects' credit codes."""

    inspector_codes: list[str]
    subject_codes: list[str]


@dataclass
class SentLog:
    """The ids JetStream accepted, by kind, and the publishes that had to be retried."""

    directives: list[str] = field(default_factory=list)
    leads: list[str] = field(default_factory=list)
    urgent: int = 0
    retries: int = 0
    unconfirmed: list[str] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return len(self.directives) + len(self.leads)


def directive_body(message_id: str, inspector_code: str, *, urgent: bool) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "target": {"kind": "inspector", "code": inspector_code},
        "title": f"故障演练指令 {message_id}",
        "body": "请核查辖区农药经营门店台账",
        "priority": "urgent" if urgent else "normal",
    }


def lead_body(message_id: str, subject_code: str, *, urgent: bool) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "source": LEAD_SOURCE,
        "dedup_key": message_id,
        "title": f"故障演练线索 {message_id}",
        "severity": "urgent" if urgent else "normal",
        "subject": {"credit_code": subject_code},
    }


async def publish_until_stored(
    js: JetStreamContext, subject: str, message_id: str, body: dict[str, Any], log_: SentLog
) -> bool:
    """Publish one message, retrying with the same id; return whether JetStream stored it."""
    payload = json.dumps(body, ensure_ascii=False).encode()
    deadline = time.monotonic() + GIVE_UP_AFTER_S
    while True:
        try:
            await js.publish(
                subject, payload, timeout=PUBLISH_TIMEOUT_S, headers={"Nats-Msg-Id": message_id}
            )
            return True
        except (NatsError, OSError, TimeoutError) as exc:
            log_.retries += 1
            if time.monotonic() > deadline:
                log.error("publish gave up message=%s error=%r", message_id, exc)
                return False
            await asyncio.sleep(RETRY_PAUSE_S)


async def send_traffic(
    js: JetStreamContext,
    targets: Targets,
    *,
    count: int,
    rate: float,
    urgent_share: float,
    run_id: str,
    on_progress: Callable[[int], None] | None = None,
) -> SentLog:
    """Send `count` messages, half directives and half leads, at `rate` a second."""
    sent = SentLog()
    chooser = random.Random(run_id)
    start = time.monotonic()
    for index in range(count):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        urgent = chooser.random() < urgent_share
        message_id = f"{run_id}-{index:06d}"
        if index % 2 == 0:
            subject = subjects.DIRECTIVE_ISSUE
            body = directive_body(
                message_id, chooser.choice(targets.inspector_codes), urgent=urgent
            )
        else:
            subject = subjects.lead_subject(LEAD_SOURCE)
            body = lead_body(message_id, chooser.choice(targets.subject_codes), urgent=urgent)
        if not await publish_until_stored(js, subject, message_id, body, sent):
            sent.unconfirmed.append(message_id)
            continue
        sent.sent_at[message_id] = time.time()
        (sent.directives if index % 2 == 0 else sent.leads).append(message_id)
        sent.urgent += int(urgent)
        if on_progress is not None:
            on_progress(index + 1)
    return sent

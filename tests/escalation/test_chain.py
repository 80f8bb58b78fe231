"""The escalation chain of one task, swept at chosen clock times on a real database.

The chain is `support.CHAIN_POLICY`: steps 1-6 count from the acknowledge-by time
(START + 1h), steps 7-8 from the result-due-by time (START + 1d) and step 9 from the
review-due-by time (2h after submission).
"""

import asyncio
from datetime import datetime, timedelta

import pytest

from griddispatch.errors import IllegalTransitionError, PermissionDeniedError, ValidationError
from griddispatch.messages import Assignment, Target, TargetKind
from griddispatch.workcalendar import CHINA
from storage.db import Database
from storage.directives.service import accept_directive
from storage.escalation.policy import Escalation
from storage.escalation.service import FiredStep, recompute_provisional, snooze_task, sweep
from storage.tasks.models import Task
from storage.tasks.service import act_on_task
from storage.tasks.states import TaskAction
from tests.escalation.support import (
    ACK_DUE,
    COMMAND_CENTRE_STAFF,
    COUNTY_STAFF,
    GRID,
    GRID_INSPECTORS,
    GRID_LEADER,
    LEADERLESS_INSPECTOR,
    ONE_SECOND,
    RESULT_DUE,
    REVIEW_WITHIN,
    SECOND_GRID_LEADER,
    START,
    STEP_DUE,
    TOWNSHIP_STAFF,
    bind,
    directive_message,
    events_of,
    issue_to,
    load_task,
    notifications,
    step_events,
)

ASSIGNEE = "JG0010"
EVERYONE_ABOVE = [GRID_LEADER, *TOWNSHIP_STAFF, *COUNTY_STAFF, *COMMAND_CENTRE_STAFF]
# Wednesday 2026-12-30, 10:00 in China: "3 working days" from here ends in 2027.
YEAR_END = datetime(2026, 12, 30, 10, 0, tzinfo=CHINA)
YEAR_2027 = """\
year: 2027
source: 测试用 2027 年节假日安排
holidays: [2027-01-01, 2027-01-04]
workdays: []
"""


def summary(fired: list[FiredStep]) -> list[tuple[int, int, str]]:
    """Return (task id, step number, trail kind) of fired steps."""
    return [(step.task_id, step.step, step.kind) for step in fired]


async def sweep_at(db: Database, escalation: Escalation, now: datetime) -> list[FiredStep]:
    return await sweep(db, escalation=escalation, now=now)


async def act(
    db: Database,
    escalation: Escalation,
    task_id: int,
    action: TaskAction,
    *,
    inspector_id: int,
    now: datetime,
) -> None:
    await act_on_task(
        db,
        task_id=task_id,
        action=action,
        inspector_id=inspector_id,
        escalation=escalation,
        now=now,
    )


async def test_chain_fires_on_time(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE, *EVERYONE_ABOVE)
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-on-time")
    expected = {
        1: ("reminded", "remind_assignee", [ASSIGNEE], "reminder"),
        2: ("escalated", "notify_grid_leader", [GRID_LEADER], "escalated"),
        3: ("escalated", "notify_township", TOWNSHIP_STAFF, "escalated"),
        4: ("escalated", "notify_county", COUNTY_STAFF, "escalated"),
        5: ("escalated", "notify_command_centre", COMMAND_CENTRE_STAFF, "escalated"),
    }

    for step, (kind, action, codes, notification_kind) in expected.items():
        queued_before = len(await notifications(db, task_id))

        assert await sweep_at(db, escalation, STEP_DUE[step] - ONE_SECOND) == []

        fired = await sweep_at(db, escalation, STEP_DUE[step])

        assert summary(fired) == [(task_id, step, kind)]
        assert fired[0].action == action
        assert fired[0].late_s == 0.0
        event = (await events_of(db, task_id, kind))[-1]
        assert event.detail["step"] == step
        assert event.detail["condition"] == "not_acknowledged"
        assert datetime.fromisoformat(event.detail["due_at"]) == STEP_DUE[step]
        assert event.detail["to_inspector_ids"] == [staff[code] for code in codes]
        assert "late" not in event.detail
        queued = (await notifications(db, task_id))[queued_before:]
        assert [(note["inspector_id"], note["kind"]) for note in queued] == [
            (staff[code], notification_kind) for code in codes
        ]
        assert [note["condition"] for note in queued] == ["not_acknowledged"] * len(codes)


async def test_reassign_to_leader(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE, *EVERYONE_ABOVE)
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-reassign")
    await sweep_at(db, escalation, STEP_DUE[5])
    queued_before = len(await notifications(db, task_id))

    assert await sweep_at(db, escalation, STEP_DUE[6] - ONE_SECOND) == []

    fired = await sweep_at(db, escalation, STEP_DUE[6])

    assert summary(fired) == [(task_id, 6, "reassigned")]
    task = await load_task(db, task_id)
    assert task.inspector_id == staff[GRID_LEADER]
    assert task.state == "new"
    reassigned = await events_of(db, task_id, "reassigned")
    assert len(reassigned) == 1
    assert reassigned[0].detail["from_inspector_id"] == staff[ASSIGNEE]
    assert reassigned[0].detail["to_inspector_id"] == staff[GRID_LEADER]
    assert reassigned[0].actor == "worker"
    queued = (await notifications(db, task_id))[queued_before:]
    assert [(note["inspector_id"], note["kind"]) for note in queued] == [
        (staff[GRID_LEADER], "task_assigned"),
        (staff[ASSIGNEE], "task_updated"),
    ]

    # The leader is now the assignee, so the result reminder goes to them, and step 8
    # (notify_grid_leader) is skipped because the assignee is the grid leader.
    reminded = await sweep_at(db, escalation, STEP_DUE[7])
    skipped = await sweep_at(db, escalation, STEP_DUE[8])

    assert summary(reminded) == [(task_id, 7, "reminded")]
    assert (await events_of(db, task_id, "reminded"))[-1].detail["to_inspector_ids"] == [
        staff[GRID_LEADER]
    ]
    assert summary(skipped) == [(task_id, 8, "escalation_skipped")]
    assert (await events_of(db, task_id, "escalation_skipped"))[-1].detail[
        "reason"
    ] == "the assignee is the grid leader"
    assert await sweep_at(db, escalation, START + timedelta(days=30)) == []


async def test_missing_leader_skipped(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, LEADERLESS_INSPECTOR, *TOWNSHIP_STAFF)
    task_id = await issue_to(db, escalation, LEADERLESS_INSPECTOR, "chain-no-leader")
    await sweep_at(db, escalation, STEP_DUE[1])

    fired = await sweep_at(db, escalation, STEP_DUE[2])

    # Step 3 was due ten minutes later and fires at once instead.
    assert summary(fired) == [(task_id, 2, "escalation_skipped"), (task_id, 3, "escalated")]
    skipped = await events_of(db, task_id, "escalation_skipped")
    assert len(skipped) == 1
    assert skipped[0].detail["reason"] == "no grid leader"
    assert skipped[0].detail["action"] == "notify_grid_leader"
    assert skipped[0].actor == "system"
    township = (await events_of(db, task_id, "escalated"))[-1]
    assert township.detail["to_inspector_ids"] == [staff[code] for code in TOWNSHIP_STAFF]
    assert datetime.fromisoformat(township.detail["due_at"]) == STEP_DUE[3]
    assert await sweep_at(db, escalation, STEP_DUE[4] - ONE_SECOND) == []


async def test_unbound_staff_skipped(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    # No one above the township is bound, so steps 4, 5 and 6 are all skipped at step 4's
    # time. Step 7 counts from the result-due-by time and does not move.
    await bind(db, staff, LEADERLESS_INSPECTOR, *TOWNSHIP_STAFF)
    task_id = await issue_to(db, escalation, LEADERLESS_INSPECTOR, "chain-unbound")
    await sweep_at(db, escalation, STEP_DUE[3])

    fired = await sweep_at(db, escalation, STEP_DUE[4])

    assert summary(fired) == [
        (task_id, 4, "escalation_skipped"),
        (task_id, 5, "escalation_skipped"),
        (task_id, 6, "escalation_skipped"),
    ]
    skipped = await events_of(db, task_id, "escalation_skipped")
    reasons = [event.detail["reason"] for event in skipped[-3:]]
    assert reasons[0] == (
        "county staff 田波新 (JG0005), 陆德新 (JG0006), 马涛伟 (JG0007) "
        "cannot be reached on Telegram"
    )
    assert reasons[1].startswith("command_centre staff 包力高 (JG0001), ")
    assert reasons[1].endswith("cannot be reached on Telegram")
    assert reasons[2] == "no grid leader"
    assert (await load_task(db, task_id)).next_step_at == RESULT_DUE
    assert await sweep_at(db, escalation, RESULT_DUE - ONE_SECOND) == []


async def test_unbound_leader_skipped(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE, *TOWNSHIP_STAFF, "JG0005", "JG0006")
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-unbound-leader")
    await sweep_at(db, escalation, STEP_DUE[1])

    at_leader = await sweep_at(db, escalation, STEP_DUE[2])
    at_county = await sweep_at(db, escalation, STEP_DUE[4])

    assert summary(at_leader) == [
        (task_id, 2, "escalation_skipped"),
        (task_id, 3, "escalated"),
    ]
    skipped = await events_of(db, task_id, "escalation_skipped")
    assert skipped[0].detail["reason"] == "grid leader 郑新 (JG0009) cannot be reached on Telegram"
    # Of the three county staff only the two bound ones are reached.
    assert summary(at_county) == [(task_id, 4, "escalated")]
    county = (await events_of(db, task_id, "escalated"))[-1]
    assert county.detail["to_inspector_ids"] == [staff["JG0005"], staff["JG0006"]]


async def test_unbound_assignee_skipped(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, GRID_LEADER)
    task_id = await issue_to(db, escalation, "JG0011", "chain-unbound-assignee")

    fired = await sweep_at(db, escalation, ACK_DUE)

    assert summary(fired) == [(task_id, 1, "escalation_skipped"), (task_id, 2, "escalated")]
    skipped = await events_of(db, task_id, "escalation_skipped")
    assert skipped[0].detail["reason"] == "assignee 沈志 (JG0011) cannot be reached on Telegram"


async def test_acknowledge_stops_ack_steps(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE, *EVERYONE_ABOVE)
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-acknowledged")
    await sweep_at(db, escalation, STEP_DUE[1])

    await act(
        db,
        escalation,
        task_id,
        TaskAction.ACKNOWLEDGE,
        inspector_id=staff[ASSIGNEE],
        now=STEP_DUE[1],
    )

    assert (await load_task(db, task_id)).next_step_at == RESULT_DUE
    assert await sweep_at(db, escalation, STEP_DUE[6]) == []
    assert await sweep_at(db, escalation, RESULT_DUE - ONE_SECOND) == []

    # Acknowledged but overdue: the result steps still fire.
    at_due = await sweep_at(db, escalation, RESULT_DUE)
    assert await sweep_at(db, escalation, STEP_DUE[8] - ONE_SECOND) == []
    an_hour_later = await sweep_at(db, escalation, STEP_DUE[8])

    assert summary(at_due) == [(task_id, 7, "reminded")]
    assert summary(an_hour_later) == [(task_id, 8, "escalated")]
    assert await step_events(db, task_id) == [
        (1, "reminded", "remind_assignee"),
        (7, "reminded", "remind_assignee"),
        (8, "escalated", "notify_grid_leader"),
    ]
    reminder = (await events_of(db, task_id, "reminded"))[-1]
    assert reminder.detail["condition"] == "not_submitted"
    assert reminder.detail["to_inspector_ids"] == [staff[ASSIGNEE]]
    assert (await load_task(db, task_id)).next_step_at is None


async def test_submit_starts_review(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE, *EVERYONE_ABOVE)
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-submitted")
    submitted_at = START + timedelta(hours=3)
    review_due = submitted_at + REVIEW_WITHIN
    await sweep_at(db, escalation, STEP_DUE[2])
    await act(
        db,
        escalation,
        task_id,
        TaskAction.ACKNOWLEDGE,
        inspector_id=staff[ASSIGNEE],
        now=STEP_DUE[2],
    )

    await act(
        db, escalation, task_id, TaskAction.SUBMIT, inspector_id=staff[ASSIGNEE], now=submitted_at
    )

    task = await load_task(db, task_id)
    assert task.state == "submitted"
    assert task.review_due_at == review_due
    assert task.next_step_at == review_due
    assert await sweep_at(db, escalation, review_due - ONE_SECOND) == []

    fired = await sweep_at(db, escalation, review_due)

    assert summary(fired) == [(task_id, 9, "escalated")]
    review = (await events_of(db, task_id, "escalated"))[-1]
    assert review.detail["condition"] == "not_reviewed"
    assert review.detail["to_inspector_ids"] == [staff[GRID_LEADER]]
    assert await sweep_at(db, escalation, STEP_DUE[8] + timedelta(days=1)) == []
    assert [step for step, _, _ in await step_events(db, task_id)] == [1, 2, 9]


async def test_catch_up_fires_once(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE, *EVERYONE_ABOVE)
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-catch-up")
    now = START + timedelta(days=3)

    fired = await sweep_at(db, escalation, now)

    assert summary(fired) == [
        (task_id, 1, "reminded"),
        (task_id, 2, "escalated"),
        (task_id, 3, "escalated"),
        (task_id, 4, "escalated"),
        (task_id, 5, "escalated"),
        (task_id, 6, "reassigned"),
        (task_id, 7, "reminded"),
        (task_id, 8, "escalation_skipped"),
    ]
    assert [step.late_s for step in fired] == [
        (now - STEP_DUE[number]).total_seconds() for number in range(1, 9)
    ]
    entries = await events_of(
        db, task_id, "reminded", "escalated", "reassigned", "escalation_skipped"
    )
    assert [entry.detail["step"] for entry in entries] == list(range(1, 9))
    for entry in entries:
        late_s = (now - STEP_DUE[entry.detail["step"]]).total_seconds()
        assert entry.detail["late"] is True
        assert entry.detail["late_s"] == round(late_s)
        assert entry.at == now
    assert await sweep_at(db, escalation, now) == []
    assert await sweep_at(db, escalation, now + timedelta(days=30)) == []
    task = await load_task(db, task_id)
    assert task.fired_steps == list(range(8))
    assert task.escalation_step == 8
    assert task.next_step_at is None


async def test_snooze_postpones_steps(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE, *EVERYONE_ABOVE)
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-snoozed")
    until = ACK_DUE + timedelta(minutes=5)
    reason = "网格员在外执法，返回后签收"

    snoozed = await snooze_task(
        db,
        task_id=task_id,
        inspector_id=staff[GRID_LEADER],
        until=until,
        reason=f"  {reason} ",
        escalation=escalation,
        now=START + timedelta(minutes=30),
    )

    assert snoozed.snoozed_until == until
    assert snoozed.next_step_at == until
    entries = await events_of(db, task_id, "snoozed")
    assert len(entries) == 1
    assert entries[0].detail == {"until": until.isoformat(), "reason": reason}
    assert entries[0].actor == f"inspector:{GRID_LEADER}"
    assert entries[0].actor_inspector_id == staff[GRID_LEADER]
    assert await sweep_at(db, escalation, ACK_DUE) == []
    assert await sweep_at(db, escalation, until - ONE_SECOND) == []

    at_end = await sweep_at(db, escalation, until)

    assert summary(at_end) == [(task_id, 1, "reminded")]
    assert at_end[0].late_s == 300.0
    assert (await events_of(db, task_id, "reminded"))[0].detail["late_s"] == 300
    assert await sweep_at(db, escalation, STEP_DUE[2] - ONE_SECOND) == []
    assert summary(await sweep_at(db, escalation, STEP_DUE[2])) == [(task_id, 2, "escalated")]


@pytest.mark.parametrize("code", [ASSIGNEE, "JG0011", SECOND_GRID_LEADER, *TOWNSHIP_STAFF])
async def test_snooze_by_others_denied(
    db: Database, staff: dict[str, int], escalation: Escalation, code: str
) -> None:
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-snooze-denied")

    with pytest.raises(PermissionDeniedError, match=f"task {task_id}"):
        await snooze_task(
            db,
            task_id=task_id,
            inspector_id=staff[code],
            until=START + timedelta(hours=4),
            reason="不是网格长",
            escalation=escalation,
            now=START,
        )

    task = await load_task(db, task_id)
    assert task.snoozed_until is None
    assert task.next_step_at == ACK_DUE
    assert await events_of(db, task_id, "snoozed") == []


@pytest.mark.parametrize(
    ("until", "reason", "expected"),
    [
        (START, "停产检修", "is in the past"),
        (START - timedelta(hours=1), "停产检修", "is in the past"),
        (START + timedelta(hours=4), "  ", "needs a reason"),
    ],
)
async def test_snooze_rejects_input(
    db: Database,
    staff: dict[str, int],
    escalation: Escalation,
    *,
    until: datetime,
    reason: str,
    expected: str,
) -> None:
    task_id = await issue_to(db, escalation, ASSIGNEE, "chain-snooze-invalid")

    with pytest.raises(ValidationError, match=expected):
        await snooze_task(
            db,
            task_id=task_id,
            inspector_id=staff[GRID_LEADER],
            until=until,
            reason=reason,
            escalation=escalation,
            now=START,
        )

    assert (await load_task(db, task_id)).snoozed_until is None


@pytest.mark.parametrize(
    ("ack_within", "ack_within_s", "due_within", "ack_due", "due"),
    [
        ("2h", None, "2d", START + timedelta(hours=2), START + timedelta(days=2)),
        (None, 5400.0, None, START + timedelta(minutes=90), RESULT_DUE),
        # Monday 09:00 plus 4 working hours is 15:30, and one working day ends Tuesday 18:00.
        (
            "4 working hours",
            None,
            "1 working day",
            datetime(2026, 3, 2, 15, 30, tzinfo=CHINA),
            datetime(2026, 3, 3, 18, 0, tzinfo=CHINA),
        ),
    ],
)
async def test_directive_overrides_policy(
    db: Database,
    staff: dict[str, int],
    escalation: Escalation,
    *,
    ack_within: str | None,
    ack_within_s: float | None,
    due_within: str | None,
    ack_due: datetime,
    due: datetime,
) -> None:
    await bind(db, staff, ASSIGNEE)
    message = directive_message(
        "chain-override",
        Target(kind=TargetKind.INSPECTOR, code=ASSIGNEE),
        ack_within=ack_within,
        ack_within_s=ack_within_s,
        due_within=due_within,
    )

    accepted = await accept_directive(db, message, escalation=escalation, now=START)

    task = await load_task(db, accepted.task_ids[0])
    assert task.policy_name == "chain"
    assert task.ack_due_at == ack_due
    assert task.due_at == due
    assert task.next_step_at == ack_due
    created = (await events_of(db, task.id, "created"))[0]
    assert datetime.fromisoformat(created.detail["ack_due_at"]) == ack_due
    assert datetime.fromisoformat(created.detail["due_at"]) == due
    assert await sweep_at(db, escalation, ack_due - ONE_SECOND) == []
    assert summary(await sweep_at(db, escalation, ack_due)) == [(task.id, 1, "reminded")]


async def _claim_directive(
    db: Database, escalation: Escalation, assignment: Assignment
) -> list[int]:
    message = directive_message(
        f"chain-{assignment.value}",
        Target(kind=TargetKind.GRID, code=GRID),
        assignment=assignment,
    )
    accepted = await accept_directive(db, message, escalation=escalation, now=START)
    return accepted.task_ids


async def test_claim_first_acknowledge_wins(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, *GRID_INSPECTORS, *EVERYONE_ABOVE)
    task_ids = await _claim_directive(db, escalation, Assignment.CLAIM)
    tasks = [await load_task(db, task_id) for task_id in task_ids]
    assert [task.inspector_id for task in tasks] == [staff[code] for code in GRID_INSPECTORS]
    assert {task.assignment for task in tasks} == {"claim"}
    winner_code = GRID_INSPECTORS[2]
    winner_id = task_ids[2]
    claimed_at = START + timedelta(minutes=20)

    await act(
        db,
        escalation,
        winner_id,
        TaskAction.ACKNOWLEDGE,
        inspector_id=staff[winner_code],
        now=claimed_at,
    )

    winner = await load_task(db, winner_id)
    assert winner.state == "acknowledged"
    assert winner.claimed_by_inspector_id is None
    for task_id, code in zip(task_ids, GRID_INSPECTORS, strict=True):
        if task_id == winner_id:
            continue
        other = await load_task(db, task_id)
        assert other.state == "cancelled", code
        assert other.claimed_by_inspector_id == staff[winner_code], code
        assert other.next_step_at is None, code
        withdrawn = await events_of(db, task_id, "claimed_elsewhere")
        assert len(withdrawn) == 1, code
        assert withdrawn[0].detail == {
            "claimed_by_inspector_id": staff[winner_code],
            "claimed_task_id": winner_id,
        }
        assert withdrawn[0].actor_inspector_id == staff[winner_code]
        assert (await notifications(db, task_id))[-1]["kind"] == "task_updated"
        with pytest.raises(IllegalTransitionError):
            await act(
                db,
                escalation,
                task_id,
                TaskAction.ACKNOWLEDGE,
                inspector_id=staff[code],
                now=claimed_at,
            )

    fired = await sweep_at(db, escalation, START + timedelta(days=3))

    assert summary(fired) == [(winner_id, 7, "reminded"), (winner_id, 8, "escalated")]
    for task_id in task_ids:
        if task_id != winner_id:
            assert await step_events(db, task_id) == []


# Each round is one claim-mode directive to the four inspectors of GRID, and all four
# acknowledge at once. Several rounds make it unlikely that a lucky order hides a race.
CLAIM_ROUNDS = 5


async def test_concurrent_claims_one_winner(
    database_url: str,
    db: Database,
    staff: dict[str, int],
    escalation: Escalation,
    request: pytest.FixtureRequest,
) -> None:
    claimers = [Database(database_url) for _ in GRID_INSPECTORS]

    try:
        for round_number in range(CLAIM_ROUNDS):
            message = directive_message(
                f"chain-race-{round_number}",
                Target(kind=TargetKind.GRID, code=GRID),
                assignment=Assignment.CLAIM,
            )
            accepted = await accept_directive(db, message, escalation=escalation, now=START)
            outcomes = await asyncio.gather(
                *(
                    act_on_task(
                        claimer,
                        task_id=task_id,
                        action=TaskAction.ACKNOWLEDGE,
                        inspector_id=staff[code],
                        escalation=escalation,
                        now=START,
                    )
                    for claimer, task_id, code in zip(
                        claimers, accepted.task_ids, GRID_INSPECTORS, strict=True
                    )
                ),
                return_exceptions=True,
            )

            winners = [outcome for outcome in outcomes if isinstance(outcome, Task)]
            errors = [
                type(outcome).__name__ for outcome in outcomes if not isinstance(outcome, Task)
            ]
            assert len(winners) == 1, round_number
            assert errors == ["IllegalTransitionError"] * 3, round_number
            states = sorted([(await load_task(db, task_id)).state for task_id in accepted.task_ids])
            assert states == ["acknowledged", "cancelled", "cancelled", "cancelled"], round_number
    finally:
        for claimer in claimers:
            await claimer.dispose()


async def test_each_mode_keeps_others(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, *GRID_INSPECTORS)
    task_ids = await _claim_directive(db, escalation, Assignment.EACH)

    await act(
        db,
        escalation,
        task_ids[0],
        TaskAction.ACKNOWLEDGE,
        inspector_id=staff[GRID_INSPECTORS[0]],
        now=START,
    )

    states = [(await load_task(db, task_id)).state for task_id in task_ids]
    assert states == ["acknowledged", "new", "new", "new"]
    fired = await sweep_at(db, escalation, ACK_DUE)
    assert summary(fired) == [(task_id, 1, "reminded") for task_id in task_ids[1:]]


async def test_provisional_deadline_recomputed(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    await bind(db, staff, ASSIGNEE)
    message = directive_message(
        "chain-provisional",
        Target(kind=TargetKind.INSPECTOR, code=ASSIGNEE),
        due_within="3 working days",
    )
    accepted = await accept_directive(db, message, escalation=escalation, now=YEAR_END)
    task_id = accepted.task_ids[0]
    await act(
        db, escalation, task_id, TaskAction.ACKNOWLEDGE, inspector_id=staff[ASSIGNEE], now=YEAR_END
    )
    # 12-31 is official, and 2027-01-01 and 01-04 count as working days until 2027 is known.
    provisional_due = datetime(2027, 1, 4, 18, 0, tzinfo=CHINA)
    final_due = datetime(2027, 1, 6, 18, 0, tzinfo=CHINA)

    task = await load_task(db, task_id)
    assert task.deadline_provisional is True
    assert task.due_at == provisional_due
    assert task.next_step_at == provisional_due
    created = (await events_of(db, task_id, "created"))[0]
    assert created.detail["provisional"] is True

    ordinary_id = await issue_to(db, escalation, ASSIGNEE, "chain-not-provisional", now=YEAR_END)
    assert (await load_task(db, ordinary_id)).deadline_provisional is False
    assert "provisional" not in (await events_of(db, ordinary_id, "created"))[0].detail

    assert escalation.calendar.folder is not None
    (escalation.calendar.folder / "2027.yaml").write_text(YEAR_2027, encoding="utf-8")
    escalation.calendar.reload()
    recomputed_at = YEAR_END + timedelta(hours=5)

    count = await recompute_provisional(db, escalation=escalation, now=recomputed_at)

    assert count == 1
    task = await load_task(db, task_id)
    assert task.deadline_provisional is False
    assert task.due_at == final_due
    assert task.next_step_at == final_due
    entries = await events_of(db, task_id, "deadline_recomputed")
    assert len(entries) == 1
    assert entries[0].at == recomputed_at
    assert [datetime.fromisoformat(text) for text in entries[0].detail["due_at"]] == [
        provisional_due,
        final_due,
    ]
    assert entries[0].detail["ack_due_at"][0] == entries[0].detail["ack_due_at"][1]
    assert await events_of(db, ordinary_id, "deadline_recomputed") == []
    assert await recompute_provisional(db, escalation=escalation, now=recomputed_at) == 0
    before_due = await sweep_at(db, escalation, final_due - ONE_SECOND)
    at_due = await sweep_at(db, escalation, final_due)
    assert [step for step in summary(before_due) if step[0] == task_id] == []
    assert [step for step in summary(at_due) if step[0] == task_id] == [(task_id, 7, "reminded")]


async def test_still_provisional_consistent(
    db: Database, staff: dict[str, int], escalation: Escalation
) -> None:
    # 300 working days from 2026-12-30 end in 2028, which stays unofficial.
    message = directive_message(
        "chain-still-provisional",
        Target(kind=TargetKind.INSPECTOR, code=ASSIGNEE),
        due_within="300 working days",
    )
    accepted = await accept_directive(db, message, escalation=escalation, now=YEAR_END)
    task_id = accepted.task_ids[0]
    await act(
        db, escalation, task_id, TaskAction.ACKNOWLEDGE, inspector_id=staff[ASSIGNEE], now=YEAR_END
    )
    assert escalation.calendar.folder is not None
    (escalation.calendar.folder / "2027.yaml").write_text(YEAR_2027, encoding="utf-8")
    escalation.calendar.reload()

    await recompute_provisional(db, escalation=escalation, now=YEAR_END + timedelta(hours=5))

    task = await load_task(db, task_id)
    recorded = [
        event.detail["due_at"] if event.kind == "created" else event.detail["due_at"][1]
        for event in await events_of(db, task_id, "created", "deadline_recomputed")
    ]
    assert task.next_step_at == task.due_at
    assert datetime.fromisoformat(recorded[-1]) == task.due_at

"""Three `griddispatch worker` processes on one PostgreSQL database, one of them killed.

Escalation steps come due a few seconds after their tasks are created,
while the workers sweep. One worker is killed with SIGKILL once it has
begun firing steps. Every step must still fire exactly once, and the
outbox relays of the two surviving workers must publish every
notification. The 300-task run is part of the suite; the 2,000-task run
needs --soak. The last two tests pin down how a worker meets a lost
database connection and a SIGTERM mid-sweep.
"""

import asyncio
import os
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select, text

from griddispatch import subjects
from griddispatch.data import data_path
from griddispatch.messages import NotificationKind
from griddispatch.nats_connection import connect
from storage.db import Database
from storage.escalation.policy import Escalation
from storage.outbox.models import OutboxMessage
from storage.registry.models import Division, DivisionLevel, Inspector, Role
from storage.registry.service import bind_telegram, create_invite, import_files
from storage.tasks.models import Task, TaskEvent
from storage.tasks.service import NewTask, create_task

POSTGRES_URL = os.environ.get("GRIDDISPATCH_TEST_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="needs GRIDDISPATCH_TEST_DATABASE_URL naming PostgreSQL, where workers claim rows "
    "with FOR UPDATE SKIP LOCKED",
)

# The first step is due 2 s after a task is created, the second 3 s later.
POLICY = """\
policies:
  - name: worker-processes
    description: Two clock-time steps that come due seconds after a task is created.
    ack_within: 2s
    due_within: 30d
    steps:
      - {when: not_acknowledged, after: 0m, action: remind_assignee}
      - {when: not_acknowledged, after: 3s, action: notify_grid_leader}
"""
STEP_EVENT_KINDS = {1: "reminded", 2: "escalated"}
FIRING_KINDS = [*STEP_EVENT_KINDS.values(), "escalation_skipped"]

WORKER_COUNT = 3
SWEEP_INTERVAL_S = 0.3
GRID_COUNT = 4
CREATE_BATCH = 100
TELEGRAM_USER_BASE = 7_200_000_000
EXAMPLE_REGISTRY = data_path("registry", "ordos")
# The victim is killed once its log shows this many fired steps, so it dies mid-sweep.
KILL_AFTER_FIRED = 5

# Generous: three workers importing and migrating at once on a busy 2-core machine took
# over 60 s.
START_TIMEOUT_S = 180.0
FIRST_FIRING_TIMEOUT_S = 60.0
RELAY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.2
# Enough due tasks that the first sweep of one worker lasts seconds.
SIGTERM_TASKS = 300
# Time for a wrongly repeated step to show up after every step has fired: ten sweeps.
SETTLE_S = 10 * SWEEP_INTERVAL_S


@dataclass
class WorkerProcess:
    """A `griddispatch worker` child process and the file its output goes to."""

    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def fired_lines(self) -> int:
        """Return how many steps the worker logged as fired, committed or not."""
        return self.log().count("escalation step fired")


@dataclass(frozen=True)
class Assignee:
    """An inspector who gets tasks, and the grid leader their second step notifies."""

    inspector_id: int
    leader_id: int


@dataclass(frozen=True)
class Progress:
    """How far the workers are, read from the database."""

    tasks_with_pending_steps: int
    firings: int
    unpublished: int


def _worker_environment(
    database_url: str, nats_url: str, policy_file: Path, data_dir: Path, sweep_interval_s: float
) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GRIDDISPATCH_") and key != "TELEGRAM_BOT_TOKEN"
    }
    environment.update(
        GRIDDISPATCH_DATABASE_URL=database_url,
        GRIDDISPATCH_NATS_URL=nats_url,
        GRIDDISPATCH_SWEEP_INTERVAL_S=str(sweep_interval_s),
        GRIDDISPATCH_ESCALATION_POLICY_FILE=str(policy_file),
        GRIDDISPATCH_DATA_DIR=str(data_dir),
        GRIDDISPATCH_LOG_LEVEL="INFO",
    )
    return environment


def _open_log(path: Path) -> IO[bytes]:
    return path.open("wb")


async def _wait_until_started(worker: WorkerProcess) -> None:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    while asyncio.get_running_loop().time() < deadline:
        if "worker started" in worker.log():
            return
        if worker.process.returncode is not None:
            break
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"worker did not start; its log:\n{worker.log()[-3000:]}")


async def _stop_worker(worker: WorkerProcess) -> None:
    if worker.process.returncode is not None:
        return
    worker.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(worker.process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        worker.process.kill()
        await worker.process.wait()


class WorkerLauncher:
    """Starts `griddispatch worker` processes on the test database and NATS server."""

    def __init__(self, database_url: str, nats_url: str, policy_file: Path, folder: Path) -> None:
        self._database_url = database_url
        self.nats_url = nats_url
        self._policy_file = policy_file
        self._folder = folder
        self._count = 0
        self.started: list[WorkerProcess] = []

    async def start(self, *, sweep_interval_s: float = SWEEP_INTERVAL_S) -> WorkerProcess:
        """Start one worker and wait until it logs that it started."""
        environment = _worker_environment(
            self._database_url,
            self.nats_url,
            self._policy_file,
            self._folder / "var",
            sweep_interval_s,
        )
        self._count += 1
        log_path = self._folder / f"worker-{self._count}.log"
        with _open_log(log_path) as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "dispatcher",
                "worker",
                env=environment,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log_path)
        self.started.append(worker)
        await _wait_until_started(worker)
        return worker

    async def stop_all(self) -> None:
        """Stop every worker still running with SIGTERM, killing any that hangs."""
        for worker in self.started:
            await _stop_worker(worker)


async def _staff_of_grids(db: Database) -> dict[str, list[Inspector]]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(Inspector)
            .join(Division, Division.code == Inspector.division_code)
            .where(Division.level == DivisionLevel.GRID.value)
            .order_by(Inspector.division_code, Inspector.id)
        )
        staff: dict[str, list[Inspector]] = {}
        for inspector in rows:
            staff.setdefault(inspector.division_code, []).append(inspector)
        return staff


async def _bind_to_telegram(db: Database, inspector: Inspector, now: datetime) -> None:
    invite = await create_invite(db, inspector.code, now=now)
    user_id = TELEGRAM_USER_BASE + inspector.id
    await bind_telegram(db, invite.code, user_id=user_id, chat_id=user_id, language=None, now=now)


async def _bind_example_grids(db: Database) -> list[Assignee]:
    """Import the example divisions and staff, and bind everyone in the first GRID_COUNT grids
    that have one grid leader and several inspectors. Return those inspectors."""
    files = [EXAMPLE_REGISTRY / name for name in ("divisions.csv", "inspectors.csv")]
    reports = await import_files(db, files)
    assert [error for report in reports for error in report.errors] == []
    now = datetime.now(UTC)
    assignees: list[Assignee] = []
    chosen = 0
    for people in (await _staff_of_grids(db)).values():
        leaders = [person for person in people if person.role == Role.GRID_LEADER.value]
        inspectors = [person for person in people if person.role == Role.INSPECTOR.value]
        if len(leaders) != 1 or len(inspectors) < 2:
            continue
        for person in people:
            await _bind_to_telegram(db, person, now)
        assignees.extend(Assignee(person.id, leaders[0].id) for person in inspectors)
        chosen += 1
        if chosen == GRID_COUNT:
            return assignees
    raise AssertionError(f"the example registry has fewer than {GRID_COUNT} suitable grids")


async def _create_tasks(
    db: Database, escalation: Escalation, assignees: list[Assignee], count: int
) -> dict[int, Assignee]:
    """Create `count` tasks round-robin over `assignees`, each batch at the current time."""
    tasks: dict[int, Assignee] = {}
    for batch_start in range(0, count, CREATE_BATCH):
        async with db.transaction() as session:
            now = datetime.now(UTC)
            for index in range(batch_start, min(count, batch_start + CREATE_BATCH)):
                assignee = assignees[index % len(assignees)]
                spec = NewTask(
                    kind="directive",
                    inspector_id=assignee.inspector_id,
                    title=f"农药经营门店专项检查 {index + 1}",
                    body="请检查辖区农药门店的进货台账。",
                    priority="normal",
                    routing="inspector",
                )
                task = await create_task(session, spec, escalation=escalation, now=now)
                tasks[task.id] = assignee
    return tasks


async def _progress(db: Database) -> Progress:
    async with db.reading() as session:
        pending = await session.scalar(
            select(func.count()).select_from(Task).where(Task.next_step_at.is_not(None))
        )
        firings = await session.scalar(
            select(func.count()).select_from(TaskEvent).where(TaskEvent.kind.in_(FIRING_KINDS))
        )
        unpublished = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
        )
    return Progress(int(pending or 0), int(firings or 0), int(unpublished or 0))


async def _first_to_fire(workers: list[WorkerProcess], count: int) -> WorkerProcess:
    """Wait until one worker has logged `count` fired steps and return it.

    Sweeps claim up to 500 due tasks at a time, so one worker may take every
    due task before the others sweep. The worker that fired is the one to kill.
    """
    deadline = asyncio.get_running_loop().time() + FIRST_FIRING_TIMEOUT_S
    while True:
        for worker in workers:
            assert worker.process.returncode is None, f"worker exited:\n{worker.log()[-3000:]}"
            if worker.fired_lines() >= count:
                return worker
        fired = [worker.fired_lines() for worker in workers]
        assert asyncio.get_running_loop().time() < deadline, (
            f"workers fired {fired} steps in {FIRST_FIRING_TIMEOUT_S:.0f} s, expected "
            f"{count} from one; the first one's log:\n{workers[0].log()[-3000:]}"
        )
        await asyncio.sleep(0.05)


async def _wait_until_done(
    db: Database, task_count: int, survivors: list[WorkerProcess], timeout_s: float
) -> None:
    """Wait until no task has a pending step, every step has fired and the outbox is empty."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        progress = await _progress(db)
        done = (
            progress.tasks_with_pending_steps == 0
            and progress.firings >= 2 * task_count
            and progress.unpublished == 0
        )
        if done:
            return
        if asyncio.get_running_loop().time() > deadline:
            logs = "\n".join(worker.log()[-2000:] for worker in survivors)
            raise AssertionError(
                f"not done after {timeout_s:.0f} s: {progress}, expected "
                f"{2 * task_count} firings; surviving workers' logs:\n{logs}"
            )
        await asyncio.sleep(POLL_S)


async def _firings(db: Database) -> list[tuple[int, str, object]]:
    """Return (task id, event kind, step number) of every fired or skipped step."""
    async with db.reading() as session:
        rows = await session.execute(
            select(TaskEvent.task_id, TaskEvent.kind, TaskEvent.detail).where(
                TaskEvent.kind.in_(FIRING_KINDS)
            )
        )
        return [(task_id, kind, detail.get("step")) for task_id, kind, detail in rows]


async def _notifications(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.subject.startswith(subjects.NOTIFY_TELEGRAM_PREFIX + ".")
            )
        )
        return list(rows)


async def _notify_stream_messages(nats_url: str) -> int:
    client = await connect(nats_url, name="worker-processes-test")
    try:
        info = await client.jetstream().stream_info(subjects.NOTIFY_STREAM)
    finally:
        await client.close()
    return int(info.state.messages)


def _recipients(rows: list[OutboxMessage], kind: NotificationKind) -> dict[int, list[Any]]:
    """Return, per task id, the inspector ids that notifications of `kind` went to."""
    recipients: dict[int, list[Any]] = {}
    for row in rows:
        if row.payload["kind"] == kind.value:
            recipients.setdefault(row.payload["task_id"], []).append(row.payload["inspector_id"])
    return recipients


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("task_count", "done_timeout_s"),
    [
        pytest.param(300, 120.0, id="300-tasks"),
        pytest.param(2000, 300.0, id="2000-tasks", marks=pytest.mark.soak),
    ],
)
async def test_steps_fire_once_after_worker_killed(
    db: Database,
    launcher: WorkerLauncher,
    policy_file: Path,
    task_count: int,
    done_timeout_s: float,
) -> None:
    assignees = await _bind_example_grids(db)
    # Workers start first, so the steps come due while they sweep rather than as a backlog.
    workers = list(await asyncio.gather(*(launcher.start() for _ in range(WORKER_COUNT))))
    tasks = await _create_tasks(db, Escalation.load(policy_file), assignees, task_count)

    victim = await _first_to_fire(workers, KILL_AFTER_FIRED)
    survivors = [worker for worker in workers if worker is not victim]
    victim.process.kill()
    assert await victim.process.wait() == -signal.SIGKILL
    killed_at = datetime.now(UTC)
    at_kill = await _progress(db)
    assert at_kill.firings < 2 * task_count, "every step fired before the kill"

    await _wait_until_done(db, task_count, survivors, done_timeout_s)
    await asyncio.sleep(SETTLE_S)

    firings = await _firings(db)
    per_step = Counter((task_id, step) for task_id, _, step in firings)
    repeated = {key: count for key, count in per_step.items() if count > 1}
    assert repeated == {}, f"(task, step) fired more than once: {sorted(repeated.items())[:20]}"
    expected_steps = {(task_id, step) for task_id in tasks for step in STEP_EVENT_KINDS}
    assert expected_steps - per_step.keys() == set()
    assert per_step.keys() - expected_steps == set()
    kinds = Counter((kind, step) for _, kind, step in firings)
    assert kinds == {(kind, step): task_count for step, kind in STEP_EVENT_KINDS.items()}

    notifications = await _notifications(db)
    reminded = _recipients(notifications, NotificationKind.REMINDER)
    escalated = _recipients(notifications, NotificationKind.ESCALATED)
    assert reminded == {task_id: [who.inspector_id] for task_id, who in tasks.items()}
    assert escalated == {task_id: [who.leader_id] for task_id, who in tasks.items()}
    unpublished = [row.msg_id for row in notifications if row.published_at is None]
    assert unpublished == []
    written_after_kill = [row for row in notifications if row.created_at > killed_at]
    assert written_after_kill, "no notification was written after the kill"
    assert await _notify_stream_messages(launcher.nats_url) == len(notifications)

    assert sum(worker.fired_lines() for worker in survivors) > 0
    for worker in survivors:
        assert worker.process.returncode is None, f"a survivor exited:\n{worker.log()[-3000:]}"
        assert "Traceback" not in worker.log()
        assert " ERROR " not in worker.log()


async def _wait_for_empty_outbox(db: Database, timeout_s: float) -> Progress:
    """Wait until every outbox row is published or `timeout_s` passes, and return the progress."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        progress = await _progress(db)
        if progress.unpublished == 0 or asyncio.get_running_loop().time() > deadline:
            return progress
        await asyncio.sleep(POLL_S)


async def _other_backends(db: Database) -> int:
    async with db.reading() as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    return int(count or 0)


async def _terminate_other_backends(db: Database) -> int:
    """Terminate every other connection to the test database, as a database restart would.

    Returns how many connections were terminated."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    while await _other_backends(db) == 0:
        assert asyncio.get_running_loop().time() < deadline, "the worker never connected"
        await asyncio.sleep(POLL_S)
    async with db.transaction() as session:
        terminated = await session.scalars(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        count = sum(1 for ok in terminated if ok)
    await db.engine.dispose()
    return count


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_relay_publishes_after_database_reconnect(
    db: Database, launcher: WorkerLauncher, policy_file: Path
) -> None:
    assignees = await _bind_example_grids(db)
    # No sweep runs during the test, so the relay is the first to meet a dead connection.
    worker = await launcher.start(sweep_interval_s=3600.0)

    assert await _terminate_other_backends(db) >= 1
    await _create_tasks(db, Escalation.load(policy_file), assignees, 1)

    progress = await _wait_for_empty_outbox(db, RELAY_TIMEOUT_S)
    assert progress.unpublished == 0, (
        f"{progress.unpublished} outbox rows unpublished {RELAY_TIMEOUT_S:.0f} s after the "
        f"database connections were terminated; worker log:\n{worker.log()[-3000:]}"
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_sigterm_lets_running_sweep_finish(
    db: Database, launcher: WorkerLauncher, policy_file: Path
) -> None:
    assignees = await _bind_example_grids(db)
    await _create_tasks(db, Escalation.load(policy_file), assignees, SIGTERM_TASKS)
    worker = await launcher.start()
    await _first_to_fire([worker], 1)

    worker.process.send_signal(signal.SIGTERM)
    exit_code = await asyncio.wait_for(worker.process.wait(), STOP_TIMEOUT_S)

    log = worker.log()
    assert exit_code == 0, log[-3000:]
    assert "worker stopped" in log
    assert "start-up objects frozen" in log
    assert "Traceback" not in log, log[-3000:]

"""Tasks with their trail, result and photos, and results looked up by verification code."""

import logging
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from dispatcher.api.auth import county_of
from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError
from dispatcher.api.routing import (
    PREFIX,
    READERS,
    Code,
    PageInfo,
    PageQuery,
    ResponseModel,
    Route,
    code_param,
    id_param,
    json_response,
    parse_query,
    path_id,
    path_text,
)
from griddispatch.i18n import mark
from griddispatch.messages import Priority
from storage.accounts.scope import check_task
from storage.registry.models import Inspector
from storage.results.models import Photo
from storage.results.receipts import Receipt, load_receipt
from storage.results.service import (
    photo_of_task,
    photos_of_task,
    result_by_code,
    result_id_of_task,
)
from storage.tasks.models import Task, TaskEvent
from storage.tasks.queries import TaskFilter, find_tasks
from storage.tasks.service import get_task, trail
from storage.tasks.states import TaskState
from storage.tasks.views import TaskView, load_task_view

log = logging.getLogger(__name__)


class InspectorRef(ResponseModel):
    """The inspector a task is assigned to."""

    id: int
    code: str = Field(description="Staff code (工号).")
    name: str


class TaskSummary(ResponseModel):
    """A task as listings show it."""

    id: int
    kind: str = Field(description="directive, lead or followup.")
    state: TaskState
    title: str
    priority: Priority
    routing: str = Field(description="How the assignee was chosen, e.g. grid or subject.")
    assignment: str = Field(description="each, or claim: the first to acknowledge takes it.")
    inspector: InspectorRef
    directive_id: int | None
    lead_id: int | None
    subject_id: int | None
    escalation_step: int = Field(description="Escalation steps fired or skipped so far.")
    ack_due_at: datetime = Field(description="Acknowledge by, UTC.")
    due_at: datetime = Field(description="Result due by, UTC.")
    created_at: datetime
    updated_at: datetime


def inspector_ref(inspector: Inspector) -> InspectorRef:
    """Build the reference to a task's assignee."""
    return InspectorRef(id=inspector.id, code=inspector.code, name=inspector.name)


def task_summary(task: Task, inspector: InspectorRef) -> TaskSummary:
    """Build the listing form of a task."""
    return TaskSummary(
        id=task.id,
        kind=task.kind,
        state=TaskState(task.state),
        title=task.title,
        priority=Priority(task.priority),
        routing=task.routing,
        assignment=task.assignment,
        inspector=inspector,
        directive_id=task.directive_id,
        lead_id=task.lead_id,
        subject_id=task.subject_id,
        escalation_step=task.escalation_step,
        ack_due_at=task.ack_due_at,
        due_at=task.due_at,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


class TrailEntry(ResponseModel):
    """One entry of a task's trail."""

    id: int
    kind: str = Field(description="created, delivered, acknowledged, reminded, escalated, ...")
    state: TaskState = Field(description="The task's state after the entry.")
    actor: str = Field(description="system, worker, inspector:<staff code> or api:<token>.")
    at: datetime
    detail: dict[str, Any]


class AnswerOut(ResponseModel):
    """An inspector's conclusion on one checklist item."""

    code: str
    text: str
    answer: str = Field(description="pass, fail or na (not applicable).")
    note: str | None


class SubjectRef(ResponseModel):
    """The subject an inspection was about."""

    name: str | None
    credit_code: str | None = Field(description="Credit code, or the other id without one.")
    address: str | None


class ResultOut(ResponseModel):
    """A submitted inspection result, as its receipt shows it."""

    result_id: int
    task_id: int
    task_title: str
    verification_code: str = Field(description="The code printed on the receipt.")
    submitted_at: datetime
    inspector_code: str
    inspector_name: str
    subject: SubjectRef | None
    checklist_title: str | None
    checklist_version: str
    answers: list[AnswerOut]
    opinion: str
    compliant: bool = Field(description="False when any item failed.")
    latitude: float | None = Field(description="Where it was submitted, WGS-84.")
    longitude: float | None
    distance_m: float | None = Field(
        description="Metres from the subject's registered location, if both are known."
    )
    location_flagged: bool = Field(description="True when distance_m exceeds the tolerance.")
    photo_count: int


def result_out(receipt: Receipt) -> ResultOut:
    """Build the API form of a result from its receipt."""
    subject = None
    if receipt.subject_name is not None:
        subject = SubjectRef(
            name=receipt.subject_name,
            credit_code=receipt.subject_credit_code,
            address=receipt.subject_address,
        )
    answers = [
        AnswerOut(code=item.code, text=item.text, answer=item.answer, note=item.note)
        for item in receipt.items
    ]
    return ResultOut(
        result_id=receipt.result_id,
        task_id=receipt.task_id,
        task_title=receipt.task_title,
        verification_code=receipt.verification_code,
        submitted_at=receipt.submitted_at,
        inspector_code=receipt.inspector_code,
        inspector_name=receipt.inspector_name,
        subject=subject,
        checklist_title=receipt.checklist_title,
        checklist_version=receipt.checklist_version,
        answers=answers,
        opinion=receipt.opinion,
        compliant=receipt.compliant,
        latitude=receipt.latitude,
        longitude=receipt.longitude,
        distance_m=receipt.distance_m,
        location_flagged=receipt.location_flagged,
        photo_count=receipt.photo_count,
    )


class PhotoOut(ResponseModel):
    """A photo kept as evidence for a task."""

    id: int
    mime_type: str
    size_bytes: int
    sha256: str
    received_at: datetime
    url: str = Field(description="Where to download the file, with the same token.")


class TaskDetail(TaskSummary):
    """A task with its trail, its result and its photos."""

    body: str
    grid_name: str
    subject_name: str | None
    decline_reason: str | None
    deadline_provisional: bool = Field(
        description="True when a deadline crosses a year without an official holiday calendar."
    )
    claimed_by_name: str | None
    trail: list[TrailEntry]
    result: ResultOut | None
    photos: list[PhotoOut]


class TaskList(PageInfo):
    """A page of tasks, newest first."""

    items: list[TaskSummary]


class TaskQuery(PageQuery):
    """Filters of the task listing."""

    state: TaskState | None = None
    division: Code | None = Field(
        default=None, description="Division code: tasks of inspectors at or below it."
    )
    kind: Literal["directive", "lead", "followup"] | None = None
    priority: Priority | None = None
    inspector: Code | None = Field(default=None, description="Staff code of the assignee.")


async def list_tasks(request: web.Request) -> web.StreamResponse:
    """List tasks that match the filters, newest first."""
    query = parse_query(request, TaskQuery)
    task_filter = TaskFilter(
        state=query.state.value if query.state else None,
        division_code=query.division,
        kind=query.kind,
        priority=query.priority.value if query.priority else None,
        inspector_code=query.inspector,
        area_code=county_of(request),
    )
    page = await find_tasks(
        context_of(request).db, task_filter, limit=query.limit, offset=query.offset
    )
    items = [task_summary(task, inspector_ref(inspector)) for task, inspector in page.tasks]
    return json_response(
        TaskList(items=items, total=page.total, limit=query.limit, offset=query.offset)
    )


def _trail_entry(event: TaskEvent) -> TrailEntry:
    return TrailEntry(
        id=event.id,
        kind=event.kind,
        state=TaskState(event.state),
        actor=event.actor,
        at=event.at,
        detail=event.detail,
    )


def _photo_out(photo: Photo) -> PhotoOut:
    return PhotoOut(
        id=photo.id,
        mime_type=photo.mime_type,
        size_bytes=photo.size_bytes,
        sha256=photo.sha256,
        received_at=photo.received_at,
        url=f"{PREFIX}/tasks/{photo.task_id}/photos/{photo.id}",
    )


def _task_detail(
    task: Task,
    view: TaskView,
    events: list[TaskEvent],
    result: ResultOut | None,
    photos: list[Photo],
) -> TaskDetail:
    assignee = InspectorRef(
        id=view.inspector_id, code=view.inspector_code, name=view.inspector_name
    )
    return TaskDetail(
        **task_summary(task, assignee).model_dump(),
        body=task.body,
        grid_name=view.grid_name,
        subject_name=view.subject_name,
        decline_reason=task.decline_reason,
        deadline_provisional=task.deadline_provisional,
        claimed_by_name=view.claimed_by_name,
        trail=[_trail_entry(event) for event in events],
        result=result,
        photos=[_photo_out(photo) for photo in photos],
    )


async def show_task(request: web.Request) -> web.StreamResponse:
    """Show one task with its trail, result and photos."""
    db = context_of(request).db
    task_id = path_id(request, "task_id", mark("task"))
    await check_task(db, task_id, county_of(request))
    task = await get_task(db, task_id)
    view = await load_task_view(db, task_id)
    result_id = await result_id_of_task(db, task_id)
    result = result_out(await load_receipt(db, result_id)) if result_id is not None else None
    detail = _task_detail(
        task, view, await trail(db, task_id), result, await photos_of_task(db, task_id)
    )
    return json_response(detail)


async def download_photo(request: web.Request) -> web.StreamResponse:
    """Stream one photo of a task from the file store."""
    context = context_of(request)
    task_id = path_id(request, "task_id", mark("task"))
    photo_id = path_id(request, "photo_id", mark("photo"))
    await check_task(context.db, task_id, county_of(request))
    photo = await photo_of_task(context.db, task_id, photo_id)
    # The whole file is read into memory. The bot stores photos of at most 20 MiB
    # (bots.evidence.MAX_DOWNLOAD_BYTES, the Bot API's download limit).
    try:
        data = await context.files.get(photo.storage_key)
    except FileNotFoundError as exc:
        log.warning(
            "photo file missing photo=%s task=%s key=%s", photo.id, task_id, photo.storage_key
        )
        raise ApiError(
            404,
            "photo_file_missing",
            "photo {photo_id} of task {task_id} is recorded but its file is not in the "
            "{file_store} file store",
            photo_id=photo_id,
            task_id=task_id,
            file_store=context.settings.file_store,
        ) from exc
    return web.Response(body=data, headers={"Content-Type": photo.mime_type})


async def show_result(request: web.Request) -> web.StreamResponse:
    """Look a result up by the verification code on its receipt."""
    db = context_of(request).db
    code = path_text(request, "verification_code", mark("verification code"))
    result = await result_by_code(db, code)
    await check_task(db, result.task_id, county_of(request))
    return json_response(result_out(await load_receipt(db, result.id)))


TASK_ID = id_param("task_id", "Task id.")

ROUTES = [
    Route(
        "GET",
        PREFIX + "/tasks",
        list_tasks,
        operation_id="listTasks",
        summary="List tasks, newest first",
        tag="tasks",
        scopes=READERS,
        query=TaskQuery,
        response=TaskList,
        errors=(404, 422),
        description="An unknown division or inspector code in a filter returns 404.",
    ),
    Route(
        "GET",
        PREFIX + "/tasks/{task_id}",
        show_task,
        operation_id="showTask",
        summary="Show a task with its trail, result and photos",
        tag="tasks",
        scopes=READERS,
        path_params=(TASK_ID,),
        response=TaskDetail,
        errors=(404,),
    ),
    Route(
        "GET",
        PREFIX + "/tasks/{task_id}/photos/{photo_id}",
        download_photo,
        operation_id="downloadTaskPhoto",
        summary="Download a photo of a task",
        tag="tasks",
        scopes=READERS,
        path_params=(TASK_ID, id_param("photo_id", "Photo id.")),
        response_media_type="application/octet-stream",
        errors=(404,),
        description="The Content-Type is the photo's own, e.g. image/jpeg.",
    ),
    Route(
        "GET",
        PREFIX + "/results/{verification_code}",
        show_result,
        operation_id="showResult",
        summary="Look a result up by its receipt's verification code",
        tag="tasks",
        scopes=READERS,
        path_params=(code_param("verification_code", "Verification code on the receipt."),),
        response=ResultOut,
        errors=(404,),
    ),
]

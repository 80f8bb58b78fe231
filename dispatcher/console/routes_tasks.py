"""The task board: a filtered page of tasks, one task with its trail, photos and receipt."""

import asyncio
import logging
from typing import Any

from aiohttp import web

from bots.receipt_pdf import render_receipt
from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError
from dispatcher.api.routes_tasks import (
    InspectorRef,
    TaskQuery,
    inspector_ref,
    result_out,
    task_summary,
)
from dispatcher.api.routing import parse_query, path_id
from dispatcher.console.session import signed_in, user_of
from dispatcher.console.stores import FILES
from griddispatch.i18n import mark
from storage.accounts.scope import check_task
from storage.db import Database
from storage.registry.models import Subject
from storage.results.receipts import load_receipt
from storage.results.service import photo_of_task, photos_of_task, result_id_of_task
from storage.tasks.queries import TaskFilter, find_tasks, is_overdue
from storage.tasks.service import get_task, trail
from storage.tasks.states import is_open
from storage.tasks.views import load_task_view

log = logging.getLogger(__name__)


@signed_in
async def list_tasks(request: web.Request) -> web.StreamResponse:
    """Return a page of tasks matching the filters, within the user's county."""
    query = parse_query(request, TaskQuery)
    context = context_of(request)
    task_filter = TaskFilter(
        state=query.state.value if query.state else None,
        division_code=query.division,
        kind=query.kind,
        priority=query.priority.value if query.priority else None,
        inspector_code=query.inspector,
        area_code=user_of(request).county_code,
    )
    page = await find_tasks(context.db, task_filter, limit=query.limit, offset=query.offset)
    now = context.clock.now()
    items = []
    for task, inspector in page.tasks:
        item = task_summary(task, inspector_ref(inspector)).model_dump(mode="json")
        item["overdue"] = is_open(task.state) and is_overdue(task, now)
        items.append(item)
    return web.json_response(
        {"items": items, "total": page.total, "limit": query.limit, "offset": query.offset}
    )


async def _subject_location(db: Database, subject_id: int | None) -> dict[str, float] | None:
    if subject_id is None:
        return None
    async with db.reading() as session:
        subject = await session.get(Subject, subject_id)
    if subject is None or subject.longitude is None or subject.latitude is None:
        return None
    return {"lon": subject.longitude, "lat": subject.latitude}


async def _result(db: Database, task_id: int) -> dict[str, Any] | None:
    result_id = await result_id_of_task(db, task_id)
    if result_id is None:
        return None
    return result_out(await load_receipt(db, result_id)).model_dump(mode="json")


@signed_in
async def show_task(request: web.Request) -> web.StreamResponse:
    """Return one task with its trail, result, photos and the subject's location."""
    db = context_of(request).db
    task_id = path_id(request, "task_id", mark("task"))
    await check_task(db, task_id, user_of(request).county_code)
    task = await get_task(db, task_id)
    view = await load_task_view(db, task_id)
    detail: dict[str, Any] = task_summary(
        task, InspectorRef(id=view.inspector_id, code=view.inspector_code, name=view.inspector_name)
    ).model_dump(mode="json")
    result = await _result(db, task_id)
    detail.update(
        body=task.body,
        grid_name=view.grid_name,
        subject_name=view.subject_name,
        decline_reason=task.decline_reason,
        overdue=is_open(task.state) and is_overdue(task, context_of(request).clock.now()),
        trail=[
            {
                "kind": event.kind,
                "state": event.state,
                "actor": event.actor,
                "at": event.at.isoformat(),
                "detail": event.detail,
            }
            for event in await trail(db, task_id)
        ],
        result=result,
        subject_location=await _subject_location(db, task.subject_id),
        photos=[
            {"id": photo.id, "url": f"/console/api/tasks/{task_id}/photos/{photo.id}"}
            for photo in await photos_of_task(db, task_id)
        ],
        receipt_url=f"/console/api/tasks/{task_id}/receipt.pdf" if result else None,
    )
    return web.json_response(detail)


@signed_in
async def download_photo(request: web.Request) -> web.StreamResponse:
    """Send one photo of a task from the file store."""
    context = context_of(request)
    task_id = path_id(request, "task_id", mark("task"))
    photo_id = path_id(request, "photo_id", mark("photo"))
    await check_task(context.db, task_id, user_of(request).county_code)
    photo = await photo_of_task(context.db, task_id, photo_id)
    try:
        data = await request.app[FILES].get(photo.storage_key)
    except FileNotFoundError:
        log.warning("photo file missing photo=%s task=%s", photo.id, task_id)
        raise ApiError(
            404,
            "photo_file_missing",
            "photo {photo_id} of task {task_id} is recorded but its file is not in the store",
            photo_id=photo_id,
            task_id=task_id,
        ) from None
    return web.Response(
        body=data,
        content_type=photo.mime_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


@signed_in
async def download_receipt(request: web.Request) -> web.StreamResponse:
    """Render the task's inspection receipt as PDF in the user's language."""
    context = context_of(request)
    task_id = path_id(request, "task_id", mark("task"))
    await check_task(context.db, task_id, user_of(request).county_code)
    result_id = await result_id_of_task(context.db, task_id)
    if result_id is None:
        raise ApiError(
            404, "no_result", "task {task_id} has no submitted result yet", task_id=task_id
        )
    receipt = await load_receipt(context.db, result_id)
    pdf = await asyncio.to_thread(render_receipt, receipt, locale=user_of(request).language)
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="receipt-{task_id}.pdf"'},
    )

"""The map's data and the panel of one grid, and the division picker."""

from typing import Any

from aiohttp import web

from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError
from dispatcher.api.routes_tasks import inspector_ref, task_summary
from dispatcher.api.routing import path_text
from dispatcher.console.queries import divisions_in, grid_panel, map_data, root_division
from dispatcher.console.session import signed_in, user_of
from griddispatch.i18n import mark
from storage.accounts.scope import check_division
from storage.tasks.queries import TaskFilter, find_tasks
from storage.tasks.states import TaskState

PANEL_TASKS = 50


async def _division_of(request: web.Request) -> str:
    """Return the division asked for, else the user's county, else the top of the tree."""
    code = request.query.get("division") or user_of(request).county_code
    code = code or await root_division(context_of(request).db)
    if code is None:
        raise ApiError(404, "empty_registry", "the registry has no divisions; import it first")
    await check_division(context_of(request).db, code, user_of(request).county_code)
    return code


@signed_in
async def divisions(request: web.Request) -> web.StreamResponse:
    """Return the divisions the user may see, for the pickers."""
    rows = await divisions_in(context_of(request).db, user_of(request).county_code)
    return web.json_response(
        [
            {"code": row.code, "name": row.name, "level": row.level, "parent": row.parent_code}
            for row in rows
        ]
    )


@signed_in
async def map_view(request: web.Request) -> web.StreamResponse:
    """Return grids with task counts, inspectors' last positions and subjects' compliance."""
    context = context_of(request)
    code = await _division_of(request)
    return web.json_response(await map_data(context.db, code, now=context.clock.now()))


@signed_in
async def grid(request: web.Request) -> web.StreamResponse:
    """Return a grid's inspectors, subjects and newest open tasks."""
    db = context_of(request).db
    code = path_text(request, "code", mark("grid"))
    await check_division(db, code, user_of(request).county_code)
    panel = await grid_panel(db, code)
    tasks: list[dict[str, Any]] = []
    for state in (TaskState.NEW, TaskState.ACKNOWLEDGED, TaskState.DECLINED):
        page = await find_tasks(
            db, TaskFilter(division_code=code, state=state.value), limit=PANEL_TASKS, offset=0
        )
        tasks.extend(
            task_summary(task, inspector_ref(inspector)).model_dump(mode="json")
            for task, inspector in page.tasks
        )
    panel["tasks"] = tasks
    return web.json_response(panel)

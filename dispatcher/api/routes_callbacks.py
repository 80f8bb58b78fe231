"""Parked status callbacks: list them, and retry one once its receiver works again.

A callback is parked after `callback_max_attempts` failed deliveries, or at
once when its host left the allowlist or its token can no longer sign it.
Callbacks are not tied to a county, so tokens limited to one county get 403.
"""

from datetime import datetime

from aiohttp import web
from pydantic import Field

from dispatcher.api.auth import require_all_counties
from dispatcher.api.context import context_of
from dispatcher.api.routing import (
    COMMAND_CENTRE,
    MAX_PAGE_SIZE,
    PREFIX,
    READERS,
    RequestModel,
    ResponseModel,
    Route,
    id_param,
    json_response,
    parse_query,
    path_id,
)
from griddispatch.i18n import mark
from storage.callbacks.models import Callback
from storage.callbacks.service import parked_callbacks, retry_parked


class ParkedQuery(RequestModel):
    """How many parked callbacks to list."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE, description="Rows, newest first.")


class CallbackOut(ResponseModel):
    """A callback delivery: the task state change it reports and where it goes."""

    id: int
    task_id: int
    lead_id: int
    event: str = Field(description="Trail entry kind the callback reports, e.g. acknowledged.")
    url: str
    state: str = Field(description="pending, delivered or parked.")
    attempts: int = Field(description="Failed or successful POSTs made so far.")
    last_error: str | None = Field(description="Why the last attempt failed, e.g. HTTP 500.")
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None = Field(description="When it was delivered or parked.")


class CallbackList(ResponseModel):
    """Parked callbacks, newest first."""

    callbacks: list[CallbackOut]


def callback_out(callback: Callback) -> CallbackOut:
    """Describe a callback delivery for the API."""
    return CallbackOut(
        id=callback.id,
        task_id=callback.task_id,
        lead_id=callback.lead_id,
        event=str(callback.payload.get("event", "")),
        url=callback.url,
        state=callback.state,
        attempts=callback.attempts,
        last_error=callback.last_error,
        created_at=callback.created_at,
        next_attempt_at=callback.next_attempt_at,
        finished_at=callback.finished_at,
    )


async def list_parked(request: web.Request) -> web.StreamResponse:
    """List parked callbacks, newest first."""
    require_all_counties(request, mark("callbacks belong to no county"))
    query = parse_query(request, ParkedQuery)
    parked = await parked_callbacks(context_of(request).db, limit=query.limit)
    return json_response(CallbackList(callbacks=[callback_out(row) for row in parked]))


async def retry_callback(request: web.Request) -> web.StreamResponse:
    """Make a parked callback due now; the worker attempts it at its next delivery run."""
    require_all_counties(request, mark("callbacks belong to no county"))
    context = context_of(request)
    callback_id = path_id(request, "callback_id", mark("callback"))
    callback = await retry_parked(context.db, callback_id, now=context.clock.now())
    return json_response(callback_out(callback), status=202)


ROUTES = [
    Route(
        "GET",
        PREFIX + "/callbacks/parked",
        list_parked,
        operation_id="listParkedCallbacks",
        summary="List parked status callbacks, newest first",
        tag="callbacks",
        scopes=READERS,
        query=ParkedQuery,
        response=CallbackList,
        errors=(403, 422),
    ),
    Route(
        "POST",
        PREFIX + "/callbacks/{callback_id}/retry",
        retry_callback,
        operation_id="retryCallback",
        summary="Retry a parked status callback",
        tag="callbacks",
        scopes=COMMAND_CENTRE,
        path_params=(id_param("callback_id", "Callback id, as the parked listing shows it."),),
        response=CallbackOut,
        status=202,
        errors=(403, 404, 409),
        description=(
            "The callback becomes due now and the worker attempts it once at its next delivery "
            "run; if that attempt fails, it is parked again."
        ),
    ),
]

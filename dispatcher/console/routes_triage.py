"""The triage queue: leads no routing step could place, routed by hand to a grid or inspector.

Only admin and command-centre users see the queue: a lead there has no place,
so it belongs to no county.
"""

import logging

from aiohttp import web
from pydantic import Field

from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError
from dispatcher.api.routing import Code, RequestModel, parse_body, path_id
from dispatcher.console.session import signed_in, user_of
from griddispatch.i18n import mark
from storage.leads.triage import HandRouting, route_by_hand, triage_queue

log = logging.getLogger(__name__)


class RouteRequest(RequestModel):
    """The destination of the lead: an inspector's staff code or a grid code."""

    inspector: Code | None = Field(default=None)
    grid: Code | None = Field(default=None)


def _check_role(request: web.Request) -> None:
    if user_of(request).county_code is not None:
        raise ApiError(
            403,
            "not_allowed",
            "the triage queue belongs to the command centre; county users cannot route leads",
        )


@signed_in
async def queue(request: web.Request) -> web.StreamResponse:
    """Return the leads waiting in the triage queue, oldest first."""
    _check_role(request)
    leads = await triage_queue(context_of(request).db)
    return web.json_response(
        [
            {
                "id": lead.id,
                "source": lead.source,
                "title": lead.title,
                "text": lead.text,
                "severity": lead.severity,
                "address": lead.address,
                "created_at": lead.created_at.isoformat(),
            }
            for lead in leads
        ]
    )


@signed_in
async def route(request: web.Request) -> web.StreamResponse:
    """Create the lead's task for the chosen inspector or grid."""
    _check_role(request)
    context = context_of(request)
    lead_id = path_id(request, "lead_id", mark("lead"))
    body = await parse_body(request, RouteRequest)
    task = await route_by_hand(
        context.db,
        lead_id,
        HandRouting(inspector_code=body.inspector, grid_code=body.grid),
        actor=f"console:{user_of(request).username}",
        escalation=context.escalation,
        now=context.clock.now(),
    )
    return web.json_response({"lead_id": lead_id, "task_id": task.id}, status=201)

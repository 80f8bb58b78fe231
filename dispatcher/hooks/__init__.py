"""HTTP hooks through which monitoring systems send risk leads.

`add_hook_routes` mounts them under `/api/v1/hooks/` on an aiohttp
application:

| route | what it takes |
| --- | --- |
| `POST /api/v1/hooks/leads` | a lead in griddispatch's JSON (`generic`) |
| `POST /api/v1/hooks/alertmanager` | Alertmanager and Grafana webhooks (`alertmanager`) |
| `POST /api/v1/hooks/events/v2/enqueue` | PagerDuty Events API v2 events (`events_v2`) |
| `POST /api/v1/hooks/lab-results` | lab and rapid-test results (`lab`) |

Each route authenticates its requests itself (`auth`: a bearer token with
scope `hook`, or an HMAC signature), so it is declared without scopes to
the API's auth middleware. For the same reason each hook takes the request
from the token's rate-limit bucket itself, after authentication.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from dispatcher.api.ratelimit import BUCKETS, TokenBuckets
from dispatcher.api.routing import ROUTE_TABLE, Route
from dispatcher.hooks import alertmanager, events_v2, generic, lab
from dispatcher.hooks.common import answer_errors
from dispatcher.hooks.context import HookContext
from storage.labs.limits import LimitTables

log = logging.getLogger(__name__)

HOOK_ERRORS = (400, 401, 403, 409, 413, 415, 422, 429, 503)
Receive = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class _Hook:
    path: str
    operation_id: str
    summary: str
    handler: Receive


def _hooks(context: HookContext, tables: LimitTables) -> list[_Hook]:
    async def leads(request: web.Request) -> web.StreamResponse:
        return await generic.receive_lead(request, context)

    async def alerts(request: web.Request) -> web.StreamResponse:
        return await alertmanager.receive_alerts(request, context)

    async def events(request: web.Request) -> web.StreamResponse:
        return await events_v2.enqueue_event(request, context)

    async def lab_results(request: web.Request) -> web.StreamResponse:
        return await lab.receive_lab_result(request, context, tables)

    return [
        _Hook(generic.PATH, "hookLead", "Send a risk lead", leads),
        _Hook(alertmanager.PATH, "hookAlertmanager", "Receive Alertmanager alerts", alerts),
        _Hook(events_v2.PATH, "hookEventsV2", "Receive an Events API v2 event", events),
        _Hook(lab.PATH, "hookLabResult", "Receive a lab result", lab_results),
    ]


def add_hook_routes(
    app: web.Application, context: HookContext, *, limits: LimitTables | None = None
) -> None:
    """Add the hook routes to `app`.

    `limits` defaults to the tables in `GRIDDISPATCH_LIMITS_DIR`, or the
    shipped ones. When `app` is the API's application (it has a route
    table), each route is declared there too, and the hooks share its
    rate-limit buckets; another application gets buckets of its own.
    """
    tables = limits or LimitTables.load(context.settings.limits_dir)
    if BUCKETS not in app:
        app[BUCKETS] = TokenBuckets()
    declarations = app.get(ROUTE_TABLE)
    hooks = _hooks(context, tables)
    for hook in hooks:
        handler = answer_errors(hook.handler)
        registered = app.router.add_post(hook.path, handler)
        if declarations is None:
            continue
        declarations.add(
            registered,
            Route(
                method="POST",
                path=hook.path,
                handler=handler,
                operation_id=hook.operation_id,
                summary=hook.summary,
                tag="hooks",
                description=(
                    "Authenticated by the hook itself: 'Authorization: Bearer <token>' with "
                    "scope hook, or X-GD-Timestamp and X-GD-Signature."
                ),
                status=202,
                max_body_bytes=context.settings.hook_max_body_bytes,
                errors=HOOK_ERRORS,
            ),
        )
    log.info("hook routes added routes=%d", len(hooks))

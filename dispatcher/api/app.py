"""Building the aiohttp application: its routes, middleware and state.

Middleware, outermost first: request id and latency, JSON errors, bearer
token and scope, rate limit, body size limit.
"""

import logging
import re
import time
import uuid
from collections.abc import Sequence

from aiohttp import web

from dispatcher.api import (
    routes_callbacks,
    routes_directives,
    routes_health,
    routes_plans,
    routes_registry,
    routes_stats,
    routes_tasks,
)
from dispatcher.api.auth import auth_middleware
from dispatcher.api.context import CONTEXT, ApiContext
from dispatcher.api.errors import REQUEST_ID, ApiError, Handler, error_middleware
from dispatcher.api.ratelimit import BUCKETS, TokenBuckets, rate_limit_middleware
from dispatcher.api.routes_health import OPERATIONS, Operations
from dispatcher.api.routes_registry import MAX_UPLOAD_BYTES
from dispatcher.api.routing import ROUTE_TABLE, Route, RouteTable

log = logging.getLogger(__name__)

ROUTES: list[Route] = [
    *routes_directives.ROUTES,
    *routes_tasks.ROUTES,
    *routes_registry.ROUTES,
    *routes_stats.ROUTES,
    *routes_plans.ROUTES,
    *routes_health.ROUTES,
    *routes_callbacks.ROUTES,
]
REQUEST_ID_HEADER = "X-Request-Id"
# A request id a client sends is kept if it looks like one; anything else is replaced.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _request_id(request: web.Request) -> str:
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    return sent if _CLIENT_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _route_label(request: web.Request) -> str:
    """Return the route template a request matched, so latency series stay few."""
    if request.match_info.http_exception is not None:
        return "unmatched"
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "-"


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id, echo it in X-Request-Id, and record the latency."""
    request[REQUEST_ID] = _request_id(request)
    started = time.perf_counter()
    response = await handler(request)
    elapsed = time.perf_counter() - started
    response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
    request.app[OPERATIONS].metrics.observe(
        request.method, _route_label(request), response.status, elapsed
    )
    log.debug(
        "request served request=%s method=%s route=%s status=%d ms=%.1f",
        request[REQUEST_ID],
        request.method,
        _route_label(request),
        response.status,
        elapsed * 1000,
    )
    return response


def _too_large(request: web.Request, route: Route, length: int | None) -> ApiError:
    if length is None:
        return ApiError(
            413,
            "payload_too_large",
            "request body is larger than the {limit} bytes {method} {path} accepts; "
            "send a smaller body",
            limit=route.max_body_bytes,
            method=request.method,
            path=route.path,
        )
    return ApiError(
        413,
        "payload_too_large",
        "request body of {length} bytes is larger than the {limit} bytes {method} {path} "
        "accepts; send a smaller body",
        length=length,
        limit=route.max_body_bytes,
        method=request.method,
        path=route.path,
    )


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hold each request body to its route's limit: 413 before reading when the size is known."""
    route = request.app[ROUTE_TABLE].declaration_for(request)
    if route is None:
        return await handler(request)
    length = request.content_length
    if length is not None and length > route.max_body_bytes:
        raise _too_large(request, route, length)
    try:
        return await handler(request.clone(client_max_size=route.max_body_bytes))
    except web.HTTPRequestEntityTooLarge:
        # A body without Content-Length (chunked) passed the limit while it was read.
        raise _too_large(request, route, None) from None


def create_app(context: ApiContext, *, extra_routes: Sequence[Route] = ()) -> web.Application:
    """Build the API application serving ROUTES and `extra_routes` under /api/v1.

    Other components add their endpoints through `extra_routes`, so that they
    get authentication, rate limits, body limits, JSON errors and a place in
    the OpenAPI document like the rest.
    """
    app = web.Application(
        middlewares=[
            request_middleware,
            error_middleware,
            auth_middleware,
            rate_limit_middleware,
            body_limit_middleware,
        ],
        # The largest body any route takes; each route's own limit is applied per request.
        client_max_size=MAX_UPLOAD_BYTES,
    )
    app[CONTEXT] = context
    app[BUCKETS] = TokenBuckets()
    table = RouteTable()
    app[ROUTE_TABLE] = table
    routes = [*ROUTES, *extra_routes]
    for route in routes:
        registered = app.router.add_route(
            route.method, route.path, route.handler, name=route.operation_id
        )
        table.add(registered, route)
    app[OPERATIONS] = Operations()
    log.debug("api application built routes=%d", len(routes))
    return app

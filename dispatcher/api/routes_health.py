"""Liveness, readiness, Prometheus metrics and the API documents; none needs a token."""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from nats.errors import Error as NatsError
from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.api.asyncapi import build_asyncapi
from dispatcher.api.context import context_of
from dispatcher.api.metrics import ApiMetrics, SourceStatus
from dispatcher.api.openapi import build_openapi
from dispatcher.api.routing import PREFIX, ROUTE_TABLE, ResponseModel, Route, json_response

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 2.0
# The Prometheus text exposition format 0.0.4, which prometheus_client.generate_latest writes.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Operations:
    """State of the operations routes, kept on the application."""

    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    readiness: SourceStatus = field(default_factory=lambda: SourceStatus("readiness"))
    openapi: dict[str, Any] | None = None
    asyncapi: dict[str, Any] | None = None
    asyncapi_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


OPERATIONS = web.AppKey("griddispatch_api_operations", Operations)


class Health(ResponseModel):
    """The process is alive."""

    status: str = Field(description="Always ok.")


class Check(ResponseModel):
    """The outcome of one readiness check."""

    ok: bool
    error: str | None = Field(description="Why the check failed; null when it passed.")


class Checks(ResponseModel):
    """Each dependency the API needs."""

    nats: Check = Field(description="JetStream responded to an account info request.")
    database: Check = Field(description="The database returned the result of SELECT 1.")


class Readiness(ResponseModel):
    """Whether the API can serve requests: ready, or not_ready with status 503."""

    status: str
    checks: Checks


async def healthz(request: web.Request) -> web.StreamResponse:
    """Respond with 200 while the process runs."""
    return json_response(Health(status="ok"))


async def _nats_error(request: web.Request) -> Exception | None:
    try:
        await asyncio.wait_for(context_of(request).js.account_info(), READY_TIMEOUT_S)
    except (NatsError, TimeoutError, OSError) as exc:
        return exc
    return None


async def _database_error(request: web.Request) -> Exception | None:
    try:
        await asyncio.wait_for(context_of(request).db.ping(), READY_TIMEOUT_S)
    except (SQLAlchemyError, TimeoutError, OSError) as exc:
        return exc
    return None


def _check(error: Exception | None) -> Check:
    return Check(ok=error is None, error=repr(error) if error is not None else None)


async def readyz(request: web.Request) -> web.StreamResponse:
    """Check that NATS and the database respond, and return 503 when either does not."""
    status = request.app[OPERATIONS].readiness
    nats_error = await _nats_error(request)
    database_error = await _database_error(request)
    nats_ok = status.note("nats", nats_error)
    database_ok = status.note("database", database_error)
    ready = nats_ok and database_ok
    body = Readiness(
        status="ready" if ready else "not_ready",
        checks=Checks(nats=_check(nats_error), database=_check(database_error)),
    )
    return json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    """Expose the metrics in Prometheus text format."""
    text = await request.app[OPERATIONS].metrics.render(context_of(request))
    return web.Response(body=text, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def openapi(request: web.Request) -> web.StreamResponse:
    """Serve the OpenAPI document of every declared route, built at the first request.

    Routes added after create_app (the hooks) are in it, because the router
    takes no routes once the application has started.
    """
    operations = request.app[OPERATIONS]
    if operations.openapi is None:
        operations.openapi = build_openapi(request.app[ROUTE_TABLE].declarations)
    return web.json_response(operations.openapi)


async def asyncapi(request: web.Request) -> web.StreamResponse:
    """Serve the AsyncAPI document of the NATS side, built at the first request."""
    operations = request.app[OPERATIONS]
    async with operations.asyncapi_lock:
        if operations.asyncapi is None:
            operations.asyncapi = await build_asyncapi(context_of(request))
    return web.json_response(operations.asyncapi)


ROUTES = [
    Route(
        "GET",
        PREFIX + "/healthz",
        healthz,
        operation_id="healthz",
        summary="Liveness: the process runs",
        tag="operations",
        response=Health,
    ),
    Route(
        "GET",
        PREFIX + "/readyz",
        readyz,
        operation_id="readyz",
        summary="Readiness: NATS and the database answer",
        tag="operations",
        response=Readiness,
        errors=(503,),
        description="503 with the failed check when JetStream or the database does not respond "
        f"within {READY_TIMEOUT_S:g} s.",
    ),
    Route(
        "GET",
        PREFIX + "/metrics",
        metrics,
        operation_id="metrics",
        summary="Prometheus metrics",
        tag="operations",
        response_media_type="text/plain",
        description="docs/api.md lists the series.",
    ),
    Route(
        "GET",
        PREFIX + "/openapi.json",
        openapi,
        operation_id="openapi",
        summary="This OpenAPI document",
        tag="operations",
    ),
    Route(
        "GET",
        PREFIX + "/asyncapi.json",
        asyncapi,
        operation_id="asyncapi",
        summary="AsyncAPI document of the NATS subjects",
        tag="operations",
    ),
]

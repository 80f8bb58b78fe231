"""Issuing and cancelling directives from the console, through the API's publish path."""

import logging
import uuid

from aiohttp import web
from nats.errors import Error as NatsError

from dispatcher.api.context import context_of
from dispatcher.api.routes_directives import CancelRequest, DirectiveRequest, check_target
from dispatcher.api.routing import PageQuery, parse_body, parse_query, path_text
from dispatcher.console.session import signed_in, user_of
from dispatcher.publish import publish_with_retry
from griddispatch import subjects
from griddispatch.errors import InfrastructureError
from griddispatch.i18n import mark
from storage.accounts import scope
from storage.directives.service import cancel_directive, directive_with_tasks
from storage.tasks.service import Actor

log = logging.getLogger(__name__)


@signed_in
async def issue(request: web.Request) -> web.StreamResponse:
    """Check the target (inside the user's county) and publish the directive."""
    context = context_of(request)
    user = user_of(request)
    # The issuer is always the signed-in user, whatever the form contains.
    body = (await parse_body(request, DirectiveRequest)).model_copy(update={"issued_by": None})
    message_id = body.message_id or f"console-{uuid.uuid4().hex}"
    message = body.to_message(message_id, issued_by=f"console:{user.username}")
    await check_target(context.db, message.target)
    await scope.check_target(context.db, message.target, user.county_code)
    try:
        ack = await publish_with_retry(context.js, subjects.DIRECTIVE_ISSUE, message_id, message)
    except NatsError as exc:
        raise InfrastructureError(
            "JetStream did not take directive {message_id!r} ({error!r}); send it again",
            message_id=message_id,
            error=exc,
        ) from exc
    log.info(
        "console directive published message=%s seq=%d user=%s", message_id, ack.seq, user.user_id
    )
    return web.json_response(
        {"message_id": message_id, "stream_sequence": ack.seq, "duplicate": bool(ack.duplicate)},
        status=202,
    )


@signed_in
async def list_recent(request: web.Request) -> web.StreamResponse:
    """Return a page of directives with a task inside the user's county, newest first."""
    query = parse_query(request, PageQuery)
    page = await scope.directives_in_area(
        context_of(request).db,
        user_of(request).county_code,
        limit=query.limit,
        offset=query.offset,
    )
    items = [
        {
            "message_id": directive.message_id,
            "title": directive.title,
            "priority": directive.priority,
            "target_kind": directive.target_kind,
            "target_code": directive.target_code,
            "issued_by": directive.issued_by,
            "created_at": directive.created_at.isoformat(),
        }
        for directive in page.directives
    ]
    return web.json_response({"items": items, "total": page.total})


@signed_in
async def show(request: web.Request) -> web.StreamResponse:
    """Return a directive's tasks with their states and routing."""
    db = context_of(request).db
    message_id = path_text(request, "message_id", mark("directive"))
    await scope.check_directive(db, message_id, user_of(request).county_code)
    directive, tasks = await directive_with_tasks(db, message_id)
    return web.json_response(
        {
            "message_id": directive.message_id,
            "title": directive.title,
            "tasks": [
                {
                    "id": task.id,
                    "state": task.state,
                    "routing": task.routing,
                    "inspector": inspector.code,
                    "inspector_name": inspector.name,
                }
                for task, inspector in tasks
            ],
        }
    )


@signed_in
async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel a directive's open tasks."""
    context = context_of(request)
    user = user_of(request)
    message_id = path_text(request, "message_id", mark("directive"))
    await scope.check_directive(context.db, message_id, user.county_code)
    reason = (await parse_body(request, CancelRequest)).reason if request.body_exists else None
    outcome = await cancel_directive(
        context.db,
        message_id,
        actor=Actor(label=f"console:{user.username}"),
        escalation=context.escalation,
        now=context.clock.now(),
        reason=reason,
    )
    log.info(
        "console directive cancelled message=%s tasks=%d user=%s",
        message_id,
        len(outcome.cancelled_task_ids),
        user.user_id,
    )
    return web.json_response(
        {
            "message_id": message_id,
            "cancelled_task_ids": outcome.cancelled_task_ids,
            "untouched_task_ids": outcome.untouched_task_ids,
        }
    )

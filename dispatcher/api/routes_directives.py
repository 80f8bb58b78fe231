"""Issuing, listing, showing and cancelling directives (指令).

A directive is published on `gd.directive.issue` like any other sender's, so
the dispatcher creates its tasks. The API responds with 202 once JetStream
has stored it, and the directive is addressed by its message id from then on.
"""

import logging
import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from aiohttp import web
from nats.errors import Error as NatsError
from nats.js.api import PubAck
from pydantic import Field

from dispatcher.api.auth import county_of, token_of
from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError
from dispatcher.api.routes_tasks import TaskSummary, inspector_ref, task_summary
from dispatcher.api.routing import (
    COMMAND_CENTRE,
    PREFIX,
    READERS,
    PageInfo,
    PageQuery,
    RequestModel,
    ResponseModel,
    Route,
    code_param,
    json_response,
    parse_body,
    parse_query,
    path_text,
)
from dispatcher.publish import publish_with_retry
from griddispatch import subjects
from griddispatch.errors import InfrastructureError, NotFoundError
from griddispatch.i18n import mark
from griddispatch.messages import Assignment, DirectiveMessage, Priority, Target
from storage.accounts import scope
from storage.db import Database
from storage.directives.models import Directive
from storage.directives.service import (
    cancel_directive,
    directive_with_tasks,
    resolve_target,
    target_is_registered,
)
from storage.tasks.service import Actor

log = logging.getLogger(__name__)

# Message ids the API takes fit in a URL path segment without escaping.
MessageId = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
]


class DirectiveRequest(DirectiveMessage):
    """A directive to issue; the fields are those of the `gd.directive.issue` message.

    Without a message_id, the API makes one. Sending the same message_id again
    creates nothing new.
    """

    # Optional here, unlike on NATS; the other fields follow DirectiveMessage.
    message_id: MessageId | None = None  # type: ignore[assignment]

    def to_message(self, message_id: str, issued_by: str) -> DirectiveMessage:
        """Return the message to publish, with its message id and issuer filled in."""
        values = self.model_dump(exclude={"message_id", "issued_by"})
        return DirectiveMessage(
            message_id=message_id, issued_by=self.issued_by or issued_by, **values
        )


class DirectiveAccepted(ResponseModel):
    """A directive JetStream has stored; the dispatcher creates its tasks shortly."""

    message_id: str
    stream_sequence: int = Field(description="Sequence of the message in stream GD_INBOUND.")
    duplicate: bool = Field(
        description="True when the same message id was sent in the last 10 minutes."
    )
    location: str = Field(description="Where the directive and its tasks can be read.")


class DirectiveOut(ResponseModel):
    """A directive as stored."""

    id: int
    message_id: str
    title: str
    body: str
    priority: Priority
    target: Target
    assignment: Assignment
    issued_by: str | None
    ack_within: str | None = Field(description="Acknowledge deadline as sent, e.g. 30m.")
    due_within: str | None = Field(description="Result deadline as sent, e.g. 3 working days.")
    created_at: datetime


class DirectiveDetail(DirectiveOut):
    """A directive with each of its tasks."""

    tasks: list[TaskSummary]


class DirectiveList(PageInfo):
    """A page of directives, newest first."""

    items: list[DirectiveOut]


class CancelRequest(RequestModel):
    """The reason for cancelling a directive, kept in the trail."""

    reason: Annotated[str, Field(max_length=500)] | None = None


class CancelResult(ResponseModel):
    """The outcome of cancelling a directive."""

    message_id: str
    directive_id: int
    cancelled_task_ids: list[int] = Field(description="Open tasks now cancelled.")
    untouched_task_ids: list[int] = Field(
        description="Tasks already submitted, closed or cancelled, left as they were."
    )


def _directive_out(directive: Directive) -> DirectiveOut:
    return DirectiveOut(
        id=directive.id,
        message_id=directive.message_id,
        title=directive.title,
        body=directive.body,
        priority=Priority(directive.priority),
        target=Target.model_validate(
            {"kind": directive.target_kind, "code": directive.target_code}
        ),
        assignment=Assignment(directive.assignment),
        issued_by=directive.issued_by,
        ack_within=directive.ack_within,
        due_within=directive.due_within,
        created_at=directive.created_at,
    )


def directive_location(message_id: str) -> str:
    """Return the path of a directive."""
    return f"{PREFIX}/directives/{quote(message_id, safe='')}"


async def check_target(db: Database, target: Target) -> None:
    """Raise 404 for a target code not in the registry, 422 for one that reaches no inspector."""
    try:
        async with db.reading() as session:
            await resolve_target(session, target)
    except NotFoundError as exc:
        if await target_is_registered(db, target):
            raise ApiError.from_error(
                exc, 422, "target_unassignable", field="target.code"
            ) from None
        raise ApiError.from_error(exc, 404, "target_not_found", field="target.code") from None


async def _publish(request: web.Request, message: DirectiveMessage) -> PubAck:
    """Publish a directive with its message id as Nats-Msg-Id."""
    try:
        ack = await publish_with_retry(
            context_of(request).js, subjects.DIRECTIVE_ISSUE, message.message_id, message
        )
    except NatsError as exc:
        raise InfrastructureError(
            "JetStream did not take directive {message_id!r} ({error!r}); "
            "send it again with the same message_id, which is safe",
            message_id=message.message_id,
            error=exc,
        ) from exc
    log.info(
        "directive published message=%s seq=%d duplicate=%s token=%s",
        message.message_id,
        ack.seq,
        bool(ack.duplicate),
        token_of(request).id,
    )
    return ack


async def issue_directive(request: web.Request) -> web.StreamResponse:
    """Check a directive's target against the registry, then publish it to JetStream."""
    body = await parse_body(request, DirectiveRequest)
    message_id = body.message_id or f"api-{uuid.uuid4().hex}"
    message = body.to_message(message_id, issued_by=f"api:{token_of(request).name}")
    await check_target(context_of(request).db, message.target)
    await scope.check_target(context_of(request).db, message.target, county_of(request))
    ack = await _publish(request, message)
    location = directive_location(message_id)
    accepted = DirectiveAccepted(
        message_id=message_id,
        stream_sequence=ack.seq,
        duplicate=bool(ack.duplicate),
        location=location,
    )
    return json_response(accepted, status=202, headers={"Location": location})


async def list_all(request: web.Request) -> web.StreamResponse:
    """List directives, newest first."""
    query = parse_query(request, PageQuery)
    page = await scope.directives_in_area(
        context_of(request).db, county_of(request), limit=query.limit, offset=query.offset
    )
    items = [_directive_out(directive) for directive in page.directives]
    return json_response(
        DirectiveList(items=items, total=page.total, limit=query.limit, offset=query.offset)
    )


async def show_directive(request: web.Request) -> web.StreamResponse:
    """Show a directive with each of its tasks and their states."""
    message_id = path_text(request, "message_id", mark("directive"))
    await scope.check_directive(context_of(request).db, message_id, county_of(request))
    directive, tasks = await directive_with_tasks(context_of(request).db, message_id)
    detail = DirectiveDetail(
        **_directive_out(directive).model_dump(),
        tasks=[task_summary(task, inspector_ref(inspector)) for task, inspector in tasks],
    )
    return json_response(detail)


async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel the open tasks of a directive."""
    context = context_of(request)
    message_id = path_text(request, "message_id", mark("directive"))
    await scope.check_directive(context.db, message_id, county_of(request))
    reason = (await parse_body(request, CancelRequest)).reason if request.body_exists else None
    outcome = await cancel_directive(
        context.db,
        message_id,
        actor=Actor(label=f"api:{token_of(request).name}"),
        escalation=context.escalation,
        now=context.clock.now(),
        reason=reason,
    )
    result = CancelResult(
        message_id=message_id,
        directive_id=outcome.directive_id,
        cancelled_task_ids=outcome.cancelled_task_ids,
        untouched_task_ids=outcome.untouched_task_ids,
    )
    return json_response(result)


MESSAGE_ID = code_param("message_id", "The directive's message id.")

ROUTES = [
    Route(
        "POST",
        PREFIX + "/directives",
        issue_directive,
        operation_id="issueDirective",
        summary="Issue a directive",
        tag="directives",
        scopes=COMMAND_CENTRE,
        body=DirectiveRequest,
        response=DirectiveAccepted,
        status=202,
        errors=(404, 422, 503),
        description=(
            "Checks the target against the registry (404 when its code is unknown, 422 when "
            "it reaches no inspector), then publishes the directive on gd.directive.issue with "
            "its message_id as Nats-Msg-Id. The dispatcher creates the tasks; read them at "
            "the Location. issued_by defaults to api:<token name>."
        ),
    ),
    Route(
        "GET",
        PREFIX + "/directives",
        list_all,
        operation_id="listDirectives",
        summary="List directives, newest first",
        tag="directives",
        scopes=READERS,
        query=PageQuery,
        response=DirectiveList,
        errors=(422,),
    ),
    Route(
        "GET",
        PREFIX + "/directives/{message_id}",
        show_directive,
        operation_id="showDirective",
        summary="Show a directive with its tasks",
        tag="directives",
        scopes=READERS,
        path_params=(MESSAGE_ID,),
        response=DirectiveDetail,
        errors=(404,),
        description="404 until the dispatcher has stored a directive published moments ago.",
    ),
    Route(
        "POST",
        PREFIX + "/directives/{message_id}/cancel",
        cancel,
        operation_id="cancelDirective",
        summary="Cancel a directive's open tasks",
        tag="directives",
        scopes=COMMAND_CENTRE,
        path_params=(MESSAGE_ID,),
        body=CancelRequest,
        body_required=False,
        response=CancelResult,
        errors=(404, 422),
        description=(
            "Cancels every task still new, acknowledged or declined, with a 'cancelled' trail "
            "entry, and edits the assignees' Telegram messages. Submitted, closed and cancelled "
            "tasks stay as they are, so a second cancel changes nothing. The body is optional."
        ),
    ),
]

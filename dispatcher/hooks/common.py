"""The steps every hook shares: read the body, authenticate, parse, publish, respond.

Every hook turns its payload into lead messages and publishes them on
`gd.lead.<source>` with a Nats-Msg-Id, so a lead that arrives over HTTP is
routed by the same dispatcher code as one published on NATS. Error responses
have the API's shape, `{"error": {"code", "message", "field"}}`.
"""

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pydantic
from aiohttp import web

from dispatcher.api.errors import (
    ApiError,
    error_response,
    project_error,
    response_locale,
    validation_error,
)
from dispatcher.api.ratelimit import BUCKETS, rate_limited
from dispatcher.api.routing import parse_json as decode_json
from dispatcher.api.routing import reject_nul
from dispatcher.hooks.auth import Caller, accept_signature, authenticate, release_signature
from dispatcher.hooks.context import HookContext
from dispatcher.hooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from dispatcher.publish import publish_with_retry
from griddispatch import subjects
from griddispatch.errors import GridDispatchError, InfrastructureError, ValidationError
from griddispatch.messages import LeadMessage, LeadUpdateMessage
from storage.callbacks.urls import check_callback_url, parse_allowlist

log = logging.getLogger(__name__)

HookHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=pydantic.BaseModel)
JSON_MEDIA_TYPE = "application/json"
READ_CHUNK_BYTES = 64 * 1024
CREDENTIAL_HEADERS = ("Authorization", SIGNATURE_HEADER, TIMESTAMP_HEADER)


def content_hash(data: Any, *, length: int = 40) -> str:
    """Return a hex digest of JSON data that does not depend on key order or spacing."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """Read the body, raising 413 once it passes `max_bytes` (before reading it all)."""
    too_large = ApiError(
        413,
        "payload_too_large",
        "request body is larger than this hook accepts ({max_bytes} bytes); send less per request",
        field="body",
        max_bytes=max_bytes,
    )
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(request: web.Request, body: bytes) -> Any:
    """Decode a JSON body; raise 415 for another content type and 400 for invalid JSON."""
    content_type = request.content_type
    if request.headers.get("Content-Type") and not (
        content_type == JSON_MEDIA_TYPE or content_type.endswith("+json")
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            "content type {content_type!r} is not accepted; send the body as application/json",
            content_type=content_type,
        )
    return decode_json(body, field="body")


def require_object(data: Any) -> dict[str, Any]:
    """Return `data` if it is a JSON object, else raise 422."""
    if not isinstance(data, dict):
        raise ApiError(
            422,
            "validation_failed",
            "request body must be a JSON object, got {type_name}",
            field="body",
            type_name=type(data).__name__,
        )
    return data


def validated(model: type[M], data: Any, *, prefix: str = "") -> M:
    """Validate decoded input against `model`; raise 422 naming each failed field."""
    reject_nul(data)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error(exc, prefix=(prefix,) if prefix else ()) from None


@dataclass(frozen=True)
class HookRequest:
    """A request that passed the size limit and authentication, with its decoded body."""

    caller: Caller
    body: bytes
    data: Any


async def receive(
    request: web.Request,
    context: HookContext,
    *,
    routing_key_field: str | None = None,
) -> HookRequest:
    """Read, authenticate, rate-limit and decode a hook request.

    The caller's token pays one request from its bucket, which its other API
    requests use too. A signed request pays from the bucket of the token
    whose HMAC secret signed it. An empty bucket raises 429 before the
    signature is stored, so the same signed request may be sent again later.
    With `routing_key_field`, a request without credentials in its headers
    may carry its token in that body field (PagerDuty's `routing_key`), so
    such a body is decoded before authentication.
    """
    body = await read_body(request, context.settings.hook_max_body_bytes)
    has_credentials = any(header in request.headers for header in CREDENTIAL_HEADERS)
    if routing_key_field is None or has_credentials:
        caller = await authenticate(request, context, body)
        check_rate(request, caller)
        return HookRequest(caller, body, parse_json(request, body))
    data = parse_json(request, body)
    routing_key = data.get(routing_key_field) if isinstance(data, dict) else None
    caller = await authenticate(
        request, context, body, routing_key=routing_key if isinstance(routing_key, str) else None
    )
    check_rate(request, caller)
    return HookRequest(caller, body, data)


def check_rate(request: web.Request, caller: Caller) -> None:
    """Take one request from the caller's token bucket; raise 429 with Retry-After when empty."""
    wait_s = request.app[BUCKETS].take(caller.token)
    if wait_s > 0:
        log.debug(
            "hook request rate limited token=%s path=%s wait_s=%.2f",
            caller.token.name,
            request.path,
            wait_s,
        )
        raise rate_limited(caller.token, wait_s)


def check_callback(context: HookContext, caller: Caller, url: str | None) -> None:
    """Raise 422 unless callbacks may go to `url` and the caller's token can sign them."""
    if url is None:
        return
    try:
        check_callback_url(url, parse_allowlist(context.settings.callback_allowlist))
    except ValidationError as exc:
        raise ApiError.from_error(exc, 422, "callback_not_allowed", field="callback_url") from None
    if not caller.token.hmac_secret:
        raise ApiError(
            422,
            "callback_not_allowed",
            "token {token!r} has no HMAC secret to sign callbacks with; "
            "create a token with an HMAC secret for this hook",
            field="callback_url",
            token=caller.token.name,
        )


async def publish_leads(
    context: HookContext, caller: Caller, messages: list[LeadMessage | LeadUpdateMessage]
) -> None:
    """Accept the caller's signature, then publish each message with its id as Nats-Msg-Id."""
    await accept_signature(context, caller)
    await publish_accepted(context, caller, messages)


async def publish_accepted(
    context: HookContext, caller: Caller, messages: list[LeadMessage | LeadUpdateMessage]
) -> None:
    """Publish the messages of a request whose signature is already in the replay cache.

    When a publish fails the signature is forgotten, so the sender may retry
    the same request; messages already published are de-duplicated by id.
    """
    try:
        for message in messages:
            await publish_with_retry(
                context.js, subjects.lead_subject(message.source), message.message_id, message
            )
    except InfrastructureError:
        await release_signature(context, caller)
        raise
    except Exception:
        await release_signature(context, caller)
        log.exception("hook publish failed token=%s", caller.token.name)
        raise InfrastructureError("JetStream did not take the lead; retry the request") from None
    for message in messages:
        log.info(
            "hook lead published token=%s source=%s message=%s action=%s",
            caller.token.name,
            message.source,
            message.message_id,
            message.action,
        )


def answer_errors(handler: HookHandler) -> HookHandler:
    """Wrap a hook handler so that every failure returns one JSON error response."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except pydantic.ValidationError as exc:
            error = validation_error(exc)
        except GridDispatchError as exc:
            error = project_error(exc)
        if error.status >= 500:
            log.warning(
                "hook failed path=%s status=%d code=%s message=%s",
                request.path,
                error.status,
                error.code,
                error.message,
            )
        return error_response(
            error.status,
            error.code,
            error.localized(response_locale(request)),
            field=error.field,
            headers=error.headers,
        )

    return wrapped


def accepted(payload: dict[str, Any], *, status: int = 202) -> web.Response:
    """Return the JSON response of an accepted hook request."""
    return web.json_response(payload, status=status)

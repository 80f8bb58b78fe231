"""JSON error responses and the middleware that turns every failure into one.

Every error has the form `{"error": {"code", "message", "field"}}`: `code` is
a stable string for programs, `message` names the field or value and what to
do, and `field` names the offending input (or is null). No traceback ever
reaches a client; server errors are logged with the request id instead.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pydantic
from aiohttp import web
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError

from dispatcher.api.context import CONTEXT
from griddispatch.errors import (
    ErrorList,
    GridDispatchError,
    IllegalTransitionError,
    InfrastructureError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from griddispatch.i18n import DEFAULT_LOCALE, locale_for

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID = web.RequestKey("griddispatch_request_id", str)


class ErrorDetail(BaseModel):
    """The failure of a request."""

    code: str = pydantic.Field(description="Stable machine-readable code, e.g. invalid_json.")
    message: str = pydantic.Field(description="What failed, on which value, and what to do.")
    field: str | None = pydantic.Field(
        default=None, description="The body field, query or path parameter at fault, if any."
    )


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(GridDispatchError):
    """Raised by handlers and middleware to respond with one JSON error.

    `message` is a template filled from `values`, as for every project error,
    and the response carries it in the language the request names.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        /,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> None:
        super().__init__(message, **values)
        self.status = status
        self.code = code
        self.message = str(self)
        self.field = field
        self.headers = dict(headers or {})

    @classmethod
    def from_error(
        cls,
        error: GridDispatchError,
        status: int,
        code: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> "ApiError":
        """Build the response error for a project error, keeping its template.

        `values`, when given, replace the error's values.
        """
        filled = error.values if values is None else values
        return cls(status, code, error.template, field=field, headers=headers, **filled)


class FieldsInvalid(ApiError):
    """A 422 listing every failed field of a request body, query or path."""

    def __init__(self, problems: list[GridDispatchError], field: str) -> None:
        self.problems = ErrorList(problems)
        super().__init__(422, "validation_failed", str(self.problems), field=field)

    def localized(self, locale: str) -> str:
        """Return the problems in `locale`, joined by the language's separator."""
        return self.problems.localized(locale)


def _deployment_locale(request: web.Request) -> str:
    context = request.config_dict.get(CONTEXT)
    return context.settings.locale if context is not None else DEFAULT_LOCALE


def response_locale(request: web.Request) -> str:
    """Pick the language of a response: English if Accept-Language starts with en.

    Without the header, the deployment's GRIDDISPATCH_LOCALE applies.
    """
    header = request.headers.get("Accept-Language", "").strip()
    if not header:
        return _deployment_locale(request)
    return locale_for(header.split(",", 1)[0].split(";", 1)[0].strip())


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """Build a JSON error response."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return web.json_response(
        body.model_dump(mode="json"), status=status, headers=dict(headers or {})
    )


def field_name(location: tuple[int | str, ...]) -> str:
    """Return a pydantic error location as a dotted field name, e.g. `target.code`."""
    return ".".join(str(part) for part in location) or "body"


def _problem(kind: str, name: str, text: str) -> GridDispatchError:
    if kind == "missing":
        return GridDispatchError("field {name!r} is missing", name=name)
    if kind == "extra_forbidden":
        return GridDispatchError("field {name!r} is not allowed here", name=name)
    return GridDispatchError("field {name!r} is invalid: {text}", name=name, text=text)


def validation_error(exc: pydantic.ValidationError, *, prefix: tuple[str, ...] = ()) -> ApiError:
    """Turn a pydantic validation error into a 422 naming every failed field."""
    names = [field_name((*prefix, *error["loc"])) for error in exc.errors()]
    problems = [
        _problem(error["type"], name, error["msg"])
        for error, name in zip(exc.errors(), names, strict=True)
    ]
    return FieldsInvalid(problems, names[0])


# Checked in order, so subclasses come before GridDispatchError.
_PROJECT_ERRORS: list[tuple[type[GridDispatchError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (ValidationError, 422, "invalid_value"),
    (IllegalTransitionError, 409, "illegal_transition"),
    (PermissionDeniedError, 403, "permission_denied"),
    (InfrastructureError, 503, "service_unavailable"),
]


def project_error(exc: GridDispatchError) -> ApiError:
    """Map a project exception to its HTTP status and code."""
    if isinstance(exc, ApiError):
        return exc
    for error_class, status, code in _PROJECT_ERRORS:
        if isinstance(exc, error_class):
            return ApiError.from_error(exc, status, code)
    return ApiError(500, "internal_error", "the request failed on the server")


def _http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    """Map an exception aiohttp raised itself (no route, wrong method, body too large)."""
    if exc.status == 404:
        return ApiError(
            404,
            "not_found",
            "no endpoint at {path}; the endpoints are listed in /api/v1/openapi.json",
            path=request.path,
        )
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return ApiError(
            405,
            "method_not_allowed",
            "method {method} is not allowed on {path}; allowed: {allowed}",
            headers={"Allow": allowed},
            method=request.method,
            path=request.path,
            allowed=allowed,
        )
    if exc.status == 413:
        return ApiError(
            413,
            "payload_too_large",
            "request body is larger than this endpoint accepts ({size} bytes); send a smaller body",
            size=request.client_max_size,
        )
    return ApiError(
        exc.status,
        f"http_{exc.status}",
        "the request failed with HTTP status {status}: {reason}",
        status=exc.status,
        reason=exc.reason,
    )


def _database_unavailable(exc: Exception) -> bool:
    """Return whether `exc` means the database cannot be used now, rather than a bug."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    return isinstance(exc, ConnectionError)


def _server_error(request: web.Request, exc: Exception) -> ApiError:
    request_id = request.get(REQUEST_ID, "-")
    if _database_unavailable(exc):
        log.warning(
            "database unavailable request=%s method=%s path=%s error=%r",
            request_id,
            request.method,
            request.path,
            exc,
        )
        return ApiError(503, "database_unavailable", "the database cannot be reached; retry later")
    log.error(
        "request failed request=%s method=%s path=%s",
        request_id,
        request.method,
        request.path,
        exc_info=exc,
    )
    return ApiError(
        500,
        "internal_error",
        "the request failed on the server; the server log has the details under request id "
        "{request_id}",
        request_id=request_id,
    )


def _log_if_server_side(request: web.Request, error: ApiError) -> None:
    if error.status >= 500 and error.code != "database_unavailable":
        log.error(
            "request failed request=%s method=%s path=%s status=%d code=%s message=%s",
            request.get(REQUEST_ID, "-"),
            request.method,
            request.path,
            error.status,
            error.code,
            error.message,
        )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Respond to every failure of the handlers below with a JSON error."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = _http_error(request, exc)
    except pydantic.ValidationError as exc:
        error = validation_error(exc)
    except GridDispatchError as exc:
        error = project_error(exc)
        _log_if_server_side(request, error)
    except Exception as exc:
        error = _server_error(request, exc)
    return error_response(
        error.status,
        error.code,
        error.localized(response_locale(request)),
        field=error.field,
        headers=error.headers,
    )

"""Route declarations and request parsing shared by every route module.

A `Route` declares its handler together with what the OpenAPI document
shows: the scopes it needs, the pydantic models of its body, query and
response, and its body size limit. The application, the auth middleware and
the OpenAPI document are all built from the same declarations.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import pydantic
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.api.errors import ApiError, validation_error
from storage.api_tokens.models import ApiScope

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)

PREFIX = "/api/v1"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Ids are 64-bit on PostgreSQL; a larger number in a path cannot name anything.
MAX_ID = 2**63 - 1
READERS = frozenset({ApiScope.COMMAND_CENTRE, ApiScope.READ_ONLY})
COMMAND_CENTRE = frozenset({ApiScope.COMMAND_CENTRE})
JSON_MEDIA_TYPE = "application/json"
MULTIPART_MEDIA_TYPE = "multipart/form-data"


class RequestModel(BaseModel):
    """Base of request bodies and query strings: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResponseModel(BaseModel):
    """Base of response bodies."""


# A registry code or staff code as a filter: no control characters, which no code contains.
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")]
MAX_PAGE_SIZE = 200
MAX_OFFSET = 1_000_000


class PageQuery(RequestModel):
    """Paging of a listing."""

    limit: int = Field(default=50, ge=1, le=MAX_PAGE_SIZE, description="Rows in the page.")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="Rows to skip.")


class PageInfo(ResponseModel):
    """The position of a page in the listing."""

    total: int = Field(description="Rows in all pages.")
    limit: int
    offset: int


@dataclass(frozen=True)
class PathParam:
    """A parameter in the path of a route, with its JSON schema."""

    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Route:
    """A route with everything the application and the OpenAPI document need to know."""

    method: str
    path: str  # the whole path, /api/v1 included, as aiohttp writes it
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    description: str = ""
    scopes: frozenset[ApiScope] = frozenset()
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    path_params: tuple[PathParam, ...] = ()
    response: type[BaseModel] | None = None
    status: int = 200
    response_media_type: str = JSON_MEDIA_TYPE
    request_media_type: str = JSON_MEDIA_TYPE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    errors: tuple[int, ...] = field(default_factory=tuple)

    @property
    def public(self) -> bool:
        """Whether the route responds without a token."""
        return not self.scopes


class RouteTable:
    """The declaration behind each route the application registered."""

    def __init__(self) -> None:
        self._declarations: dict[AbstractRoute, Route] = {}
        self._foreign: set[AbstractRoute] = set()

    def add(self, registered: AbstractRoute, declaration: Route) -> None:
        """Remember which declaration an aiohttp route came from."""
        self._declarations[registered] = declaration

    def add_foreign(self, registered: AbstractRoute) -> None:
        """Accept a route that authenticates on its own and stays out of the API document."""
        self._foreign.add(registered)

    def is_foreign(self, request: web.Request) -> bool:
        """Return whether the matched route was added with `add_foreign`."""
        return request.match_info.route in self._foreign

    def declaration_for(self, request: web.Request) -> Route | None:
        """Return the declaration of the route that matched, or None (no match, or foreign)."""
        return self._declarations.get(request.match_info.route)

    @property
    def declarations(self) -> list[Route]:
        """Every declaration, in the order the routes were added."""
        return list(self._declarations.values())


ROUTE_TABLE = web.AppKey("griddispatch_api_routes", RouteTable)


def id_param(name: str, description: str) -> PathParam:
    """Declare a numeric id in the path."""
    return PathParam(name, {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description)


def code_param(name: str, description: str) -> PathParam:
    """Declare a code or message id in the path."""
    return PathParam(name, {"type": "string", "minLength": 1, "maxLength": 100}, description)


def path_id(request: web.Request, name: str, record_kind: str) -> int:
    """Return a numeric id from the path; raises a 404 naming it when it cannot exist."""
    text = request.match_info[name]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise ApiError(
            404,
            "not_found",
            "{record_kind} {text!r} not found; ids are positive integers",
            record_kind=record_kind,
            text=text,
        )
    return int(text)


def path_text(request: web.Request, name: str, record_kind: str) -> str:
    """Return a code from the path; raises a 404 for one no record can have."""
    text = request.match_info[name]
    if not text or len(text) > 100 or _has_control_character(text):
        raise ApiError(
            404,
            "not_found",
            "{record_kind} {text!r} not found; check the value",
            record_kind=record_kind,
            text=text,
        )
    return text


def _has_control_character(text: str) -> bool:
    return any(ord(character) < 32 or ord(character) == 127 for character in text)


def _find_nul(value: Any, location: str) -> str | None:
    """Return where a NUL character sits in decoded JSON, which no database column takes."""
    if isinstance(value, str):
        return location if "\x00" in value else None
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = [(str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        return None
    for key, item in items:
        found = _find_nul(key, location) or _find_nul(item, f"{location}.{key}".lstrip("."))
        if found:
            return found
    return None


def reject_nul(data: Any) -> None:
    """Raise ApiError 422 naming the field of decoded input that contains a NUL character."""
    location = _find_nul(data, "")
    if location is not None:
        raise ApiError(
            422,
            "validation_failed",
            "field {name!r} contains a NUL character; remove it and send again",
            field=location or "body",
            name=location or "body",
        )


def _check_json_content_type(request: web.Request) -> None:
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


async def read_json(request: web.Request) -> Any:
    """Read the body as JSON; raises 415 for another content type and 400 for invalid JSON."""
    _check_json_content_type(request)
    return parse_json(await request.read())


def parse_json(raw: bytes, *, field: str | None = None) -> Any:
    """Decode a JSON body; raises ApiError 400 naming where it is not UTF-8 or not JSON."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            "request body is not UTF-8: {reason} at byte {byte}",
            reason=exc.reason,
            byte=exc.start,
        ) from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            "request body is not valid JSON: {reason} at line {line} column {column}",
            field=field,
            reason=exc.msg,
            line=exc.lineno,
            column=exc.colno,
        ) from None


def validate(model: type[M], data: Any) -> M:
    """Validate decoded input against `model`; raises a 422 naming each failed field."""
    reject_nul(data)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise validation_error(exc) from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Read and validate a JSON body."""
    return validate(model, await read_json(request))


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query string; a parameter given twice keeps its last value."""
    return validate(model, dict(request.query))


def json_response(
    body: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Serialise a response model as JSON."""
    return web.json_response(body.model_dump(mode="json"), status=status, headers=headers)

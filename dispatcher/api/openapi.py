"""The OpenAPI 3.1 document, built from the route declarations and their pydantic models.

Request and response schemas come from the same model classes the handlers
validate and serialise with, so the document cannot drift from the code.
"""

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from dispatcher.api.errors import ErrorBody
from dispatcher.api.routing import JSON_MEDIA_TYPE, MULTIPART_MEDIA_TYPE, Route

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")

ERROR_TEXTS = {
    400: "The body is not valid JSON.",
    401: "No token, a malformed Authorization header, or an unknown or revoked token.",
    403: "The token lacks the scope this endpoint needs.",
    404: "Not found.",
    409: "The change is not allowed in the current state.",
    413: "The body is larger than this endpoint accepts.",
    415: "The body has a content type this endpoint does not accept.",
    422: "A field, query or path parameter is invalid; `field` names it.",
    429: "The token's rate limit is used up; retry after Retry-After seconds.",
    503: "NATS or the database cannot be reached; retry later.",
}
DESCRIPTION = """\
The command centre's API of griddispatch: issue and cancel directives, read tasks with their
trail, results and photos, read and import the registry, and read the three rates.

Authenticate with `Authorization: Bearer <token>`; make a token with
`griddispatch tokens create NAME --scope command_centre`. Every error has the body
`{"error": {"code", "message", "field"}}`. Times are UTC in ISO 8601.
"""


def _openapi_path(path: str) -> str:
    """Return an aiohttp path template as OpenAPI writes it, without regular expressions."""
    return _PATH_PARAMETER.sub(r"{\1}", path)


def _models(routes: Sequence[Route]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for route in routes:
        candidates: list[tuple[type[BaseModel] | None, JsonSchemaMode]] = [
            (route.body, "validation"),
            (route.query, "validation"),
            (route.response, "serialization"),
        ]
        for model, mode in candidates:
            if model is not None and (model, mode) not in models:
                models.append((model, mode))
    return models


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Describe each field of a query model's schema as a query parameter."""
    required = set(schema.get("required", []))
    parameters = []
    for name, field_schema in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {key: value for key, value in field_schema.items() if key != "description"},
        }
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        parameters.append(parameter)
    return parameters


def _request_body(route: Route, reference: dict[str, Any]) -> dict[str, Any]:
    if route.request_media_type == MULTIPART_MEDIA_TYPE:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                "files": {
                    "type": "array",
                    "items": {"type": "string", "format": "binary"},
                    "description": "CSV or XLSX registry files.",
                }
            },
            "required": ["files"],
        }
        return {"required": True, "content": {MULTIPART_MEDIA_TYPE: {"schema": schema}}}
    return {"required": route.body_required, "content": {JSON_MEDIA_TYPE: {"schema": reference}}}


def _error_statuses(route: Route) -> list[int]:
    statuses = set(route.errors)
    if not route.public:
        statuses |= {401, 403, 429}
    if route.body is not None or route.request_media_type == MULTIPART_MEDIA_TYPE:
        statuses |= {413, 415}
    if route.body is not None:
        statuses |= {400, 422}
    if route.query is not None:
        statuses.add(422)
    return sorted(statuses)


def _responses(route: Route, reference: dict[str, Any] | None) -> dict[str, Any]:
    success: dict[str, Any] = {"description": route.summary}
    if reference is not None:
        success["content"] = {route.response_media_type: {"schema": reference}}
    elif route.response_media_type == "application/octet-stream":
        success["content"] = {"application/octet-stream": {"schema": {}}}
    elif route.response_media_type == JSON_MEDIA_TYPE:
        success["content"] = {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}}
    else:
        success["content"] = {route.response_media_type: {"schema": {"type": "string"}}}
    if route.status == 202:
        success["headers"] = {
            "Location": {
                "description": "Path of the accepted resource.",
                "schema": {"type": "string"},
            }
        }
    responses: dict[str, Any] = {str(route.status): success}
    error = {JSON_MEDIA_TYPE: {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorBody")}}}
    for status in _error_statuses(route):
        text = ERROR_TEXTS.get(status, HTTPStatus(status).phrase)
        responses[str(status)] = {"description": text, "content": error}
    if 429 in _error_statuses(route):
        responses["429"]["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        }
    return responses


def _scope_text(route: Route) -> str:
    if route.public:
        return "No token needed."
    scopes = " or ".join(sorted(scope.value for scope in route.scopes))
    return f"Needs a token with scope {scopes}."


def _operation(
    route: Route,
    references: dict[tuple[Any, str], dict[str, Any]],
    definitions: dict[str, Any],
) -> dict[str, Any]:
    parameters = [
        {
            "name": param.name,
            "in": "path",
            "required": True,
            "schema": param.schema,
            "description": param.description,
        }
        for param in route.path_params
    ]
    if route.query is not None:
        name = references[(route.query, "validation")]["$ref"].rsplit("/", 1)[-1]
        parameters.extend(_query_parameters(definitions[name]))
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": "\n\n".join(
            part for part in (route.description, _scope_text(route)) if part
        ),
        "tags": [route.tag],
        "parameters": parameters,
        "security": [] if route.public else [{"bearerAuth": []}],
    }
    if route.body is not None or route.request_media_type == MULTIPART_MEDIA_TYPE:
        body_reference = references.get((route.body, "validation"), {}) if route.body else {}
        operation["requestBody"] = _request_body(route, body_reference)
    response_reference = (
        references[(route.response, "serialization")] if route.response is not None else None
    )
    operation["responses"] = _responses(route, response_reference)
    return operation


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of `routes`."""
    model_refs, top = models_json_schema(_models(routes), ref_template=REF_TEMPLATE)
    definitions: dict[str, Any] = top.get("$defs", {})
    references: dict[tuple[Any, str], dict[str, Any]] = {
        (model, str(mode)): ref for (model, mode), ref in model_refs.items()
    }
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(_openapi_path(route.path), {})[route.method.lower()] = _operation(
            route, references, definitions
        )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "griddispatch API", "version": API_VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": definitions,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }

"""The OpenAPI and AsyncAPI documents, and the API fuzzed from its own OpenAPI document.

Schemathesis generates requests for every operation from the document, valid
ones and invalid ones, and sends them to the API on 127.0.0.1. None may get
a 5xx response, and every response must match the document.
"""

import asyncio
import json
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dispatcher.api.app import ROUTES
from storage.db import Database
from tests.api.support import Client
from tests.storage.support import import_small_registry

# Examples per operation and generation mode: the whole run took about 20 s on a 2-core machine.
MAX_EXAMPLES = 20
REQUEST_TIMEOUT_S = 30.0


def _references(document: Any) -> set[str]:
    if isinstance(document, dict):
        found = {document["$ref"]} if isinstance(document.get("$ref"), str) else set()
        for value in document.values():
            found |= _references(value)
        return found
    if isinstance(document, list):
        return set().union(*(_references(item) for item in document)) if document else set()
    return set()


def _resolves(document: dict[str, Any], reference: str) -> bool:
    node: Any = document
    for escaped in reference.removeprefix("#/").split("/"):
        part = escaped.replace("%20", " ")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


async def test_openapi_lists_every_route(api: Client) -> None:
    reply = await api.get("/openapi.json", token=None)

    assert reply.status == 200
    document = reply.data
    assert document["openapi"] == "3.1.0"
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.operation_id
        assert str(route.status) in operation["responses"]
    unresolved = [ref for ref in _references(document) if not _resolves(document, ref)]
    assert unresolved == []


async def test_openapi_schemas_come_from_the_models(api: Client) -> None:
    document = (await api.get("/openapi.json", token=None)).data
    schemas = document["components"]["schemas"]

    directive = schemas["DirectiveRequest"]
    assert "message_id" not in directive.get("required", [])
    assert {"target", "title"} <= set(directive["required"])
    issue = document["paths"]["/api/v1/directives"]["post"]
    assert issue["security"] == [{"bearerAuth": []}]
    assert {"400", "401", "403", "413", "422", "429"} <= set(issue["responses"])
    stats = document["paths"]["/api/v1/stats"]["get"]
    assert "Numerator" in stats["description"]
    assert "Denominator" in stats["description"]
    assert {parameter["name"] for parameter in stats["parameters"]} == {
        "division",
        "start",
        "end",
    }
    assert document["paths"]["/api/v1/healthz"]["get"]["security"] == []


async def test_asyncapi_describes_the_subjects(api: Client) -> None:
    reply = await api.get("/asyncapi.json", token=None)

    assert reply.status == 200
    document = reply.data
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {
        "gd.directive.issue",
        "gd.lead.*",
        "gd.notify.telegram.*",
        "gd.telegram.update.*",
        "gd.event.task.{kind}",
        "gd.deadletter.{original_subject}",
    } <= addresses
    payloads = {
        channel["address"]: document["components"]["messages"][
            next(iter(channel["messages"].values()))["$ref"].rsplit("/", 1)[-1].replace("%20", " ")
        ]["payload"]
        for channel in document["channels"].values()
    }
    assert payloads["gd.directive.issue"] == {"$ref": "#/components/schemas/DirectiveMessage"}
    assert payloads["gd.lead.*"] == {"$ref": "#/components/schemas/LeadMessage"}
    assert "EmptyPayload" not in json.dumps(document)
    unresolved = [ref for ref in _references(document) if not _resolves(document, ref)]
    assert unresolved == []


# Each response must be no server error and match the document: a documented status,
# content type and body schema.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _fuzz(root: str, token: str) -> list[int]:
    """Send generated requests for every operation and check each response.

    Returns the status of every response; a failed check raises schemathesis's
    report of it.
    """
    schema = schemathesis.openapi.from_url(f"{root}/api/v1/openapi.json")
    statuses: list[int] = []

    def send(case: Case[Any]) -> None:
        response = case.call(
            base_url=root, headers={"Authorization": f"Bearer {token}"}, timeout=REQUEST_TIMEOUT_S
        )
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the document has an unusable operation: {result}"
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )(given(case=operation.as_strategy(generation_mode=mode))(send))
            try:
                run()
            except Unsatisfiable:
                # An operation without parameters or body has no invalid request to make.
                assert mode is GenerationMode.NEGATIVE, operation.label
    return statuses


async def test_generated_requests_get_no_server_error(
    api: Client, db: Database, tmp_path: Path
) -> None:
    await import_small_registry(db, tmp_path)

    statuses = await asyncio.to_thread(_fuzz, api.root, api.tokens["centre"])

    assert len(statuses) > len(ROUTES) * MAX_EXAMPLES
    assert [status for status in statuses if status >= 500] == []
    assert {200, 404, 422} <= set(statuses)

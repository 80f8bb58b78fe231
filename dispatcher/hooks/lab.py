"""`POST /api/v1/hooks/lab-results`: one analyte measured in one sample by a lab.

The result is judged against the residue limits and the banned-substance
list and always stored as evidence (a lab sample). A banned substance
detected, or a value over its limit, also raises a lead about the sampled
subject with every figure in its text: 202 with the lead's message id. A
pass, or a result no limit covers, raises nothing: 201, or 200 when the same
result was stored before.
"""

from datetime import date
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.api.errors import ApiError
from dispatcher.hooks.auth import accept_signature
from dispatcher.hooks.common import (
    accepted,
    check_callback,
    content_hash,
    publish_accepted,
    receive,
    validated,
)
from dispatcher.hooks.context import HookContext
from griddispatch.errors import ValidationError
from griddispatch.messages import LeadMessage, LeadSubjectRef, Location
from griddispatch.workcalendar import CHINA
from storage.labs.limits import LimitTables, to_mg_per_kg
from storage.labs.service import FINDINGS, LabResult, assess, describe_finding, record_sample

PATH = "/api/v1/hooks/lab-results"
Text100 = Annotated[str, Field(min_length=1, max_length=100)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]


class LabSubmission(BaseModel):
    """A lab or rapid-test result for one analyte of one sample."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")] = "lab"
    sample_id: Text100
    lab: Text200
    method: Text200
    subject: LeadSubjectRef
    commodity: Text100
    analyte: Text100
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    unit: Annotated[str, Field(min_length=1, max_length=20)] = "mg/kg"
    sampled_on: date | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    location: Location | None = None
    callback_url: Annotated[str, Field(max_length=2000)] | None = None


def _lab_result(submission: LabSubmission, today: date) -> LabResult:
    try:
        value_mg_per_kg = to_mg_per_kg(submission.value, submission.unit)
    except ValidationError as exc:
        raise ApiError.from_error(exc, 422, "validation_failed", field="unit") from None
    return LabResult(
        source=submission.source,
        sample_id=submission.sample_id,
        lab=submission.lab,
        method=submission.method,
        subject=submission.subject,
        commodity=submission.commodity,
        analyte=submission.analyte,
        value=submission.value,
        unit=submission.unit,
        value_mg_per_kg=value_mg_per_kg,
        sampled_on=submission.sampled_on or today,
    )


def _message_id(result: LabResult) -> str:
    return f"lab-{content_hash([result.source, result.sample_id, result.analyte])}"


async def receive_lab_result(
    request: web.Request, context: HookContext, tables: LimitTables
) -> web.Response:
    """Judge a result, store it, and raise a lead when it is a finding."""
    hook_request = await receive(request, context)
    submission = validated(LabSubmission, hook_request.data)
    check_callback(context, hook_request.caller, submission.callback_url)
    now = context.clock.now()
    result = _lab_result(submission, now.astimezone(CHINA).date())
    assessment = assess(tables, result)
    message_id = _message_id(result)

    finding = assessment.verdict in FINDINGS
    await accept_signature(context, hook_request.caller)
    sample, created = await record_sample(
        context.db, result, assessment, lead_message_id=message_id, now=now
    )
    answer: dict[str, object] = {
        "sample": sample.id,
        "verdict": sample.verdict,
        "limit_mg_per_kg": sample.limit_mg_per_kg,
        "value_mg_per_kg": sample.value_mg_per_kg,
        "ratio": sample.ratio,
        "standard": sample.standard,
    }
    if not finding:
        return accepted({"status": "recorded", **answer}, status=201 if created else 200)

    text = describe_finding(result, assessment)
    lead = LeadMessage(
        message_id=message_id,
        source=result.source,
        dedup_key=f"{result.sample_id}:{result.analyte}"[:200],
        title=text.title,
        text=text.text,
        severity=text.severity,
        subject=submission.subject,
        address=submission.address,
        location=submission.location,
        callback_url=submission.callback_url,
        callback_token=hook_request.caller.token.name if submission.callback_url else None,
    )
    await publish_accepted(context, hook_request.caller, [lead])
    return accepted({"status": "accepted", "message_id": message_id, **answer})

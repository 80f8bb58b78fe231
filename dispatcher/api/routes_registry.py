"""The registry: divisions, inspectors, subjects, file imports and invite codes."""

import asyncio
import logging
import shutil
import tempfile
from datetime import datetime
from pathlib import Path, PurePath
from typing import IO, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import FileField
from pydantic import Field

from dispatcher.api.auth import county_of, require_all_counties
from dispatcher.api.context import context_of
from dispatcher.api.errors import ApiError, response_locale
from dispatcher.api.routing import (
    COMMAND_CENTRE,
    MULTIPART_MEDIA_TYPE,
    PREFIX,
    READERS,
    Code,
    PageInfo,
    PageQuery,
    RequestModel,
    ResponseModel,
    Route,
    code_param,
    json_response,
    parse_query,
    path_text,
)
from griddispatch.errors import ValidationError
from griddispatch.i18n import mark
from storage.accounts.scope import check_division, check_inspector
from storage.registry.models import Division, DivisionLevel, Inspector, Role, Subject
from storage.registry.queries import list_divisions, list_inspectors, list_subjects
from storage.registry.service import ImportReport, create_invite, import_files

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_FILES = 20
UPLOAD_FIELD = "files"
# Digits of a phone number shown in full at each end; the rest are masked.
PHONE_HEAD = 3
PHONE_TAIL = 4


class DivisionOut(ResponseModel):
    """A city, county, township or grid."""

    code: str
    name: str
    level: DivisionLevel
    parent_code: str | None


class DivisionList(ResponseModel):
    """Divisions by code."""

    items: list[DivisionOut]
    total: int


class DivisionQuery(RequestModel):
    """Filters of the division listing."""

    parent: Code | None = Field(default=None, description="Only the children of this division.")
    level: DivisionLevel | None = None


class InspectorOut(ResponseModel):
    """A person in the supervision chain."""

    id: int
    code: str = Field(description="Staff code (工号).")
    name: str
    phone: str | None = Field(description="Masked: only the first 3 and last 4 digits show.")
    role: Role
    division_code: str
    telegram_bound: bool = Field(description="True once the inspector has used an invite code.")
    reachable: bool = Field(description="False after the inspector blocked the bot.")


class InspectorList(PageInfo):
    """A page of inspectors by staff code."""

    items: list[InspectorOut]


class InspectorQuery(PageQuery):
    """Filters of the inspector listing."""

    division: Code | None = Field(default=None, description="Only those at or below it.")
    role: Role | None = None


class SubjectOut(ResponseModel):
    """A registered producer or business (生产经营主体)."""

    id: int
    credit_code: str | None = Field(description="Unified social credit code (统一社会信用代码).")
    other_id: str | None
    name: str
    industry: str
    grid_code: str
    inspector_id: int | None
    longitude: float | None = Field(description="WGS-84.")
    latitude: float | None = Field(description="WGS-84.")
    address: str | None
    registered: bool = Field(description="False for a subject known but not registered (未备案).")


class SubjectList(PageInfo):
    """A page of subjects by id."""

    items: list[SubjectOut]


class SubjectQuery(PageQuery):
    """Filters of the subject listing."""

    division: Code | None = Field(default=None, description="Only those in grids below it.")


class RowErrorOut(ResponseModel):
    """A rejected row, located as a spreadsheet counts lines (the header is line 1)."""

    file: str
    line: int
    reason: str = Field(description="Why the row was rejected, in the response's language.")


class FileReport(ResponseModel):
    """The outcome of importing one file."""

    file: str
    kind: str = Field(description="divisions, inspectors or subjects, from the header.")
    inserted: int
    updated: int
    unchanged: int
    errors: list[RowErrorOut]


class ImportResult(ResponseModel):
    """The outcome of an import, file by file, in the order the files were imported."""

    files: list[FileReport]
    rejected_rows: int


class InviteOut(ResponseModel):
    """A one-time code the inspector sends to the bot as /start CODE."""

    code: str
    inspector_code: str
    expires_at: datetime


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number but for its first 3 and last 4 digits; short numbers entirely."""
    if not phone:
        return phone
    if len(phone) <= PHONE_HEAD + PHONE_TAIL:
        return "*" * len(phone)
    hidden = len(phone) - PHONE_HEAD - PHONE_TAIL
    return phone[:PHONE_HEAD] + "*" * hidden + phone[-PHONE_TAIL:]


def _division_out(division: Division) -> DivisionOut:
    return DivisionOut(
        code=division.code,
        name=division.name,
        level=DivisionLevel(division.level),
        parent_code=division.parent_code,
    )


def _inspector_out(inspector: Inspector) -> InspectorOut:
    return InspectorOut(
        id=inspector.id,
        code=inspector.code,
        name=inspector.name,
        phone=mask_phone(inspector.phone),
        role=Role(inspector.role),
        division_code=inspector.division_code,
        telegram_bound=inspector.telegram_user_id is not None,
        reachable=inspector.reachable,
    )


def _subject_out(subject: Subject) -> SubjectOut:
    return SubjectOut(
        id=subject.id,
        credit_code=subject.credit_code,
        other_id=subject.other_id,
        name=subject.name,
        industry=subject.industry,
        grid_code=subject.grid_code,
        inspector_id=subject.inspector_id,
        longitude=subject.longitude,
        latitude=subject.latitude,
        address=subject.address,
        registered=subject.registered,
    )


async def _area_division(request: web.Request, division_code: str | None) -> str | None:
    """Return the division a listing is limited to: the one asked for, or the token's county.

    Raises NotFoundError when the division asked for lies outside the token's county.
    """
    county = county_of(request)
    if division_code is None:
        return county
    await check_division(context_of(request).db, division_code, county)
    return division_code


async def divisions(request: web.Request) -> web.StreamResponse:
    """List divisions by code. A county-limited token gets its county and the divisions below."""
    query = parse_query(request, DivisionQuery)
    if query.parent is not None:
        await check_division(context_of(request).db, query.parent, county_of(request))
    rows = await list_divisions(
        context_of(request).db,
        parent_code=query.parent,
        level=query.level.value if query.level else None,
        within_code=county_of(request),
    )
    return json_response(DivisionList(items=[_division_out(row) for row in rows], total=len(rows)))


async def inspectors(request: web.Request) -> web.StreamResponse:
    """List inspectors by staff code, phone numbers masked."""
    query = parse_query(request, InspectorQuery)
    page = await list_inspectors(
        context_of(request).db,
        division_code=await _area_division(request, query.division),
        role=query.role.value if query.role else None,
        limit=query.limit,
        offset=query.offset,
    )
    items = [_inspector_out(row) for row in page.items]
    return json_response(
        InspectorList(items=items, total=page.total, limit=query.limit, offset=query.offset)
    )


async def subjects(request: web.Request) -> web.StreamResponse:
    """List subjects by id."""
    query = parse_query(request, SubjectQuery)
    page = await list_subjects(
        context_of(request).db,
        division_code=await _area_division(request, query.division),
        limit=query.limit,
        offset=query.offset,
    )
    items = [_subject_out(row) for row in page.items]
    return json_response(
        SubjectList(items=items, total=page.total, limit=query.limit, offset=query.offset)
    )


def _upload_name(upload: FileField, index: int) -> str:
    """Return the base name of an uploaded file, or a stand-in for one sent without a name."""
    name = Path(upload.filename.replace("\\", "/")).name if upload.filename else ""
    return name or f"upload-{index}"


def _save(source: IO[bytes], target: Path) -> None:
    target.parent.mkdir(parents=True)
    with target.open("wb") as output:
        shutil.copyfileobj(source, output)


async def _uploaded_files(request: web.Request) -> list[FileField]:
    if request.content_type != MULTIPART_MEDIA_TYPE:
        raise ApiError(
            415,
            "unsupported_media_type",
            "content type {content_type!r} is not accepted; upload the files as {media_type}",
            content_type=request.content_type,
            media_type=MULTIPART_MEDIA_TYPE,
        )
    try:
        form = await request.post()
    except (HttpProcessingError, ValueError) as exc:
        raise ApiError(
            400,
            "invalid_multipart",
            "the multipart body cannot be read ({error}); send the files as {media_type} "
            "in form field {upload_field!r}",
            error=exc,
            media_type=MULTIPART_MEDIA_TYPE,
            upload_field=UPLOAD_FIELD,
        ) from None
    uploads = []
    for name, value in form.items():
        if not isinstance(value, FileField):
            raise ApiError(
                422, "validation_failed", "form field {name!r} is not a file", field=name, name=name
            )
        uploads.append(value)
    if not uploads:
        raise ApiError(
            422,
            "validation_failed",
            "no file uploaded; send CSV or XLSX files in form field {upload_field!r}",
            field=UPLOAD_FIELD,
            upload_field=UPLOAD_FIELD,
        )
    if len(uploads) > MAX_UPLOAD_FILES:
        raise ApiError(
            422,
            "validation_failed",
            "{count} files uploaded; send at most {max_files} at once",
            field=UPLOAD_FIELD,
            count=len(uploads),
            max_files=MAX_UPLOAD_FILES,
        )
    return uploads


def _file_report(report: ImportReport, names: dict[str, str], locale: str) -> FileReport:
    """Describe one file's import with the names the files were uploaded under.

    The reasons of rejected rows are in `locale`.
    """
    return FileReport(
        file=names.get(str(report.path), report.path.name),
        kind=report.kind,
        inserted=report.inserted,
        updated=report.updated,
        unchanged=report.unchanged,
        errors=[
            RowErrorOut(
                file=names.get(error.file, error.file),
                line=error.line,
                reason=error.problem.localized(locale),
            )
            for error in report.errors
        ],
    )


def _rename_in_message(message: str, names: dict[str, str]) -> str:
    for saved, uploaded in names.items():
        message = message.replace(saved, uploaded)
    return message


def _invalid_file(exc: ValidationError, names: dict[str, str]) -> ApiError:
    """Build the 422 for a file that cannot be imported, naming files as they were uploaded.

    Saved paths are replaced in each str or path value, and a path value becomes a str.
    Templates are literals, so they name no saved path.
    """
    values: dict[str, Any] = {
        key: _rename_in_message(str(value), names) if isinstance(value, str | PurePath) else value
        for key, value in exc.values.items()
    }
    return ApiError.from_error(exc, 422, "invalid_file", field=UPLOAD_FIELD, values=values)


async def import_registry(request: web.Request) -> web.StreamResponse:
    """Import uploaded registry files; rejected rows are reported by file and line."""
    require_all_counties(request, mark("a registry import can change every county"))
    uploads = await _uploaded_files(request)
    with tempfile.TemporaryDirectory(prefix="griddispatch-import-") as folder:
        names: dict[str, str] = {}
        paths = []
        for index, upload in enumerate(uploads):
            name = _upload_name(upload, index)
            # One folder per file, so two uploads with one name do not overwrite each other.
            path = Path(folder) / str(index) / name
            await asyncio.to_thread(_save, upload.file, path)
            names[str(path)] = name
            paths.append(path)
        try:
            reports = await import_files(context_of(request).db, paths)
        except ValidationError as exc:
            raise _invalid_file(exc, names) from None
    locale = response_locale(request)
    files = [_file_report(report, names, locale) for report in reports]
    rejected = sum(len(report.errors) for report in files)
    log.info("registry imported over the API files=%d rejected_rows=%d", len(files), rejected)
    return json_response(ImportResult(files=files, rejected_rows=rejected))


async def invite(request: web.Request) -> web.StreamResponse:
    """Create a one-time invite code for an inspector."""
    context = context_of(request)
    code = path_text(request, "code", mark("inspector"))
    await check_inspector(context.db, code, county_of(request))
    record = await create_invite(context.db, code, now=context.clock.now())
    out = InviteOut(code=record.code, inspector_code=code, expires_at=record.expires_at)
    return json_response(out, status=201)


ROUTES = [
    Route(
        "GET",
        PREFIX + "/divisions",
        divisions,
        operation_id="listDivisions",
        summary="List divisions",
        tag="registry",
        scopes=READERS,
        query=DivisionQuery,
        response=DivisionList,
        errors=(404, 422),
    ),
    Route(
        "GET",
        PREFIX + "/inspectors",
        inspectors,
        operation_id="listInspectors",
        summary="List inspectors, phone numbers masked",
        tag="registry",
        scopes=READERS,
        query=InspectorQuery,
        response=InspectorList,
        errors=(404, 422),
    ),
    Route(
        "GET",
        PREFIX + "/subjects",
        subjects,
        operation_id="listSubjects",
        summary="List subjects",
        tag="registry",
        scopes=READERS,
        query=SubjectQuery,
        response=SubjectList,
        errors=(404, 422),
    ),
    Route(
        "POST",
        PREFIX + "/registry/import",
        import_registry,
        operation_id="importRegistry",
        summary="Import registry files (CSV or XLSX)",
        tag="registry",
        scopes=COMMAND_CENTRE,
        request_media_type=MULTIPART_MEDIA_TYPE,
        max_body_bytes=MAX_UPLOAD_BYTES,
        response=ImportResult,
        errors=(400, 403, 415, 422),
        description=(
            "Upload divisions, inspectors and subjects files in form field 'files' (20 MB in "
            "all, at most 20 files). The kind of each file is recognised from its header. "
            "Divisions go in first, then inspectors, then subjects, each file in one "
            "transaction. Rejected rows are listed with the file and line; the other rows go "
            "in. A file whose type, encoding or header cannot be used returns 422 and nothing "
            "is imported."
        ),
    ),
    Route(
        "POST",
        PREFIX + "/inspectors/{code}/invites",
        invite,
        operation_id="createInvite",
        summary="Create an invite code for an inspector",
        tag="registry",
        scopes=COMMAND_CENTRE,
        path_params=(code_param("code", "Staff code of the inspector."),),
        response=InviteOut,
        status=201,
        errors=(404,),
        description="The inspector sends /start CODE to the bot within 14 days to bind Telegram.",
    ),
]
